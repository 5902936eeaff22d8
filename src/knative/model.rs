//! Typed Knative Service (`serving.knative.dev/v1`), built on k8s-openapi's core types for the
//! PodSpec parts. Fields Knative accepts are typed; anything else in the revision spec is kept in
//! `other` so the converter can report it instead of dropping it silently.

use k8s_openapi::api::core::v1::{
    Affinity, Container, LocalObjectReference, PodDNSConfig, PodSecurityContext, Toleration, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KnativeService {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ServiceSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(default)]
    pub template: RevisionTemplate,
    #[serde(default)]
    pub traffic: Vec<TrafficTarget>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionTemplate {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: RevisionSpec,
}

/// Knative's RevisionSpec: a PodSpec subset plus Knative's own request settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionSpec {
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub init_containers: Vec<Container>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    pub container_concurrency: Option<i64>,
    pub timeout_seconds: Option<i64>,
    pub response_start_timeout_seconds: Option<i64>,
    pub idle_timeout_seconds: Option<i64>,
    pub service_account_name: Option<String>,
    #[serde(default)]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    pub enable_service_links: Option<bool>,
    pub automount_service_account_token: Option<bool>,
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    pub affinity: Option<Affinity>,
    pub security_context: Option<PodSecurityContext>,
    pub dns_config: Option<PodDNSConfig>,
    /// Every other key, reported as not converted.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_yaml::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTarget {
    pub tag: Option<String>,
    pub revision_name: Option<String>,
    pub configuration_name: Option<String>,
    pub latest_revision: Option<bool>,
    pub percent: Option<i64>,
}

/// Annotations the cluster (Knative's webhook or kubectl) adds that describe the old system, not
/// the workload: the same list `kn service export` drops. Cluster import strips them from what it
/// reads, and conversion keeps them out of the job's meta.
pub const SERVER_ANNOTATIONS: [&str; 3] = [
    "serving.knative.dev/creator",
    "serving.knative.dev/lastModifier",
    "kubectl.kubernetes.io/last-applied-configuration",
];

/// Container names of a revision as Knative defaults them: `user-container` for a single unnamed
/// container, `user-container-<i>` when there are several.
pub fn default_container_name(index: usize, count: usize) -> String {
    if count == 1 {
        "user-container".to_string()
    } else {
        format!("user-container-{index}")
    }
}
