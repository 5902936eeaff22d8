//! Response bodies of the endpoints the client calls, with only the fields used (Nomad sends
//! more; serde ignores the rest). Names are Nomad's PascalCase JSON names.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ValidateResponse {
    pub driver_config_validated: bool,
    pub validation_errors: Option<Vec<String>>,
    pub error: String,
    pub warnings: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PlanResponse {
    #[serde(rename = "JobModifyIndex")]
    pub job_modify_index: u64,
    pub annotations: Option<PlanAnnotations>,
    #[serde(rename = "FailedTGAllocs")]
    pub failed_tg_allocs: Option<BTreeMap<String, Value>>,
    pub diff: Option<Value>,
    pub warnings: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PlanAnnotations {
    #[serde(rename = "DesiredTGUpdates")]
    pub desired_tg_updates: Option<BTreeMap<String, DesiredUpdates>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DesiredUpdates {
    pub ignore: u64,
    pub place: u64,
    pub migrate: u64,
    pub stop: u64,
    pub in_place_update: u64,
    pub destructive_update: u64,
    pub canary: u64,
    pub preemptions: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RegisterResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_modify_index: u64,
    pub warnings: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Evaluation {
    #[serde(rename = "ID")]
    pub id: String,
    pub status: String,
    pub status_description: String,
    pub triggered_by: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub job_modify_index: u64,
    #[serde(rename = "DeploymentID")]
    pub deployment_id: String,
    pub next_eval: String,
    pub blocked_eval: String,
    /// Nanoseconds to wait before `next_eval` runs.
    pub wait: u64,
    #[serde(rename = "FailedTGAllocs")]
    pub failed_tg_allocs: Option<BTreeMap<String, Value>>,
    pub queued_allocations: Option<BTreeMap<String, u64>>,
    pub create_index: u64,
    pub modify_index: u64,
}

impl Evaluation {
    /// `canceled` with one L is Nomad's spelling for evaluations.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "complete" | "failed" | "canceled")
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Deployment {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub job_version: u64,
    pub job_modify_index: u64,
    pub status: String,
    pub status_description: String,
    pub task_groups: BTreeMap<String, DeploymentGroup>,
    pub create_index: u64,
    pub modify_index: u64,
}

impl Deployment {
    /// `cancelled` with two Ls is Nomad's spelling for deployments.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.status.as_str(),
            "successful" | "failed" | "cancelled" | "blocked"
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeploymentGroup {
    pub auto_revert: bool,
    pub desired_total: u64,
    pub placed_allocs: u64,
    pub healthy_allocs: u64,
    pub unhealthy_allocs: u64,
    pub desired_canaries: u64,
    pub promoted: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AllocationStub {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub name: String,
    pub namespace: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub job_version: u64,
    pub task_group: String,
    pub desired_status: String,
    pub client_status: String,
    pub client_description: String,
    pub deployment_status: Option<AllocDeploymentStatus>,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AllocDeploymentStatus {
    pub healthy: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct JobScaleStatus {
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub namespace: String,
    pub job_modify_index: u64,
    pub job_stopped: bool,
    pub task_groups: BTreeMap<String, GroupScaleStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct GroupScaleStatus {
    pub desired: u64,
    pub placed: u64,
    pub running: u64,
    pub healthy: u64,
    pub unhealthy: u64,
    /// Newest first. Nomad sends `null` for a group that was never scaled (a nil Go slice).
    #[serde(deserialize_with = "null_as_empty")]
    pub events: Vec<Value>,
}

/// A JSON array, with `null` read as an empty one.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    Ok(Option::<Vec<Value>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeregisterResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_modify_index: u64,
}

#[cfg(test)]
mod tests {
    use super::JobScaleStatus;

    #[test]
    fn a_never_scaled_group_reads_with_null_events() {
        let text = r#"{"JobID": "hello", "Namespace": "default", "JobModifyIndex": 12,
            "JobStopped": false, "TaskGroups": {"hello": {"Desired": 2, "Placed": 2,
            "Running": 2, "Healthy": 2, "Unhealthy": 0, "Events": null}}}"#;
        let status: JobScaleStatus = serde_json::from_str(text).unwrap();
        assert_eq!(status.task_groups["hello"].desired, 2);
        assert!(status.task_groups["hello"].events.is_empty());
    }
}
