//! Everything that can go wrong reading a cluster, each with what to do about it and which
//! cluster said it, and the translation of kube's errors into these.

use super::SERVICES_RESOURCE;
use crate::redact::Redactor;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Where the client points, for messages that tell the user which cluster said what. The
/// default is an unknown origin (a bare `Client`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterOrigin {
    /// API server URL, e.g. `https://127.0.0.1:6443`; empty when unknown (a bare `Client`).
    pub server_url: String,
    /// Kubeconfig context name; `None` for in-cluster or hand-built configuration.
    pub context: Option<String>,
    /// The client's read timeout (`--request-timeout`); `None` when it has none.
    pub request_timeout: Option<Duration>,
    /// The credentials to cut out of anything the server says (see `connect`).
    pub redactor: Redactor,
}

impl ClusterOrigin {
    /// `timeoutSeconds` for a watch on this client: shorter than the read timeout, so that a
    /// quiet watch is ended by the server (and started again) before the client's timeout
    /// takes it for a silent server. `None` when the client has no read timeout.
    pub fn watch_timeout_secs(&self) -> Option<u32> {
        let seconds = u32::try_from(self.request_timeout?.as_secs()).unwrap_or(u32::MAX);
        Some(seconds.saturating_sub((seconds / 4).max(1)).clamp(1, 290))
    }
}

impl fmt::Display for ClusterOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let server = if self.server_url.is_empty() {
            "the client's API server"
        } else {
            self.server_url.as_str()
        };
        match &self.context {
            Some(context) => write!(f, "{server} (context \"{context}\")"),
            None => write!(f, "{server}"),
        }
    }
}

/// One API call, named as RBAC names it: `list services.serving.knative.dev in namespace "x"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAction {
    pub verb: &'static str,
    pub resource: &'static str,
    /// `None` for a cluster-wide call.
    pub namespace: Option<String>,
}

impl fmt::Display for ApiAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(
                f,
                "{} {} in namespace \"{}\"",
                self.verb, self.resource, namespace
            ),
            None => write!(f, "{} {} in all namespaces", self.verb, self.resource),
        }
    }
}

