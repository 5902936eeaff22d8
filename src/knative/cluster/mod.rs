//! Cluster import: read Knative Services straight from a Kubernetes cluster and hand them back as
//! cleaned Knative YAML text, one document set per Service.
//!
//! What it does, one concern per module: [`connect`] the way kubectl does (kubeconfig,
//! `KUBECONFIG`, `--context`, the context's namespace, in-cluster configuration as the last
//! resort); [`query`] lists `serving.knative.dev/v1` Services page by page or gets them by name;
//! [`references`] reads the ConfigMaps they reference and **only the key names** of the Secrets
//! they reference; [`clean`] strips what the cluster added (status, server metadata, webhook
//! annotations, defaulted noise that `kn service export` also drops); [`manifest`] renders
//! deterministic YAML (sorted keys); [`export`] writes the same text to
//! `DIR/<namespace>/<name>.yaml`. [`error`] turns every kube error into one that says what to do.
//!
//! What it is not: a converter. The YAML it returns goes through exactly the same loader as files,
//! so a Service converted from the cluster and from its exported YAML gives the same job by
//! construction. It never writes to the cluster, and a Secret value never leaves
//! `references::read_secret_shape`: it is not returned, printed, logged or written. The pod
//! watch the verifier uses lives with the verifier (`verify::pods`).

pub mod clean;
pub mod connect;
pub mod error;
pub mod export;
pub mod manifest;
pub mod query;
pub mod references;

pub use clean::clean_service;
pub use connect::{ClusterConnection, KubeSettings, client_for, connect};
pub use error::{ApiAction, ClusterOrigin, ImportError};
pub use export::export;
pub use query::{
    ClusterQuery, ImportSelection, ImportedService, NamespaceScope, fetch_services,
    knative_service_resource,
};

/// API group of Knative Serving.
pub const SERVING_GROUP: &str = "serving.knative.dev";
/// The only Knative Serving version this tool reads.
pub const SERVING_VERSION: &str = "v1";
/// Page size of list calls, the same chunk size kubectl uses.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// Resource name used in messages and RBAC rules.
const SERVICES_RESOURCE: &str = "services.serving.knative.dev";
