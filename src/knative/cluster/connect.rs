//! Connecting to a cluster the way kubectl does, with timeouts so that a server that accepts a
//! connection and then says nothing cannot hold the tool, and remembering where the client
//! points (and which credentials a hostile server could echo back) so that errors can name the
//! server and context without showing the token.

use super::error::{ClusterOrigin, ImportError};
use crate::redact::Redactor;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::path::PathBuf;
use std::time::Duration;

/// How long one request may wait for its answer when `--request-timeout` does not say. kube's
/// own default is no read timeout at all (a list on a silent server waits forever).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach the cluster, as kubectl finds it: a kubeconfig file (default: `KUBECONFIG`, which
/// may list several files, else `~/.kube/config`) and a context (default: its current-context).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeSettings {
    pub context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    /// Longest silence while waiting for an answer (kubectl's `--request-timeout`); `None`:
    /// [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Option<Duration>,
}

/// A ready client plus where it points.
#[derive(Clone)]
pub struct ClusterConnection {
    pub client: Client,
    pub origin: ClusterOrigin,
}

/// Builds a client the way kubectl finds its settings: `--kubeconfig`, else `KUBECONFIG` (a list
/// of files, merged), else `~/.kube/config`; `--context` else the current-context; and, with
/// none of these present, the in-cluster service account.
pub async fn connect(settings: &KubeSettings) -> Result<ClusterConnection, ImportError> {
    crate::crypto::install_crypto_provider();
    let options = KubeConfigOptions {
        context: settings.context.clone(),
        cluster: None,
        user: None,
    };
    let kubeconfig = match &settings.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).map_err(|source| ImportError::Kubeconfig {
            path: Some(path.clone()),
            source: Box::new(source),
        })?,
        None => match Kubeconfig::read() {
            Ok(kubeconfig) => kubeconfig,
            Err(source) => {
                let may_use_in_cluster =
                    settings.context.is_none() && std::env::var_os("KUBECONFIG").is_none();
                if !may_use_in_cluster {
                    return Err(ImportError::Kubeconfig {
                        path: None,
                        source: Box::new(source),
                    });
                }
                return match Config::incluster() {
                    Ok(mut config) => {
                        with_timeouts(&mut config, settings);
                        client_for(config, None)
                    }
                    Err(in_cluster) => Err(ImportError::NoConfiguration {
                        kubeconfig: source.to_string(),
                        in_cluster: in_cluster.to_string(),
                    }),
                };
            }
        },
    };
    let context = settings
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone());
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|source| ImportError::Kubeconfig {
            path: settings.kubeconfig.clone(),
            source: Box::new(source),
        })?;
    with_timeouts(&mut config, settings);
    client_for(config, context)
}

/// Connect, read and write timeouts of `settings.request_timeout`. The read timeout counts from
/// the last write (`reset_reader_on_write`), so a connection idle in the pool does not eat
/// into it; watches are kept shorter than it by `ClusterOrigin::watch_timeout_secs`.
fn with_timeouts(config: &mut Config, settings: &KubeSettings) {
    let timeout = settings.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT);
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    config.write_timeout = Some(timeout);
    config.reset_reader_on_write = true;
}

/// Builds the client for an already resolved configuration (also what tests use with
/// `Config::new(url)`).
pub fn client_for(
    config: Config,
    context: Option<String>,
) -> Result<ClusterConnection, ImportError> {
    crate::crypto::install_crypto_provider();
    let origin = ClusterOrigin {
        server_url: config.cluster_url.to_string(),
        context,
        request_timeout: config.read_timeout,
        redactor: credentials_of(&config),
    };
    let client = Client::try_from(config).map_err(|source| ImportError::Client {
        origin: Box::new(origin.clone()),
        source: Box::new(source),
    })?;
    Ok(ClusterConnection { client, origin })
}

/// The static credentials of the configuration, which a hostile server could echo into an error
/// body: the bearer token (inline or from its file) and a basic-auth password, also as the
/// base64 pair of the `Authorization` header. kube keeps them
/// in `secrecy` strings; its own serializer writes them out, which is how they are read here.
/// A token an `exec` plugin fetches later is not known.
fn credentials_of(config: &Config) -> Redactor {
    let auth = serde_json::to_value(&config.auth_info).unwrap_or_default();
    let mut secrets: Vec<String> = ["token", "password"]
        .iter()
        .filter_map(|key| auth.get(*key).and_then(|v| v.as_str()).map(str::to_string))
        .collect();
    // kube sends basic auth as `Authorization: Basic base64(user:password)`.
    if let (Some(user), Some(password)) = (
        auth.get("username").and_then(|v| v.as_str()),
        auth.get("password").and_then(|v| v.as_str()),
    ) {
        secrets.push(crate::redact::basic_auth_credentials(user, password));
    }
    if let Some(file) = &config.auth_info.token_file
        && let Ok(token) = std::fs::read_to_string(file)
    {
        secrets.push(token.trim().to_string());
    }
    Redactor::new(secrets.iter().map(String::as_str))
}
