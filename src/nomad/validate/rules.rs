//! Nomad's register-time rules on the typed job, with Nomad's wording where it has one (the
//! source of each group of rules is named in the module above).

use crate::nomad::SECOND;
use crate::nomad::model::{Job, ScalingPolicy, ServiceCheck, Task, TaskGroup, UpdateStrategy};
use std::collections::{BTreeSet, HashSet};

/// Nomad's register-time rules that can be checked without a cluster. Messages follow Nomad's
/// wording where it has one.
pub fn validate_job(job: &Job) -> Vec<String> {
    let mut errs = Vec::new();
    let id = job.id.as_deref().unwrap_or("");
    if id.is_empty() {
        errs.push("Missing job ID".to_string());
    } else if id.contains(' ') || id.contains('\0') {
        errs.push("Job ID contains a space or null character".to_string());
    }
    if job
        .name
        .as_deref()
        .is_some_and(|n| n.is_empty() || n.contains('\0'))
    {
        errs.push("Job Name contains a null character or is empty".to_string());
    }
    if let Some(t) = job.type_.as_deref()
        && !matches!(t, "service" | "batch" | "system" | "sysbatch")
    {
        errs.push(format!("Invalid job type: {t:?}"));
    }
    if job.datacenters.iter().any(|d| d.is_empty()) {
        errs.push("Job datacenter must be non-empty string".to_string());
    }
    if let Some(p) = job.priority
        && !(1..=100).contains(&p)
    {
        errs.push(format!("Job priority must be between [1, 100]: {p}"));
    }
    if job.task_groups.is_empty() {
        errs.push("Missing job task groups".to_string());
    }
    let mut group_names = HashSet::new();
    for (i, g) in job.task_groups.iter().enumerate() {
        let name = g.name.clone().unwrap_or_default();
        if name.is_empty() {
            errs.push(format!("Job task group {} missing name", i + 1));
        } else if !group_names.insert(name.clone()) {
            errs.push(format!(
                "Job task group {} redefines '{name}' from group",
                i + 1
            ));
        }
        for e in validate_group(job, g) {
            errs.push(format!("Task group {name} validation failed: {e}"));
        }
    }
    errs
}

fn validate_group(job: &Job, g: &TaskGroup) -> Vec<String> {
    let mut errs = Vec::new();
    let count = g.count.unwrap_or(1);
    if count < 0 {
        errs.push("Task group count can't be negative".to_string());
    }
    validate_task_set(g, &mut errs);
    let disk = g
        .ephemeral_disk
        .as_ref()
        .and_then(|d| d.size_mb)
        .unwrap_or(300);
    if disk < 10 {
        errs.push("minimum DiskMB value is 10; got ".to_string() + &disk.to_string());
    }
    // Update strategy: job-level merged with group-level, completed from Nomad's defaults.
    let update = g.update.as_ref().or(job.update.as_ref());
    let progress = update
        .and_then(|u| u.progress_deadline)
        .unwrap_or(600 * SECOND);
    if let Some(u) = update {
        validate_update(u, &mut errs);
    }
    if let Some(s) = &g.scaling {
        validate_scaling(s, count, &mut errs);
    }
    let labels = validate_ports(g, &mut errs);
    validate_services(g, &labels, &mut errs);
    for t in &g.tasks {
        for e in validate_task(t, g, progress, update.is_some(), disk) {
            errs.push(format!(
                "Task {} validation failed: {e}",
                t.name.clone().unwrap_or_default()
            ));
        }
    }
    errs
}

/// The group's tasks as a set: some, unique names, at most one leader, a main task.
fn validate_task_set(g: &TaskGroup, errs: &mut Vec<String>) {
    if g.tasks.is_empty() {
        errs.push("Missing tasks for task group".to_string());
    }
    let mut task_names = HashSet::new();
    let mut leaders = 0;
    let mut main_tasks = 0;
    for t in &g.tasks {
        let n = t.name.clone().unwrap_or_default();
        if !task_names.insert(n.clone()) {
            errs.push(format!("Task {n} redefines a previous task"));
        }
        leaders += usize::from(t.leader == Some(true));
        main_tasks += usize::from(t.lifecycle.is_none());
    }
    if leaders > 1 {
        errs.push("Only one task may be marked as leader".to_string());
    }
    if !g.tasks.is_empty() && main_tasks == 0 {
        errs.push("Must have at least one main task".to_string());
    }
}

