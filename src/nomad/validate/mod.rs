//! Offline validation of Nomad jobs: Nomad's register-time rules (Nomad 2.0.6's
//! nomad/structs/structs.go `Job.Validate`, `TaskGroup.Validate`, `Task.Validate`,
//! nomad/structs/services.go `Service.Validate` and `ServiceCheck.validate*`; summarised in §3 of
//! the team's shared reference `../shared/reference/nomad-api.md`, which lives beside the
//! checkout, not in it) and a strict key check, because Nomad silently drops keys it does not
//! know.
//!
//! Not a full reimplementation: rules that depend on cluster state (quotas, node pools, ACLs,
//! driver availability) are left to the cluster's `/v1/validate/job`.
//!
//! Layout: `keys` is the strict key check against the API field list; `decode` reads API JSON as
//! Nomad's agent does (null and plain zero values are unset); `canonical` fills in Nomad's
//! defaults; `rules` applies the register-time rules to the canonical job. This module reads
//! job files and runs them in that order.

mod canonical;
mod decode;
mod keys;
mod rules;

pub use keys::{list_of_keys, unknown_keys};
pub use rules::validate_job;

use super::model::Job;
use serde_json::Value;

/// Reads a job file into its API JSON: `{"Job": ...}` or a bare job, or an HCL2 job file.
fn read_job_value(path: &std::path::Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let is_json =
        path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
    if !is_json {
        return crate::nomad::hcl::parse_job(&text);
    }
    let mut v: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "invalid JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        )
    })?;
    Ok(match v.get_mut("Job").map(Value::take) {
        Some(job) => job,
        None => v,
    })
}

/// Reads a job file (API JSON or HCL2) into the typed job, for sending it to a cluster. Nulls
/// and plain zero values (as `nomad job run -output` writes them) are read as unset, as Nomad
/// reads them.
pub fn read_job_file(path: &std::path::Path) -> Result<Job, String> {
    let mut value = read_job_value(path)?;
    decode::as_nomad_reads(&mut value);
    serde_json::from_value(value).map_err(|e| format!("wrong type: {e}"))
}

/// Validates one job file: API JSON (`{"Job": ...}` or a bare job) or an HCL2 job file.
/// Returns the problems found; an unreadable or unparsable file is one problem.
pub fn validate_file(path: &std::path::Path) -> Vec<String> {
    match read_job_value(path) {
        Ok(value) => validate_value(&value),
        Err(problem) => vec![problem],
    }
}

/// Unknown keys, type errors and register-time rules of a job's API JSON.
pub fn validate_value(value: &Value) -> Vec<String> {
    let mut problems = unknown_keys(value);
    let mut read = value.clone();
    decode::as_nomad_reads(&mut read);
    match serde_json::from_value::<Job>(read) {
        Ok(job) => problems.extend(validate_job(&job)),
        Err(e) => problems.push(format!("wrong type: {e}")),
    }
    problems
}
