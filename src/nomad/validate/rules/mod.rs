//! Nomad's register-time rules, applied to the job after [`super::canonical`] has filled in what
//! Nomad fills in, with Nomad's wording. Each rule names its Go function (hashicorp/nomad
//! nomad/structs/structs.go unless said otherwise); the catalogue of which rules are and are not
//! here is the table in tests/integration/validate_rules.rs.
//!
//! Layout: this file has the job, group, update, scaling and network rules; `task` the task,
//! resources, logs, templates and volume mounts; `services` services and checks; `volumes` the
//! group's volume requests.

mod services;
mod task;
mod volumes;

use super::canonical::canonicalize;
use crate::nomad::SECOND;
use crate::nomad::model::{Job, ScalingPolicy, TaskGroup, UpdateStrategy};
use std::collections::HashMap;

/// Nomad's register-time rules that can be checked without a cluster, on the job as Nomad
/// canonicalizes it first.
pub fn validate_job(job: &Job) -> Vec<String> {
    let job = canonicalize(job.clone());
    let mut errs = Vec::new();
    let job_type = job.type_.as_deref().unwrap_or("service");
    // Job.Validate
    let id = job.id.as_deref().unwrap_or("");
    if id.is_empty() {
        errs.push("Missing job ID".to_string());
    } else if id.contains(' ') {
        errs.push("Job ID contains a space".to_string());
    } else if id.contains('\0') {
        errs.push("Job ID contains a null character".to_string());
    }
    match job.name.as_deref().unwrap_or("") {
        "" => errs.push("Missing job name".to_string()),
        n if n.contains('\0') => errs.push("Job Name contains a null character".to_string()),
        _ => {}
    }
    match job_type {
        "" => errs.push("Missing job type".to_string()),
        "service" | "batch" | "system" | "sysbatch" => {}
        other => errs.push(format!("Invalid job type: {other:?}")),
    }
    if job.datacenters.iter().any(|d| d.is_empty()) {
        errs.push("Job datacenter must be non-empty string".to_string());
    }
    if job.task_groups.is_empty() {
        errs.push("Missing job task groups".to_string());
    }
    if matches!(job_type, "system" | "sysbatch") {
        // Job.Validate: system jobs are placed on every node.
        if !job.affinities.is_empty() {
            errs.push("System jobs may not have an affinity block".to_string());
        }
        if !job.spreads.is_empty() {
            errs.push("System jobs may not have a spread block".to_string());
        }
    }
    let batch_like = matches!(job_type, "batch" | "sysbatch");
    if job.periodic.is_some() && !batch_like {
        errs.push("Periodic can only be used with \"batch\" or \"sysbatch\" scheduler".to_string());
    }
    if job.parameterized_job.is_some() && !batch_like {
        errs.push(
            "Parameterized job can only be used with \"batch\" or \"sysbatch\" scheduler"
                .to_string(),
        );
    }
    // job_endpoint_hooks.go jobValidate.Validate, with the default job_max_priority.
    if let Some(p) = job.priority
        && !(1..=100).contains(&p)
    {
        errs.push("job priority must be between [1, 100]".to_string());
    }
    let mut group_names: HashMap<String, usize> = HashMap::new();
    for (i, g) in job.task_groups.iter().enumerate() {
        let name = g.name.clone().unwrap_or_default();
        if name.is_empty() {
            errs.push(format!("Job task group {} missing name", i + 1));
        } else if let Some(first) = group_names.get(&name) {
            errs.push(format!(
                "Job task group {} redefines '{name}' from group {}",
                i + 1,
                first + 1
            ));
        } else {
            group_names.insert(name.clone(), i);
        }
        if g.shutdown_delay.is_some_and(|d| d < 0) {
            errs.push("ShutdownDelay must be a positive value".to_string());
        }
        // command/agent/job_endpoint.go jobUpdate refuses this before anything else (400).
        if job_type == "system" && g.scaling.is_some() {
            errs.push("Task groups with job type system do not support scaling blocks".to_string());
        }
        let count = g.count.unwrap_or(1);
        if job_type == "system" && count > 1 {
            errs.push(format!(
                "Job task group {name} has count {count}. Count cannot exceed 1 with system scheduler"
            ));
        }
        for e in validate_group(job_type, g) {
            errs.push(format!("Task group {name} validation failed: {e}"));
        }
    }
    errs
}

