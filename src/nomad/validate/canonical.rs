//! The defaults Nomad fills in before it checks a job: the api package's `Canonicalize` methods
//! (the HTTP agent's `ApiJobToStructJob` calls `job.Canonicalize()` first), the conversion to the
//! server's structs, and the server's own `Canonicalize` and admission mutators. A rule applied
//! to the job as written instead gives false errors: with no `count` and `scaling { min = 2 }`
//! Nomad runs two instances, where `count.unwrap_or(1)` would see 1 < 2.
//!
//! Only the fields our rules read are filled. Sources (hashicorp/nomad): api/jobs.go
//! `Job.Canonicalize`, `UpdateStrategy.Canonicalize`/`Merge`/`Empty`, `DefaultUpdateStrategy`;
//! api/tasks.go `TaskGroup.Canonicalize`, `Task.Canonicalize`, `Template.Canonicalize`,
//! `EphemeralDisk.Canonicalize`, `LogConfig.Canonicalize`, `TaskLifecycle.Empty`;
//! api/resources.go `Resources.Canonicalize`, `RequestedDevice.Canonicalize`; api/scaling.go
//! `ScalingPolicy.Canonicalize`; api/services.go `Service.Canonicalize`; command/agent
//! scaling_endpoint.go `ApiScalingPolicyToStructs` (Max nil → -1); nomad/structs/structs.go
//! `Job.Canonicalize` (datacenters), `TaskGroup.Canonicalize` (system count); nomad/structs/
//! services.go `ServiceCheck.Canonicalize` (check names); nomad/job_endpoint_hooks.go
//! `jobCanonicalizer` (priority 0 → the server default, 50).

use crate::nomad::SECOND;
use crate::nomad::model::{
    EphemeralDisk, Job, LogConfig, Resources, ScalingPolicy, Service, Task, TaskGroup, Template,
    UpdateStrategy,
};

/// Nomad's default job priority (`job_default_priority`, 50 unless the server sets another).
pub const DEFAULT_PRIORITY: i64 = 50;

/// api/jobs.go `DefaultUpdateStrategy`.
fn default_update() -> UpdateStrategy {
    UpdateStrategy {
        stagger: Some(30 * SECOND),
        max_parallel: Some(1),
        health_check: Some("checks".into()),
        min_healthy_time: Some(10 * SECOND),
        healthy_deadline: Some(300 * SECOND),
        progress_deadline: Some(600 * SECOND),
        canary: Some(0),
        auto_revert: Some(false),
        auto_promote: Some(false),
    }
}

/// The job as Nomad's rules see it.
pub fn canonicalize(mut job: Job) -> Job {
    let id = job.id.clone().unwrap_or_default();
    job.name.get_or_insert(id);
    job.namespace.get_or_insert_with(|| "default".into());
    job.region.get_or_insert_with(|| "global".into());
    let job_type = job.type_.get_or_insert_with(|| "service".into()).clone();
    if job.priority.unwrap_or(0) == 0 {
        job.priority = Some(DEFAULT_PRIORITY);
    }
    if job.datacenters.is_empty() {
        job.datacenters = vec!["*".into()];
    }
    match &mut job.update {
        Some(u) => fill_update(u),
        None if job_type == "service" => job.update = Some(default_update()),
        None => {}
    }
    let job_update = job.update.clone();
    let job_name = job.name.clone().unwrap_or_default();
    for g in &mut job.task_groups {
        canonicalize_group(g, &job_type, job_update.as_ref(), &job_name);
    }
    job
}

fn fill_update(u: &mut UpdateStrategy) {
    let d = default_update();
    u.stagger = u.stagger.or(d.stagger);
    u.max_parallel = u.max_parallel.or(d.max_parallel);
    u.health_check = u.health_check.take().or(d.health_check);
    u.min_healthy_time = u.min_healthy_time.or(d.min_healthy_time);
    u.healthy_deadline = u.healthy_deadline.or(d.healthy_deadline);
    u.progress_deadline = u.progress_deadline.or(d.progress_deadline);
    u.canary = u.canary.or(d.canary);
    u.auto_revert = u.auto_revert.or(d.auto_revert);
    u.auto_promote = u.auto_promote.or(d.auto_promote);
}

/// api `UpdateStrategy.Merge`: each field the group sets wins.
fn merge_update(job: &UpdateStrategy, group: &UpdateStrategy) -> UpdateStrategy {
    UpdateStrategy {
        stagger: group.stagger.or(job.stagger),
        max_parallel: group.max_parallel.or(job.max_parallel),
        health_check: group.health_check.clone().or(job.health_check.clone()),
        min_healthy_time: group.min_healthy_time.or(job.min_healthy_time),
        healthy_deadline: group.healthy_deadline.or(job.healthy_deadline),
        progress_deadline: group.progress_deadline.or(job.progress_deadline),
        canary: group.canary.or(job.canary),
        auto_revert: group.auto_revert.or(job.auto_revert),
        auto_promote: group.auto_promote.or(job.auto_promote),
    }
}

