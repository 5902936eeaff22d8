//! Connecting to a cluster the way kubectl does, and remembering where the client points so
//! that errors can name the server and context.

use super::error::{ClusterOrigin, ImportError};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::path::PathBuf;

/// How to reach the cluster, as kubectl finds it: a kubeconfig file (default: `KUBECONFIG`, which
/// may list several files, else `~/.kube/config`) and a context (default: its current-context).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeSettings {
    pub context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
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
                    Ok(config) => client_for(config, None),
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
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|source| ImportError::Kubeconfig {
            path: settings.kubeconfig.clone(),
            source: Box::new(source),
        })?;
    client_for(config, context)
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
    };
    let client = Client::try_from(config).map_err(|source| ImportError::Client {
        origin: Box::new(origin.clone()),
        source: Box::new(source),
    })?;
    Ok(ClusterConnection { client, origin })
}