/// TaskGroup.Validate.
fn validate_group(job_type: &str, g: &TaskGroup) -> Vec<String> {
    let mut errs = Vec::new();
    let count = g.count.unwrap_or(1);
    if count < 0 {
        errs.push("Task group count can't be negative".to_string());
    }
    if g.tasks.is_empty() {
        errs.push("Missing tasks for task group".to_string());
    }
    let disk = g
        .ephemeral_disk
        .as_ref()
        .and_then(|d| d.size_mb)
        .unwrap_or(300);
    // EphemeralDisk.Validate
    if disk < 10 {
        errs.push(format!("minimum DiskMB value is 10; got {disk}"));
    }
    if job_type == "system" && g.reschedule_policy.is_some() {
        errs.push("System jobs should not have a reschedule policy".to_string());
    }
    if let Some(u) = &g.update {
        if matches!(job_type, "service" | "system") {
            validate_update(u, &mut errs);
        } else {
            errs.push(format!("Job type {job_type:?} does not allow update block"));
        }
    }
    if g.migrate.is_some() && job_type != "service" {
        errs.push(format!(
            "Job type {job_type:?} does not allow migrate block"
        ));
    }
    validate_task_set(g, &mut errs);
    let canaries = g.update.as_ref().and_then(|u| u.canary).unwrap_or(0);
    for e in volumes::validate_volumes(g, job_type, count, canaries) {
        errs.push(e);
    }
    for e in validate_networks(g) {
        errs.push(format!("Task group network validation failed: {e}"));
    }
    for e in services::validate_group_services(g) {
        errs.push(format!("Task group service validation failed: {e}"));
    }
    if let Some(s) = &g.scaling {
        for e in validate_scaling(s, count) {
            errs.push(format!("Task group scaling policy validation failed: {e}"));
        }
    }
    let progress = g.update.as_ref().and_then(|u| u.progress_deadline);
    for t in &g.tasks {
        let context = task::TaskContext {
            group: g,
            job_type,
            progress_deadline: progress,
            disk_mb: disk,
        };
        for e in task::validate_task(t, &context) {
            errs.push(format!(
                "Task {} validation failed: {e}",
                t.name.as_deref().unwrap_or("")
            ));
        }
    }
    errs
}

/// TaskGroup.Validate on the group's tasks: names and the leader. (There is no rule that a
/// group needs a main task: a group of prestart tasks is accepted.)
fn validate_task_set(g: &TaskGroup, errs: &mut Vec<String>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, t) in g.tasks.iter().enumerate() {
        let n = t.name.as_deref().unwrap_or("");
        if n.is_empty() {
            errs.push(format!("Task {} missing name", i + 1));
        } else if let Some(first) = seen.get(n) {
            errs.push(format!(
                "Task {} redefines '{n}' from task {}",
                i + 1,
                first + 1
            ));
        } else {
            seen.insert(n, i);
        }
    }
    if g.tasks.iter().filter(|t| t.leader == Some(true)).count() > 1 {
        errs.push("Only one task may be marked as leader".to_string());
    }
}

/// UpdateStrategy.Validate, on the group's update merged with the job's and completed with
/// Nomad's defaults.
fn validate_update(u: &UpdateStrategy, errs: &mut Vec<String>) {
    let min_healthy = u.min_healthy_time.unwrap_or(10 * SECOND);
    let healthy = u.healthy_deadline.unwrap_or(300 * SECOND);
    let progress = u.progress_deadline.unwrap_or(600 * SECOND);
    let stagger = u.stagger.unwrap_or(30 * SECOND);
    let hc = u.health_check.as_deref().unwrap_or("checks");
    if !matches!(hc, "checks" | "task_states" | "manual") {
        errs.push(format!("Invalid health check given: {hc:?}"));
    }
    if let Some(p) = u.max_parallel.filter(|p| *p < 0) {
        errs.push(format!("Max parallel can not be less than zero: {p} < 0"));
    }
    if let Some(c) = u.canary.filter(|c| *c < 0) {
        errs.push(format!("Canary count can not be less than zero: {c} < 0"));
    }
    if u.canary.unwrap_or(0) == 0 && u.auto_promote == Some(true) {
        errs.push("Auto Promote requires a Canary count greater than zero".to_string());
    }
    if min_healthy < 0 {
        errs.push(format!(
            "Minimum healthy time may not be less than zero: {}",
            go_duration(min_healthy)
        ));
    }
    if healthy <= 0 {
        errs.push(format!(
            "Healthy deadline must be greater than zero: {}",
            go_duration(healthy)
        ));
    }
    if progress < 0 {
        errs.push(format!(
            "Progress deadline must be zero or greater: {}",
            go_duration(progress)
        ));
    }
    if min_healthy >= healthy {
        errs.push(format!(
            "Minimum healthy time must be less than healthy deadline: {} > {}",
            go_duration(min_healthy),
            go_duration(healthy)
        ));
    }
    if progress != 0 && healthy >= progress {
        errs.push(format!(
            "Healthy deadline must be less than progress deadline: {} > {}",
            go_duration(healthy),
            go_duration(progress)
        ));
    }
    if stagger <= 0 {
        errs.push(format!(
            "Stagger must be greater than zero: {}",
            go_duration(stagger)
        ));
    }
}