/// api `UpdateStrategy.Empty`: no field set to a non-zero value.
fn update_is_empty(u: &UpdateStrategy) -> bool {
    [
        u.stagger,
        u.max_parallel,
        u.min_healthy_time,
        u.healthy_deadline,
        u.progress_deadline,
        u.canary,
    ]
    .iter()
    .all(|v| v.unwrap_or(0) == 0)
        && u.health_check.as_deref().unwrap_or("").is_empty()
        && u.auto_revert != Some(true)
        && u.auto_promote != Some(true)
}

fn canonicalize_group(
    g: &mut TaskGroup,
    job_type: &str,
    job_update: Option<&UpdateStrategy>,
    job_name: &str,
) {
    // api TaskGroup.Canonicalize: an unset count is the scaling minimum, else 1.
    let count = g
        .count
        .or_else(|| g.scaling.as_ref().and_then(|s| s.min))
        .unwrap_or(1);
    // structs TaskGroup.Canonicalize: a system job's group of 0 runs 1 per node.
    let count = if matches!(job_type, "system" | "sysbatch") && count == 0 {
        1
    } else {
        count
    };
    g.count = Some(count);
    if let Some(s) = &mut g.scaling {
        canonicalize_scaling(s, count);
    }
    g.update = match (job_update, g.update.take()) {
        (Some(j), Some(own)) => Some(merge_update(j, &own)),
        (Some(j), None) if !update_is_empty(j) => Some(j.clone()),
        (_, own) => own,
    };
    if let Some(u) = &mut g.update {
        fill_update(u);
    }
    let disk = g.ephemeral_disk.get_or_insert_with(EphemeralDisk::default);
    disk.size_mb.get_or_insert(300);
    let group_name = g.name.clone().unwrap_or_default();
    for s in &mut g.services {
        canonicalize_service(s, format!("{job_name}-{group_name}"), None);
    }
    for t in &mut g.tasks {
        let task_default = format!(
            "{job_name}-{group_name}-{}",
            t.name.as_deref().unwrap_or("")
        );
        canonicalize_task(t, task_default);
    }
}

/// api ScalingPolicy.Canonicalize and the agent's conversion: Min from the group count, Max
/// unset becomes -1 ("maximum count must be specified", caught by Validate).
fn canonicalize_scaling(s: &mut ScalingPolicy, count: i64) {
    s.min.get_or_insert(count);
    s.max.get_or_insert(-1);
    s.enabled.get_or_insert(true);
    s.type_.get_or_insert_with(|| "horizontal".into());
}

fn canonicalize_task(t: &mut Task, default_service_name: String) {
    t.kill_timeout.get_or_insert(5 * SECOND);
    // api Task.Canonicalize: a lifecycle block with no hook is dropped (a main task).
    if t.lifecycle
        .as_ref()
        .is_some_and(|l| l.hook.as_deref().unwrap_or("").is_empty())
    {
        t.lifecycle = None;
    }
    let log = t.log_config.get_or_insert_with(LogConfig::default);
    log.max_files.get_or_insert(10);
    log.max_file_size_mb.get_or_insert(10);
    canonicalize_resources(t.resources.get_or_insert_with(Resources::default));
    for tmpl in &mut t.templates {
        canonicalize_template(tmpl);
    }
    let task_name = t.name.clone().unwrap_or_default();
    for s in &mut t.services {
        canonicalize_service(s, default_service_name.clone(), Some(&task_name));
    }
}

/// api/resources.go Resources.Canonicalize: CPU 100 unless cores are asked for (then 0),
/// memory 300; a device's count 1.
fn canonicalize_resources(r: &mut Resources) {
    if r.cores.is_none() {
        r.cores = Some(0);
        r.cpu.get_or_insert(100);
    } else {
        r.cpu.get_or_insert(0);
    }
    r.memory_mb.get_or_insert(300);
    for d in &mut r.devices {
        d.count.get_or_insert(1);
    }
}

/// api Template.Canonicalize.
fn canonicalize_template(t: &mut Template) {
    let mode = t
        .change_mode
        .get_or_insert_with(|| "restart".into())
        .clone();
    t.change_signal = match t.change_signal.take() {
        Some(sig) => Some(sig.to_uppercase()),
        None if mode == "signal" => Some("SIGHUP".into()),
        None => None,
    };
    t.splay.get_or_insert(5 * SECOND);
    t.perms.get_or_insert_with(|| "0644".into());
}