/// The update strategy in effect for a group, with Nomad's defaults for what it leaves unset.
fn validate_update(u: &UpdateStrategy, errs: &mut Vec<String>) {
    let min_healthy = u.min_healthy_time.unwrap_or(10 * SECOND);
    let healthy = u.healthy_deadline.unwrap_or(300 * SECOND);
    let progress = u.progress_deadline.unwrap_or(600 * SECOND);
    if let Some(hc) = u.health_check.as_deref()
        && !matches!(hc, "checks" | "task_states" | "manual")
    {
        errs.push(format!("Invalid health check given: {hc:?}"));
    }
    if min_healthy >= healthy {
        errs.push("Minimum healthy time must be less than healthy deadline".to_string());
    }
    if healthy <= 0 {
        errs.push("Healthy deadline must be greater than zero".to_string());
    }
    if progress != 0 && progress <= healthy {
        errs.push("Healthy deadline must be less than progress deadline".to_string());
    }
    if u.auto_promote == Some(true) && u.canary.unwrap_or(0) == 0 {
        errs.push("Auto Promote requires a Canary count greater than zero".to_string());
    }
}

/// The scaling block against the group's count.
fn validate_scaling(s: &ScalingPolicy, count: i64, errs: &mut Vec<String>) {
    match s.max {
        None => errs.push("maximum count must be specified and non-negative".to_string()),
        Some(max) if max < 0 => {
            errs.push("maximum count must be specified and non-negative".to_string())
        }
        Some(max) => {
            let min = s.min.unwrap_or(count);
            if min < 0 {
                errs.push("minimum count must be non-negative".to_string());
            }
            if min > max {
                errs.push(format!(
                    "maximum count must not be less than minimum count: {max} < {min}"
                ));
            }
            if count < min {
                errs.push(format!("task group count must not be less than minimum count in scaling policy: {count} < {min}"));
            }
            if count > max {
                errs.push(format!("task group count must not be greater than maximum count in scaling policy: {count} > {max}"));
            }
        }
    }
    if let Some(t) = s.type_.as_deref()
        && t != "horizontal"
    {
        errs.push(format!(
            "scaling policy invalid: type {t:?} is not supported"
        ));
    }
}

/// Network ports: unique labels and values in range. Returns the labels, which services and
/// checks refer to.
fn validate_ports(g: &TaskGroup, errs: &mut Vec<String>) -> HashSet<String> {
    let mut labels = HashSet::new();
    for n in &g.networks {
        for p in n.dynamic_ports.iter().chain(n.reserved_ports.iter()) {
            let label = p.label.clone().unwrap_or_default();
            if !labels.insert(label.clone()) {
                errs.push(format!("Port label {label} already in use"));
            }
            if let Some(to) = p.to
                && !(-1..=65535).contains(&to)
            {
                errs.push(format!(
                    "Port {label:?} cannot be mapped to {to}; must be between -1 and 65535"
                ));
            }
            if let Some(v) = p.value
                && !(0..=65535).contains(&v)
            {
                errs.push(format!(
                    "Port {label:?} static value {v} must be between 0 and 65535"
                ));
            }
        }
    }
    labels
}

/// Group services: provider, name, uniqueness, their checks, and port labels that exist.
fn validate_services(g: &TaskGroup, labels: &HashSet<String>, errs: &mut Vec<String>) {
    let mut providers = BTreeSet::new();
    let mut service_keys = HashSet::new();
    for s in &g.services {
        let name = s.name.clone().unwrap_or_default();
        let provider = s.provider.clone().unwrap_or_else(|| "consul".to_string());
        providers.insert(provider.clone());
        if !matches!(provider.as_str(), "consul" | "nomad") {
            errs.push(format!(
                "Service provider must be \"consul\" or \"nomad\"; got {provider:?}"
            ));
        }
        if !valid_service_name(&name) {
            errs.push(format!(
                "Service name must be valid per RFC 1123 and can contain only alphanumeric characters or dashes: {name:?}"
            ));
        }
        if !service_keys.insert((name.clone(), s.port_label.clone())) {
            errs.push(format!("Service {name} is duplicate"));
        }
        let mut check_names = HashSet::new();
        for c in &s.checks {
            let cname = c.name.clone().unwrap_or_default();
            if !cname.is_empty() && !check_names.insert(cname.clone()) {
                errs.push(format!("Service {name} check {cname} is duplicate"));
            }
            for e in validate_check(c, &provider, s.port_label.is_some(), labels, &g.tasks) {
                errs.push(format!("Service {name} check {cname}: {e}"));
            }
        }
        if let Some(p) = &s.port_label
            && p.parse::<u16>().is_err()
            && !labels.contains(p)
        {
            errs.push(format!(
                "Service {name} port label {p:?} does not exist in the group network"
            ));
        }
    }
    if providers.len() > 1 {
        errs.push(
            "Multiple service providers used: task group services must use the same provider"
                .to_string(),
        );
    }
}