/// ScalingPolicy.Validate (structs_ce.go validateType for the type) and the count checks of
/// TaskGroup.validateScalingPolicy, each prefixed as Nomad prefixes them.
fn validate_scaling(s: &ScalingPolicy, count: i64) -> Vec<String> {
    let mut errs = Vec::new();
    let min = s.min.unwrap_or(count);
    let max = s.max.unwrap_or(-1);
    if let Some(t) = s.type_.as_deref().filter(|t| *t != "horizontal") {
        errs.push(format!("scaling policy type \"{t}\" is not valid"));
    }
    if max < 0 {
        errs.push("maximum count must be specified and non-negative".to_string());
    } else if max < min {
        errs.push("maximum count must not be less than minimum count".to_string());
    }
    if min < 0 {
        errs.push("minimum count must be specified and non-negative".to_string());
    }
    if count > max {
        errs.push(
            "task group count must not be greater than maximum count in scaling policy".to_string(),
        );
    }
    if count < min {
        errs.push(
            "task group count must not be less than minimum count in scaling policy".to_string(),
        );
    }
    errs.into_iter()
        .map(|e| format!("Scaling policy invalid: {e}"))
        .collect()
}

/// TaskGroup.validateNetworks: unique port labels, static ports ≤ 65535, `to` within -1..65535.
/// (Negative static ports are not refused.)
fn validate_networks(g: &TaskGroup) -> Vec<String> {
    let mut errs = Vec::new();
    let mut labels = std::collections::HashSet::new();
    for n in &g.networks {
        for p in n.reserved_ports.iter().chain(&n.dynamic_ports) {
            let label = p.label.clone().unwrap_or_default();
            if !labels.insert(label.clone()) {
                errs.push(format!("Port label {label} already in use"));
            }
            if let Some(v) = p.value.filter(|v| *v > 65535) {
                errs.push(format!("Port {label} ({v}) cannot be greater than 65535"));
            }
            match p.to {
                Some(to) if to < -1 => errs.push(format!(
                    "Port {label:?} cannot be mapped to negative value {to}"
                )),
                Some(to) if to > 65535 => errs.push(format!(
                    "Port {label:?} cannot be mapped to a port ({to}) greater than 65535"
                )),
                _ => {}
            }
        }
    }
    errs
}

/// The group's port labels, which task services and checks refer to.
fn port_labels(g: &TaskGroup) -> std::collections::HashSet<String> {
    g.networks
        .iter()
        .flat_map(|n| n.reserved_ports.iter().chain(&n.dynamic_ports))
        .filter_map(|p| p.label.clone())
        .collect()
}

/// Go's `time.Duration.String()`: `5m0s`, `10s`, `1h0m0s`, `1.5s`, `250ms`, `0s`.
pub(super) fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    let fraction = |value: u64, unit: u64| -> String {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let digits = unit.ilog10() as usize;
        let frac = format!("{rest:0digits$}");
        format!("{whole}.{}", frac.trim_end_matches('0'))
    };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", fraction(u, 1_000));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(u, 1_000_000));
    }
    let second = 1_000_000_000;
    let hours = u / (3600 * second);
    let minutes = (u / (60 * second)) % 60;
    let seconds = fraction(u % (60 * second), second);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, m) => format!("{sign}{m}m{seconds}s"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(v: serde_json::Value) -> Vec<String> {
        validate_job(&serde_json::from_value(v).unwrap())
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(300 * SECOND), "5m0s");
        assert_eq!(go_duration(10 * SECOND), "10s");
        assert_eq!(go_duration(3600 * SECOND), "1h0m0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(250_000_000), "250ms");
        assert_eq!(go_duration(-SECOND), "-1s");
        assert_eq!(go_duration(35 * 60 * SECOND), "35m0s");
    }

    #[test]
    fn catches_register_rules() {
        let errs = problems(json!({"ID": "a b", "TaskGroups": [{"Name": "g", "Count": 5,
            "Scaling": {"Min": 1, "Max": 3},
            "Tasks": [{"Name": "t", "Driver": "docker", "Resources": {"MemoryMB": 4}}]}]}))
        .join("\n");
        assert!(errs.contains("Job ID contains a space"));
        assert!(errs.contains("Scaling policy invalid: task group count must not be greater than maximum count in scaling policy"));
        assert!(errs.contains("minimum MemoryMB value is 10; got 4"));
    }

    /// The Nomad Autoscaler's fixture full-scaling.hcl: no count, scaling { min = 2 }.
    #[test]
    fn count_defaults_to_the_scaling_minimum() {
        let errs = problems(
            json!({"ID": "a", "Type": "batch", "TaskGroups": [{"Name": "g",
            "Scaling": {"Min": 2, "Max": 10},
            "Tasks": [{"Name": "t", "Driver": "docker"}]}]}),
        );
        assert!(errs.is_empty(), "{errs:?}");
    }
}