/// api Service.Canonicalize and structs ServiceCheck.Canonicalize: a name, a provider, check
/// names, each check's check_restart merged with the service's, and lower-case check types.
fn canonicalize_service(s: &mut Service, default_name: String, task: Option<&str>) {
    if s.name.as_deref().unwrap_or("").is_empty() {
        s.name = Some(default_name);
    }
    s.address_mode.get_or_insert_with(|| "auto".into());
    let on_update = s
        .on_update
        .get_or_insert_with(|| "require_healthy".into())
        .clone();
    s.provider.get_or_insert_with(|| "consul".into());
    let service_name = s.name.clone().unwrap_or_default();
    for c in &mut s.checks {
        if let Some(ty) = &mut c.type_ {
            *ty = ty.to_lowercase();
        }
        if c.name.is_none() {
            c.name = Some(format!("service: {service_name:?} check"));
        }
        if c.task_name.is_none() {
            c.task_name = task.map(str::to_string);
        }
        c.on_update.get_or_insert_with(|| on_update.clone());
        c.check_restart = match (&s.check_restart, c.check_restart.take()) {
            (Some(svc), Some(own)) => Some(crate::nomad::model::CheckRestart {
                limit: own.limit.or(svc.limit),
                grace: own.grace.or(svc.grace),
                ignore_warnings: own.ignore_warnings.or(svc.ignore_warnings),
            }),
            (svc, own) => own.or_else(|| svc.clone()),
        };
        for counter in [
            &mut c.success_before_passing,
            &mut c.failures_before_critical,
            &mut c.failures_before_warning,
        ] {
            if counter.is_some_and(|v| v < 0) {
                *counter = Some(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(v: serde_json::Value) -> Job {
        canonicalize(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn count_comes_from_scaling_min() {
        let j = job(json!({"ID": "a", "TaskGroups": [
            {"Name": "g", "Scaling": {"Min": 2, "Max": 5}},
            {"Name": "h", "Count": 3, "Scaling": {"Max": 5}},
            {"Name": "i", "Scaling": {}}]}));
        let g = &j.task_groups;
        assert_eq!(
            (g[0].count, g[0].scaling.as_ref().unwrap().min),
            (Some(2), Some(2))
        );
        assert_eq!(
            (g[1].count, g[1].scaling.as_ref().unwrap().min),
            (Some(3), Some(3))
        );
        assert_eq!(
            (g[2].count, g[2].scaling.as_ref().unwrap().max),
            (Some(1), Some(-1))
        );
    }

    #[test]
    fn service_groups_get_the_merged_update() {
        let j = job(
            json!({"ID": "a", "Update": {"MaxParallel": 3}, "TaskGroups": [
            {"Name": "g", "Update": {"ProgressDeadline": 1_200_000_000_000_i64}}, {"Name": "h"}]}),
        );
        let g = j.task_groups[0].update.as_ref().unwrap();
        assert_eq!(
            (g.max_parallel, g.progress_deadline),
            (Some(3), Some(1200 * SECOND))
        );
        assert_eq!(
            j.task_groups[1].update.as_ref().unwrap().max_parallel,
            Some(3)
        );
        let batch = job(json!({"ID": "a", "Type": "batch", "TaskGroups": [{"Name": "g"}]}));
        assert!(batch.task_groups[0].update.is_none());
        let service = job(json!({"ID": "a", "TaskGroups": [{"Name": "g"}]}));
        let u = service.task_groups[0].update.as_ref().unwrap();
        assert_eq!(u.progress_deadline, Some(600 * SECOND));
    }

    #[test]
    fn tasks_and_services_get_their_defaults() {
        let j = job(
            json!({"ID": "j", "Priority": 0, "TaskGroups": [{"Name": "g",
            "Services": [{"Checks": [{"Type": "HTTP"}]}],
            "Tasks": [{"Name": "t", "Lifecycle": {"Hook": ""}, "Resources": {"Cores": 2},
                "Templates": [{"ChangeMode": "signal"}, {"ChangeSignal": "sigusr1"}]}]}]}),
        );
        assert_eq!(j.priority, Some(DEFAULT_PRIORITY));
        let g = &j.task_groups[0];
        let s = &g.services[0];
        assert_eq!(s.name.as_deref(), Some("j-g"));
        assert_eq!(s.provider.as_deref(), Some("consul"));
        assert_eq!(s.checks[0].type_.as_deref(), Some("http"));
        assert_eq!(s.checks[0].name.as_deref(), Some("service: \"j-g\" check"));
        let t = &g.tasks[0];
        assert!(t.lifecycle.is_none());
        let r = t.resources.as_ref().unwrap();
        assert_eq!((r.cpu, r.cores, r.memory_mb), (Some(0), Some(2), Some(300)));
        assert_eq!(t.templates[0].change_signal.as_deref(), Some("SIGHUP"));
        assert_eq!(t.templates[1].change_signal.as_deref(), Some("SIGUSR1"));
        assert_eq!(t.templates[1].perms.as_deref(), Some("0644"));
    }
}
