//! Task.Validate and what it calls: resources (Resources.Validate, MeetsMinResources,
//! RequestedDevice.Validate), logs (LogConfig.Validate and the disk they need), templates
//! (Template.Validate, ChangeScript.Validate, WaitConfig.Validate), the lifecycle
//! (TaskLifecycleConfig.Validate) and volume mounts; task-level services are in `services`.

use super::go_duration;
use super::services::validate_task_services;
use crate::nomad::model::{Resources, Task, TaskGroup, Template};
use std::collections::HashMap;

/// What a task's rules need from its group.
pub struct TaskContext<'a> {
    pub group: &'a TaskGroup,
    pub job_type: &'a str,
    /// The group's (canonical, merged) update's progress deadline, if it has an update.
    pub progress_deadline: Option<i64>,
    pub disk_mb: i64,
}

pub fn validate_task(t: &Task, ctx: &TaskContext<'_>) -> Vec<String> {
    let mut errs = Vec::new();
    let name = t.name.as_deref().unwrap_or("");
    if name.is_empty() {
        errs.push("Missing task name".to_string());
    }
    if name.contains(['/', '\\']) {
        errs.push("Task name cannot include slashes".to_string());
    }
    if name.contains('\0') {
        errs.push("Task name cannot include null characters".to_string());
    }
    if t.driver.as_deref().unwrap_or("").is_empty() {
        errs.push("Missing task driver".to_string());
    }
    let kill = t.kill_timeout.unwrap_or(0);
    if kill < 0 {
        errs.push("KillTimeout must be a positive value".to_string());
    }
    // Only service jobs, and only against a group update: every service group has one after
    // canonicalization (the default's progress deadline is 10m).
    if ctx.job_type == "service"
        && let Some(pd) = ctx.progress_deadline.filter(|pd| *pd > 0)
        && kill > pd
    {
        errs.push(format!(
            "KillTimout ({}) longer than the group's ProgressDeadline ({})",
            go_duration(kill),
            go_duration(pd)
        ));
    }
    if t.shutdown_delay.is_some_and(|d| d < 0) {
        errs.push("ShutdownDelay must be a positive value".to_string());
    }
    if let Some(r) = &t.resources {
        validate_resources(r, &mut errs);
    }
    if let Some(log) = &t.log_config {
        let files = log.max_files.unwrap_or(10);
        let size = log.max_file_size_mb.unwrap_or(10);
        if files < 1 {
            errs.push(format!("minimum number of files is 1; got {files}"));
        }
        if size < 1 {
            errs.push(format!("minimum file size is 1MB; got {size}"));
        }
        let usage = files * size;
        if ctx.disk_mb <= usage {
            errs.push(format!(
                "log storage ({usage} MB) must be less than requested disk capacity ({} MB)",
                ctx.disk_mb
            ));
        }
    }
    errs.extend(validate_task_services(t, ctx.group));
    validate_templates(&t.templates, &mut errs);
    if let Some(l) = &t.lifecycle {
        // TaskLifecycleConfig.Validate; an empty hook was dropped by canonicalization.
        let hook = l.hook.as_deref().unwrap_or("");
        if !matches!(hook, "prestart" | "poststart" | "poststop") {
            errs.push(format!("Lifecycle validation failed: invalid hook: {hook}"));
        }
    }
    for (i, vm) in t.volume_mounts.iter().enumerate() {
        let v = vm.volume.as_deref().unwrap_or("");
        if v.is_empty() {
            errs.push(format!("Volume Mount ({i}) references an empty volume"));
        } else if !super::volumes::is_kept(ctx.group, v) {
            errs.push(format!(
                "Volume Mount ({i}) references undefined volume {v}"
            ));
        }
    }
    errs
}

/// Resources.Validate with MeetsMinResources and RequestedDevice.Validate, on canonical
/// resources (CPU 100 and memory 300 unless set; CPU 0 when cores are asked for).
fn validate_resources(r: &Resources, errs: &mut Vec<String>) {
    let cpu = r.cpu.unwrap_or(0);
    let cores = r.cores.unwrap_or(0);
    let mem = r.memory_mb.unwrap_or(0);
    if cpu < 1 && cores == 0 {
        errs.push(format!("minimum CPU value is 1; got {cpu}"));
    }
    if mem < 10 {
        errs.push(format!("minimum MemoryMB value is 10; got {mem}"));
    }
    if cores > 0 && cpu > 0 {
        errs.push("Task can only ask for 'cpu' or 'cores' resource, not both.".to_string());
    }
    if r.disk_mb.unwrap_or(0) > 0 {
        errs.push(
            "Task can't ask for disk resources, they have to be specified at the task group level."
                .to_string(),
        );
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
    if let Some(secrets) = r.secrets_mb {
        if secrets > mem {
            errs.push(format!(
                "SecretsMB value ({secrets}) cannot be larger than MemoryMB value ({mem})"
            ));
        }
        if secrets < 0 {
            errs.push(format!("SecretsMB value ({secrets}) cannot be negative"));
        }
    }
    for (i, d) in r.devices.iter().enumerate() {
        let name = d.name.as_deref().unwrap_or("");
        let parts: Vec<&str> = name.split('/').collect();
        if name.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            errs.push(format!("device {i} failed validation: device name must be given as one of the following: type, vendor/type, or vendor/type/name"));
        }
    }
}

