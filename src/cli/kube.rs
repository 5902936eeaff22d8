//! Kubernetes flags, named after kubectl's: [`KubeArgs`] says how to reach the cluster and is
//! shared by `convert --from-cluster` and `verify --knative-service`; [`ClusterArgs`] adds what
//! `convert --from-cluster` reads (`-n`, `-A`, `-l`, `--export-dir`).
//!
//! Argument ids carry a `k8s_` prefix so that flattening next to [`super::PlacementArgs`] (whose
//! `--nomad-namespace` field is also called `namespace`) cannot clash; refer to them by these ids
//! in `requires`/`conflicts_with` (e.g. `required_unless_present = "k8s_from_cluster"`).

use crate::knative::cluster::{ImportSelection, KubeSettings};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the cluster, as kubectl finds it.
#[derive(Debug, Clone, Default, Args)]
pub struct KubeArgs {
    /// Kubeconfig context to use (default: the kubeconfig's current-context).
    #[arg(id = "k8s_context", long = "context", value_name = "CONTEXT")]
    pub context: Option<String>,
    /// Kubeconfig file (default: $KUBECONFIG, which may list several files, else ~/.kube/config).
    #[arg(id = "k8s_kubeconfig", long = "kubeconfig", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

impl KubeArgs {
    /// The settings, with the command's request timeout: `verify` takes it from its Nomad flags,
    /// `convert --from-cluster` from [`ClusterArgs`] (one `--request-timeout` per command).
    pub fn settings(&self, request_timeout: Duration) -> KubeSettings {
        KubeSettings {
            context: self.context.clone(),
            kubeconfig: self.kubeconfig.clone(),
            request_timeout: Some(request_timeout),
        }
    }
}

/// Flags of `convert --from-cluster`, shaped after kubectl and kn. Flatten it into a command;
/// positional service NAMEs are the caller's (they share the PATH positional of `convert`).
/// Every one of these flags, the connection's included, requires `--from-cluster`.
#[derive(Debug, Clone, Default, Args)]
#[command(mut_group("KubeArgs", |group| group.requires("k8s_from_cluster")))]
pub struct ClusterArgs {
    /// Read Knative Services from the Kubernetes cluster (the current kubeconfig context) instead
    /// of files; positional arguments are then service names (none = every service).
    #[arg(id = "k8s_from_cluster", long = "from-cluster")]
    pub from_cluster: bool,
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Namespace to read from (default: the namespace of the kubeconfig context, else "default").
    #[arg(
        id = "k8s_namespace",
        short = 'n',
        long = "namespace",
        value_name = "NS",
        requires = "k8s_from_cluster",
        conflicts_with = "k8s_all_namespaces"
    )]
    pub namespace: Option<String>,
    /// Read Knative Services of every namespace.
    #[arg(
        id = "k8s_all_namespaces",
        short = 'A',
        long = "all-namespaces",
        requires = "k8s_from_cluster"
    )]
    pub all_namespaces: bool,
    /// Label selector, as kubectl takes it (e.g. `app=shop,tier!=batch`).
    #[arg(
        id = "k8s_selector",
        short = 'l',
        long = "selector",
        value_name = "SELECTOR",
        requires = "k8s_from_cluster"
    )]
    pub selector: Option<String>,
    /// Also write the cleaned Knative YAML to DIR/<namespace>/<name>.yaml (like `kn service export`).
    #[arg(
        id = "k8s_export_dir",
        long = "export-dir",
        value_name = "DIR",
        requires = "k8s_from_cluster"
    )]
    pub export_dir: Option<PathBuf>,
    /// Longest wait for the answer to one request to the Kubernetes API, connecting included
    /// (kubectl's --request-timeout; a watch is kept shorter than it).
    #[arg(
        id = "k8s_request_timeout",
        long = "request-timeout",
        default_value = "30s",
        requires = "k8s_from_cluster",
        value_parser = super::nomad::parse_request_timeout,
        value_name = "DURATION"
    )]
    pub request_timeout: Duration,
}

impl ClusterArgs {
    /// How to reach the cluster, with this command's request timeout.
    pub fn kube_settings(&self) -> KubeSettings {
        self.kube.settings(self.request_timeout)
    }

    /// Which Services to read.
    pub fn selection(&self) -> ImportSelection {
        ImportSelection {
            namespace: self.namespace.clone(),
            all_namespaces: self.all_namespaces,
            selector: self.selector.clone(),
        }
    }
}