/// Everything that can go wrong, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "could not load the kubeconfig{}: {source}\n  hint: point --kubeconfig or KUBECONFIG at a valid file, or pick a context that exists with --context",
        path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default()
    )]
    Kubeconfig {
        path: Option<PathBuf>,
        #[source]
        source: Box<kube::config::KubeconfigError>,
    },
    #[error(
        "no Kubernetes configuration found: {kubeconfig}; and not running inside a cluster ({in_cluster})\n  hint: set KUBECONFIG or --kubeconfig to a kubeconfig file"
    )]
    NoConfiguration {
        kubeconfig: String,
        in_cluster: String,
    },
    #[error("could not build a Kubernetes client for {origin}: {source}")]
    Client {
        origin: Box<ClusterOrigin>,
        #[source]
        source: Box<kube::Error>,
    },
    #[error(
        "the Kubernetes API server at {origin} gave no answer within {} (--request-timeout)\n  hint: check that the address is the API server's and that it is healthy (`kubectl cluster-info` uses the same settings)",
        humantime::format_duration(*timeout)
    )]
    NoAnswer {
        origin: Box<ClusterOrigin>,
        timeout: Duration,
    },
    #[error(
        "cannot reach the Kubernetes API server at {origin}: {cause}\n  hint: check that the cluster is running and that this context is the right one (`kubectl cluster-info` uses the same settings)"
    )]
    Unreachable {
        origin: Box<ClusterOrigin>,
        /// The whole chain of causes ("connection refused" sits several levels down).
        cause: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error(
        "the API server at {origin} rejected the credentials (401 Unauthorized) while trying to {action}: {message}\n  hint: log in again or refresh the token of this kubeconfig user"
    )]
    Unauthorized {
        origin: Box<ClusterOrigin>,
        action: ApiAction,
        message: String,
    },
    #[error(
        "forbidden: cannot {action} on {origin}: {message}\n  hint: ask for a Role (or ClusterRole for -A) granting `{}` on {}; docs/import.md lists the minimal rules",
        action.verb, action.resource
    )]
    Forbidden {
        origin: Box<ClusterOrigin>,
        action: ApiAction,
        message: String,
    },
    #[error(
        "serving.knative.dev/v1 is not served by the cluster at {origin}: Knative Serving is not installed (the services.serving.knative.dev CRD is absent)\n  hint: install Knative Serving there, or choose the cluster that runs it with --context"
    )]
    KnativeNotInstalled { origin: Box<ClusterOrigin> },
    #[error(
        "Knative Service \"{name}\" not found in namespace \"{namespace}\" on {origin}\n  hint: `kubectl get ksvc -n {}` lists the services there; choose another namespace with -n",
        crate::shell::quote(.namespace)
    )]
    ServiceNotFound {
        origin: Box<ClusterOrigin>,
        namespace: String,
        name: String,
    },
    #[error("{0}")]
    InvalidQuery(String),
    #[error("the API server at {origin} answered {code} to {action}: {message}")]
    Api {
        origin: Box<ClusterOrigin>,
        action: ApiAction,
        code: u16,
        message: String,
    },
    #[error("unexpected answer from {origin} to {action}: {cause}")]
    Response {
        origin: Box<ClusterOrigin>,
        action: ApiAction,
        /// kube's error and its causes, credentials cut out (a decode error quotes the body).
        cause: String,
    },
    #[error("the API server returned a Knative Service without {0}")]
    MalformedService(&'static str),
    #[error("could not render {kind} {namespace}/{name} as YAML: {source}")]
    Render {
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("refusing to export {namespace}/{name}: not a safe file name")]
    UnsafeExportName { namespace: String, name: String },
    #[error("could not write {}: {source}", path.display())]
    Export {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Turns a kube error into one that says what to do. `wanted_name` is set for a get by name, so
/// that a 404 naming that object means "no such service" while any other 404 means the API
/// itself is missing (an absent CRD gives "the server could not find the requested resource"
/// with no object name, or a plain-text "404 page not found").
pub(crate) fn classify(
    error: kube::Error,
    action: &ApiAction,
    origin: &ClusterOrigin,
    wanted_name: Option<&str>,
) -> ImportError {
    match error {
        kube::Error::Api(status) => {
            // The message is the server's (or, for a body that is not a Status, the whole body):
            // a server that echoes the request's headers would put the token in it.
            let message = origin.redactor.redact(&status.message).into_owned();
            match status.code {
                401 => ImportError::Unauthorized {
                    origin: Box::new(origin.clone()),
                    action: action.clone(),
                    message,
                },
                403 => ImportError::Forbidden {
                    origin: Box::new(origin.clone()),
                    action: action.clone(),
                    message,
                },
                404 if action.resource == SERVICES_RESOURCE => {
                    let names_object = status
                        .details
                        .as_ref()
                        .is_some_and(|details| !details.name.is_empty());
                    match (wanted_name, names_object) {
                        (Some(name), true) => ImportError::ServiceNotFound {
                            origin: Box::new(origin.clone()),
                            namespace: action.namespace.clone().unwrap_or_default(),
                            name: name.to_string(),
                        },
                        _ => ImportError::KnativeNotInstalled {
                            origin: Box::new(origin.clone()),
                        },
                    }
                }
                code => ImportError::Api {
                    origin: Box::new(origin.clone()),
                    action: action.clone(),
                    code,
                    message,
                },
            }
        }
        // Connection refused, DNS, TLS handshake, timeouts: the server was never heard from.
        error @ (kube::Error::HyperError(_) | kube::Error::Service(_)) => {
            match origin.request_timeout.filter(|_| timed_out(&error)) {
                Some(timeout) => ImportError::NoAnswer {
                    origin: Box::new(origin.clone()),
                    timeout,
                },
                None => ImportError::Unreachable {
                    origin: Box::new(origin.clone()),
                    cause: origin.redactor.redact(&cause_chain(&error)).into_owned(),
                    source: Box::new(error),
                },
            }
        }
        other => ImportError::response(origin, action, &other),
    }
}

impl ImportError {
    /// An answer that could not be used, with the server's words (credentials cut out).
    pub(crate) fn response(
        origin: &ClusterOrigin,
        action: &ApiAction,
        error: &kube::Error,
    ) -> ImportError {
        ImportError::Response {
            origin: Box::new(origin.clone()),
            action: action.clone(),
            cause: origin.redactor.redact(&cause_chain(error)).into_owned(),
        }
    }
}

/// True when a cause of `error` is an I/O timeout (what kube's timeout connector returns).
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(inner) = cause {
        if inner
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = inner.source();
    }
    false
}

/// "outer: inner: innermost", skipping a cause already contained in the text before it.
fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        cause = inner.source();
    }
    text
}
