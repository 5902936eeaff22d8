//! Waiting for a Knative Service to have no pods, by watching them through the Kubernetes API
//! (no polling): how the verifier knows a Knative cold start will really be cold.
//!
//! Not here: connecting (`knative::cluster::connect`, shared with cluster import) or timing
//! (the caller bounds the wait with `tokio::time::timeout`).

use crate::knative::cluster::error::classify;
use crate::knative::cluster::{ApiAction, ClusterOrigin, ImportError};
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::Api;
use kube::runtime::watcher;
use std::collections::BTreeSet;

/// Why the wait ended without the pods gone.
#[derive(Debug, thiserror::Error)]
pub enum PodWatchError {
    /// The API refused or failed the list or the watch (with what to do about it).
    #[error(transparent)]
    Api(#[from] ImportError),
    #[error(
        "the watch of pods labelled {selector} in namespace \"{namespace}\" ended before they were gone"
    )]
    Ended { namespace: String, selector: String },
}

/// Waits until no pod matching the label `selector` in `namespace` is running (e.g.
/// `serving.knative.dev/service=hello` for every revision of a Service): every such pod is gone
/// or has finished (Succeeded or Failed). A terminating pod still counts. Returns at once when
/// there are none. `origin` names the cluster in errors.
pub async fn wait_for_zero_pods(
    client: Client,
    origin: &ClusterOrigin,
    namespace: &str,
    selector: &str,
) -> Result<(), PodWatchError> {
    let pods: Api<Pod> = Api::namespaced(client, namespace);
    let mut config = watcher::Config::default().labels(selector);
    // A quiet watch must end on the server's side before the client's read timeout would take
    // it for a silent server.
    if let Some(seconds) = origin.watch_timeout_secs() {
        config = config.timeout(seconds);
    }
    let list_action = ApiAction {
        verb: "list",
        resource: "pods",
        namespace: Some(namespace.to_string()),
    };
    let watch_action = ApiAction {
        verb: "watch",
        resource: "pods",
        namespace: Some(namespace.to_string()),
    };
    let mut events = Box::pin(watcher(pods, config));
    let mut running: BTreeSet<String> = BTreeSet::new();
    // Objects of a (re)list arrive between Init and InitDone; only then is the set complete.
    let mut listing: Option<BTreeSet<String>> = None;
    loop {
        let event = events.try_next().await.map_err(|error| match error {
            watcher::Error::InitialListFailed(error) => {
                PodWatchError::from(classify(error, &list_action, origin, None))
            }
            watcher::Error::WatchStartFailed(error) | watcher::Error::WatchFailed(error) => {
                PodWatchError::from(classify(error, &watch_action, origin, None))
            }
            watcher::Error::WatchError(status) => PodWatchError::from(ImportError::Api {
                origin: Box::new(origin.clone()),
                action: watch_action.clone(),
                code: status.code,
                message: origin.redactor.redact(&status.message).into_owned(),
            }),
            watcher::Error::NoResourceVersion => PodWatchError::from(ImportError::Api {
                origin: Box::new(origin.clone()),
                action: list_action.clone(),
                code: 0,
                message: "the pod list carried no resourceVersion to watch from".to_string(),
            }),
        })?;
        let Some(event) = event else {
            return Err(PodWatchError::Ended {
                namespace: namespace.to_string(),
                selector: selector.to_string(),
            });
        };
        match event {
            watcher::Event::Init => listing = Some(BTreeSet::new()),
            watcher::Event::InitApply(pod) => {
                if let (Some(listed), Some(name)) = (listing.as_mut(), counted_pod_name(&pod)) {
                    listed.insert(name);
                }
            }
            watcher::Event::InitDone => {
                running = listing.take().unwrap_or_default();
                if running.is_empty() {
                    return Ok(());
                }
            }
            watcher::Event::Apply(pod) => {
                let name = pod.metadata.name.clone().unwrap_or_default();
                if counted_pod_name(&pod).is_some() {
                    running.insert(name);
                } else {
                    running.remove(&name);
                }
                if running.is_empty() {
                    return Ok(());
                }
            }
            watcher::Event::Delete(pod) => {
                running.remove(&pod.metadata.name.clone().unwrap_or_default());
                if running.is_empty() {
                    return Ok(());
                }
            }
        }
    }
}

/// The pod's name when it still counts as running (anything but finished).
fn counted_pod_name(pod: &Pod) -> Option<String> {
    let phase = pod
        .status
        .as_ref()
        .and_then(|status| status.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return None;
    }
    pod.metadata.name.clone()
}