fn valid_service_name(name: &str) -> bool {
    // Nomad substitutes interpolations before checking the name.
    let mut plain = String::new();
    let mut rest = name;
    while let Some(start) = rest.find("${") {
        plain.push_str(&rest[..start]);
        plain.push('a');
        rest = rest[start..]
            .find('}')
            .map_or("", |end| &rest[start + end + 1..]);
    }
    plain.push_str(rest);
    let b = plain.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn validate_check(
    c: &ServiceCheck,
    provider: &str,
    service_has_port: bool,
    labels: &HashSet<String>,
    tasks: &[Task],
) -> Vec<String> {
    let mut errs = Vec::new();
    let ty = c.type_.as_deref().unwrap_or("");
    let allowed: &[&str] = if provider == "nomad" {
        &["http", "tcp"]
    } else {
        &["http", "tcp", "grpc", "script"]
    };
    if !allowed.contains(&ty) {
        errs.push(format!(
            "invalid type ({ty}), must be one of {}",
            allowed.join(", ")
        ));
    }
    if c.interval.unwrap_or(0) < SECOND {
        errs.push(
            "interval (0) cannot be lower than 1s"
                .to_string()
                .replace("(0)", &format!("({}ns)", c.interval.unwrap_or(0))),
        );
    }
    if c.timeout.unwrap_or(0) < SECOND {
        errs.push(format!(
            "timeout ({}ns) is lower than required minimum timeout 1s",
            c.timeout.unwrap_or(0)
        ));
    }
    if ty == "http" {
        match c.path.as_deref() {
            None | Some("") => errs.push("http type must have http path".to_string()),
            Some(p) if !p.starts_with('/') => {
                errs.push(format!("http path {p:?} must be relative"))
            }
            _ => {}
        }
    }
    if ty == "script" && c.command.as_deref().unwrap_or("").is_empty() {
        errs.push("script type must have a valid script path".to_string());
    }
    if matches!(ty, "http" | "tcp" | "grpc") && c.port_label.is_none() && !service_has_port {
        errs.push("check requires a port but neither check nor service has a port".to_string());
    }
    if let Some(p) = &c.port_label
        && p.parse::<u16>().is_err()
        && !labels.contains(p)
    {
        errs.push(format!(
            "port label {p:?} does not exist in the group network"
        ));
    }
    if let Some(t) = &c.task_name
        && !tasks
            .iter()
            .any(|task| task.name.as_deref() == Some(t.as_str()))
    {
        errs.push(format!("references non-existent task {t:?}"));
    }
    if let Some(cr) = &c.check_restart
        && (cr.limit.unwrap_or(0) < 0 || cr.grace.unwrap_or(0) < 0)
    {
        errs.push("check_restart limit and grace must be non-negative".to_string());
    }
    if provider == "nomad" {
        if c.success_before_passing.is_some_and(|v| v != 0)
            || c.failures_before_critical.is_some_and(|v| v != 0)
            || c.failures_before_warning.is_some_and(|v| v != 0)
        {
            errs.push("success_before_passing/failures_before_critical/failures_before_warning are not supported by the nomad provider".to_string());
        }
        if c.check_restart
            .as_ref()
            .is_some_and(|cr| cr.ignore_warnings == Some(true))
        {
            errs.push(
                "check_restart.ignore_warnings is not supported by the nomad provider".to_string(),
            );
        }
    }
    errs
}

fn validate_task(
    t: &Task,
    g: &TaskGroup,
    progress: i64,
    has_update: bool,
    disk: i64,
) -> Vec<String> {
    let mut errs = Vec::new();
    let name = t.name.clone().unwrap_or_default();
    if name.is_empty() {
        errs.push("Missing task name".to_string());
    } else if name == "alloc" || name.contains(['/', '\\', '\0']) {
        errs.push(format!("Task name {name:?} is not allowed"));
    }
    if t.driver.as_deref().unwrap_or("").is_empty() {
        errs.push("Missing task driver".to_string());
    }
    if t.kill_timeout.unwrap_or(0) < 0 {
        errs.push("KillTimeout must be a positive value".to_string());
    } else if has_update && progress > 0 && t.kill_timeout.unwrap_or(5 * SECOND) > progress {
        errs.push("KillTimeout must be less than or equal to the progress deadline".to_string());
    }
    if let Some(r) = &t.resources {
        let cores = r.cores.unwrap_or(0);
        if r.cpu.is_some() && cores > 0 {
            errs.push("Task can only ask for 'cpu' or 'cores' resource, not both.".to_string());
        }
        if cores == 0 && r.cpu.unwrap_or(100) < 1 {
            errs.push(format!(
                "minimum CPU value is 1; got {}",
                r.cpu.unwrap_or(0)
            ));
        }
        let mem = r.memory_mb.unwrap_or(300);
        if mem < 10 {
            errs.push(format!("minimum MemoryMB value is 10; got {mem}"));
        }
        if let Some(max) = r.memory_max_mb
            && max != 0
            && max != -1
            && max < mem
        {
            errs.push(format!(
                "MemoryMaxMB value ({max}) should be larger than MemoryMB value ({mem})"
            ));
        }
        if r.disk_mb.unwrap_or(0) != 0 {
            errs.push("Task can't ask for disk resources, they have to be specified at the task group level.".to_string());
        }
    }
    let log = t.log_config.as_ref();
    let log_mb = log.and_then(|l| l.max_files).unwrap_or(10)
        * log.and_then(|l| l.max_file_size_mb).unwrap_or(10);
    if log_mb >= disk {
        errs.push(format!(
            "log storage ({log_mb} MB) must be less than requested disk capacity ({disk} MB)"
        ));
    }
    let mut destinations = HashSet::new();
    for (i, tmpl) in t.templates.iter().enumerate() {
        let n = i + 1;
        if tmpl.embedded_tmpl.is_none() && tmpl.source_path.is_none() {
            errs.push(format!("Template {n} validation failed: Must specify a source path or have an embedded template"));
        }
        match tmpl.dest_path.as_deref() {
            None | Some("") => errs.push(format!(
                "Template {n} validation failed: Must specify a destination for the template"
            )),
            Some(d) => {
                if d.starts_with("..") || d.contains("/../") {
                    errs.push(format!(
                        "Template {n} validation failed: destination escapes allocation directory"
                    ));
                }
                if !destinations.insert(d.to_string()) {
                    errs.push(format!("Template {n} validation failed: destination {d:?} is used by another template"));
                }
            }
        }
        match tmpl.change_mode.as_deref().unwrap_or("restart") {
            "noop" | "restart" | "script" => {}
            "signal" => {
                if tmpl.change_signal.as_deref().unwrap_or("").is_empty() {
                    errs.push(format!("Template {n} validation failed: Must specify signal value when change mode is signal"));
                }
                if tmpl.envvars == Some(true) {
                    errs.push(format!(
                        "Template {n} validation failed: cannot use signals with env var templates"
                    ));
                }
            }
            other => errs.push(format!(
                "Template {n} validation failed: Invalid change mode ({other})"
            )),
        }
        if let Some(p) = &tmpl.perms
            && u32::from_str_radix(p, 8).is_err()
        {
            errs.push(format!(
                "Template {n} validation failed: Failed to parse {p:?} as octal"
            ));
        }
    }
    if let Some(l) = &t.lifecycle
        && !matches!(
            l.hook.as_deref(),
            Some("prestart" | "poststart" | "poststop")
        )
    {
        errs.push(format!(
            "invalid hook: {:?}",
            l.hook.clone().unwrap_or_default()
        ));
    }
    for vm in &t.volume_mounts {
        let v = vm.volume.clone().unwrap_or_default();
        if !g.volumes.contains_key(&v) {
            errs.push(format!("Volume Mount referenced undefined volume {v}"));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn catches_register_rules() {
        let job: Job =
            serde_json::from_value(json!({"ID": "a b", "TaskGroups": [{"Name": "g", "Count": 5,
            "Scaling": {"Min": 1, "Max": 3},
            "Tasks": [{"Name": "t", "Driver": "docker", "Resources": {"MemoryMB": 4}}]}]}))
            .unwrap();
        let errs = validate_job(&job).join("\n");
        assert!(errs.contains("Job ID contains a space"));
        assert!(errs.contains("greater than maximum count"));
        assert!(errs.contains("minimum MemoryMB value is 10"));
    }
}