/// Template.Validate for each template, then Task.Validate's unique destinations.
fn validate_templates(templates: &[Template], errs: &mut Vec<String>) {
    let mut destinations: HashMap<&str, usize> = HashMap::new();
    for (i, t) in templates.iter().enumerate() {
        let n = i + 1;
        for e in validate_template(t) {
            errs.push(format!("Template {n} validation failed: {e}"));
        }
        if let Some(d) = t.dest_path.as_deref().filter(|d| !d.is_empty()) {
            match destinations.get(d) {
                Some(first) => errs.push(format!("Template {n} has same destination as {first}")),
                None => {
                    destinations.insert(d, n);
                }
            }
        }
    }
}

fn validate_template(t: &Template) -> Vec<String> {
    let mut errs = Vec::new();
    // api Canonicalize makes nil "", so an empty string is as good as none.
    let source = t.source_path.as_deref().unwrap_or("");
    let embedded = t.embedded_tmpl.as_deref().unwrap_or("");
    if source.is_empty() && embedded.is_empty() {
        errs.push("Must specify a source path or have an embedded template".to_string());
    }
    match t.dest_path.as_deref().unwrap_or("") {
        "" => errs.push("Must specify a destination for the template".to_string()),
        dest if escapes_alloc_dir(dest) => {
            errs.push("destination escapes allocation directory".to_string())
        }
        _ => {}
    }
    match t.change_mode.as_deref().unwrap_or("restart") {
        "noop" | "restart" => {}
        "signal" => {
            if t.change_signal.as_deref().unwrap_or("").is_empty() {
                errs.push("Must specify signal value when change mode is signal".to_string());
            }
            if t.envvars == Some(true) {
                errs.push("cannot use signals with env var templates".to_string());
            }
        }
        "script" => match &t.change_script {
            None => errs.push(
                "must specify change script configuration value when change mode is script"
                    .to_string(),
            ),
            Some(cs) if cs.command.as_deref().unwrap_or("").is_empty() => {
                errs.push("must specify script path value when change mode is script".to_string())
            }
            Some(_) => {}
        },
        _ => errs.push(
            "Invalid change mode. Must be one of the following: noop, signal, script, restart"
                .to_string(),
        ),
    }
    if t.splay.is_some_and(|s| s < 0) {
        errs.push("Must specify positive splay value".to_string());
    }
    if let Some(p) = &t.perms
        && let Err(e) = parse_perms(p)
    {
        errs.push(format!("Failed to parse {p:?} as octal: {e}"));
    }
    if let Some(w) = &t.wait
        && let (Some(min), Some(max)) = (w.min, w.max)
        && min > max
    {
        errs.push(format!(
            "wait min {} is greater than max {}",
            go_duration(min),
            go_duration(max)
        ));
    }
    errs
}

/// Go's `strconv.ParseUint(perms, 8, 12)`, with its error text.
fn parse_perms(p: &str) -> Result<u64, String> {
    let err = |what: &str| format!("strconv.ParseUint: parsing {p:?}: {what}");
    if p.is_empty() || !p.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(err("invalid syntax"));
    }
    match u64::from_str_radix(p, 8) {
        Ok(v) if v < 1 << 12 => Ok(v),
        _ => Err(err("value out of range")),
    }
}

/// helper/escapingfs `PathEscapesAllocViaRelative("task", dest)`: the destination, joined to
/// `<alloc>/task` and cleaned, must stay inside the allocation directory, so `../alloc/x` and
/// `/etc/x` (joined, not absolute) are fine and `../../x` is not.
fn escapes_alloc_dir(dest: &str) -> bool {
    let mut depth: Vec<&str> = vec!["task"];
    for part in dest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return true;
                }
            }
            p => depth.push(p),
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_escape_only_the_alloc_dir() {
        assert!(!escapes_alloc_dir("local/x"));
        assert!(!escapes_alloc_dir("../alloc/x"));
        assert!(!escapes_alloc_dir("/etc/x"));
        assert!(escapes_alloc_dir("../../x"));
        assert!(escapes_alloc_dir("local/../../../x"));
    }

    #[test]
    fn perms_parse_as_go_does() {
        assert_eq!(parse_perms("0644"), Ok(0o644));
        assert_eq!(parse_perms("7777"), Ok(0o7777));
        assert!(
            parse_perms("10000")
                .unwrap_err()
                .ends_with("value out of range")
        );
        assert!(
            parse_perms("0o644")
                .unwrap_err()
                .ends_with("invalid syntax")
        );
        assert!(parse_perms("").unwrap_err().ends_with("invalid syntax"));
    }
}
