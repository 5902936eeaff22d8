//! The group's volume requests: nomad/structs/volumes.go `VolumeRequest.Validate(jobType,
//! taskGroupCount, canaries)`, wrapped as TaskGroup.Validate wraps it. A volume whose type is
//! neither `host` nor `csi` is dropped by the HTTP agent (command/agent/job_endpoint.go
//! `ApiTgToStructsTG`), so a mount of it references an undefined volume.
//!
//! Not here: host volumes' access and attachment modes, which Nomad 1.10's dynamic host volumes
//! changed (the version of the rule we could read predates them).

use crate::nomad::model::{TaskGroup, VolumeRequest};

/// Whether Nomad keeps the group's volume `name` (it exists and is host or csi).
pub fn is_kept(g: &TaskGroup, name: &str) -> bool {
    g.volumes
        .get(name)
        .is_some_and(|v| matches!(v.type_.as_deref(), Some("host" | "csi")))
}

pub fn validate_volumes(g: &TaskGroup, job_type: &str, count: i64, canaries: i64) -> Vec<String> {
    let mut errs = Vec::new();
    for (name, v) in &g.volumes {
        if !matches!(v.type_.as_deref(), Some("host" | "csi")) {
            continue;
        }
        for e in validate_volume(v, job_type, count, canaries) {
            errs.push(format!(
                "Task group volume validation for {name} failed: {e}"
            ));
        }
    }
    errs
}

fn validate_volume(v: &VolumeRequest, job_type: &str, count: i64, canaries: i64) -> Vec<String> {
    let mut errs = Vec::new();
    if v.source.as_deref().unwrap_or("").is_empty() {
        errs.push("volume has an empty source".to_string());
    }
    let per_alloc = v.per_alloc == Some(true);
    if per_alloc {
        if matches!(job_type, "system" | "sysbatch") {
            errs.push("volume cannot be per_alloc for system or sysbatch jobs".to_string());
        }
        if canaries > 0 {
            errs.push("volume cannot be per_alloc when canaries are in use".to_string());
        }
    }
    if v.type_.as_deref() != Some("csi") {
        return errs;
    }
    let attachment = v.attachment_mode.as_deref().unwrap_or("");
    if attachment.is_empty() {
        errs.push("CSI volumes must have an attachment mode".to_string());
    }
    if attachment == "block-device" && v.mount_options.is_some() {
        errs.push("block devices cannot have mount options".to_string());
    }
    let read_only = v.read_only == Some(true);
    let shared = count > 1 && !per_alloc;
    match v.access_mode.as_deref().unwrap_or("") {
        "" => errs.push("CSI volumes must have an access mode".to_string()),
        mode @ "single-node-reader-only" => {
            if !read_only {
                errs.push(format!("{mode} volumes must be read-only"));
            }
            if shared {
                errs.push(format!(
                    "volume with {mode} access mode allows only one reader"
                ));
            }
        }
        mode @ "single-node-writer" if shared => errs.push(format!(
            "volume with {mode} access mode allows only one reader or writer"
        )),
        mode @ "multi-node-reader-only" if !read_only => {
            errs.push(format!("{mode} volumes must be read-only"))
        }
        mode @ "multi-node-single-writer" if !read_only && count > 1 => errs.push(format!(
            "volume with {mode} access mode allows only one writer"
        )),
        _ => {}
    }
    errs
}
