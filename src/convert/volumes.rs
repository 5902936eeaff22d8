//! Volumes: secret and configMap volumes become templates rendered into the task's directory
//! and bind-mounted where the container expects them; emptyDir becomes a directory in the
//! shared allocation dir (tmpfs for medium Memory); PVCs become CSI volume requests.

use super::Ctx;
use super::env::{item_name, variable_path};
use super::references::Resolved;
use crate::knative::model::RevisionSpec;
use crate::knative::resources::ResourceKind;
use crate::nomad::model::{Task, TaskGroup, Template, VolumeMount, VolumeRequest};
use k8s_openapi::api::core::v1::{Container, KeyToPath, Volume};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One file a secret/configMap volume provides.
#[derive(Debug, Clone)]
struct VolumeFile {
    /// Path inside the volume.
    path: String,
    source: FileSource,
    mode: Option<i32>,
    /// Where its content or key name came from, for `--annotate`.
    origin: Option<String>,
}

#[derive(Debug, Clone)]
enum FileSource {
    /// Known content (a ConfigMap among the inputs).
    Inline(String),
    /// An item of the task's Nomad Variable.
    Variable { item: String },
}

#[derive(Debug, Clone)]
enum VolumeKind {
    Files {
        files: Vec<VolumeFile>,
        secret: bool,
    },
    EmptyDir {
        memory: bool,
        size_mb: Option<i64>,
    },
    Csi {
        read_only: bool,
    },
}

#[derive(Debug, Default)]
pub struct VolumePlan {
    volumes: BTreeMap<String, VolumeKind>,
    pub group_volumes: BTreeMap<String, VolumeRequest>,
}

pub fn plan(ctx: &mut Ctx<'_>, spec: &RevisionSpec) -> Option<VolumePlan> {
    let mut plan = VolumePlan::default();
    for (i, v) in spec.volumes.iter().enumerate() {
        let path = format!("spec.template.spec.volumes[{i}]");
        if let Some(kind) = volume_kind(ctx, v, &path) {
            if let VolumeKind::Csi { read_only } = &kind
                && let Some(claim) = &v.persistent_volume_claim
            {
                plan.group_volumes.insert(
                    v.name.clone(),
                    VolumeRequest {
                        name: Some(v.name.clone()),
                        type_: Some("csi".to_string()),
                        source: Some(claim.claim_name.clone()),
                        read_only: Some(*read_only),
                        access_mode: Some(
                            if *read_only {
                                "single-node-reader-only"
                            } else {
                                "single-node-writer"
                            }
                            .to_string(),
                        ),
                        attachment_mode: Some("file-system".to_string()),
                        ..VolumeRequest::default()
                    },
                );
            }
            plan.volumes.insert(v.name.clone(), kind);
        }
    }
    // Every mount must name a volume (Knative validates the same).
    for (field, containers) in [
        ("containers", &spec.containers),
        ("initContainers", &spec.init_containers),
    ] {
        for (ci, c) in containers.iter().enumerate() {
            for (mi, m) in c.volume_mounts.iter().flatten().enumerate() {
                let path = format!("spec.template.spec.{field}[{ci}].volumeMounts[{mi}]");
                if !spec.volumes.iter().any(|v| v.name == m.name) {
                    ctx.report(
                        "K2N015",
                        &format!("{path}.name"),
                        format!(
                            "volumeMount names volume {:?}, which is not declared",
                            m.name
                        ),
                    );
                }
                if !m.mount_path.starts_with('/')
                    || matches!(m.mount_path.as_str(), "/" | "/dev" | "/dev/log")
                {
                    ctx.report(
                        "K2N015",
                        &format!("{path}.mountPath"),
                        format!(
                            "mountPath {:?} must be absolute and not /, /dev or /dev/log",
                            m.mount_path
                        ),
                    );
                }
            }
        }
    }
    if ctx.has_errors() { None } else { Some(plan) }
}

fn volume_kind(ctx: &mut Ctx<'_>, v: &Volume, path: &str) -> Option<VolumeKind> {
    if let Some(secret) = &v.secret {
        let name = secret.secret_name.clone().unwrap_or_default();
        let files = secret_files(
            ctx,
            &name,
            secret.items.as_deref(),
            secret.default_mode,
            path,
        );
        return Some(VolumeKind::Files {
            files,
            secret: true,
        });
    }
    if let Some(cm) = &v.config_map {
        let files = config_map_files(
            ctx,
            &cm.name,
            cm.items.as_deref(),
            cm.default_mode,
            cm.optional,
            path,
        );
        return Some(VolumeKind::Files {
            files,
            secret: false,
        });
    }
    if let Some(projected) = &v.projected {
        let mut files = Vec::new();
        let mut secret = false;
        for (i, s) in projected.sources.iter().flatten().enumerate() {
            let spath = format!("{path}.projected.sources[{i}]");
            if let Some(sec) = &s.secret {
                secret = true;
                files.extend(secret_files(
                    ctx,
                    &sec.name,
                    sec.items.as_deref(),
                    projected.default_mode,
                    &spath,
                ));
            } else if let Some(cm) = &s.config_map {
                files.extend(config_map_files(
                    ctx,
                    &cm.name,
                    cm.items.as_deref(),
                    projected.default_mode,
                    cm.optional,
                    &spath,
                ));
            } else {
                ctx.report("K2N034", &spath, "projected serviceAccountToken, downwardAPI and clusterTrustBundle sources have no Nomad equivalent (use workload identity)");
            }
        }
        return Some(VolumeKind::Files { files, secret });
    }
    if let Some(empty) = &v.empty_dir {
        let size_mb = empty
            .size_limit
            .as_ref()
            .and_then(|q| super::quantity::Quantity::parse(&q.0).ok())
            .and_then(|q| q.mebibytes_ceil())
            .map(|m| m.min(i64::MAX as u128) as i64);
        return Some(VolumeKind::EmptyDir {
            memory: empty.medium.as_deref() == Some("Memory"),
            size_mb,
        });
    }
    if let Some(pvc) = &v.persistent_volume_claim {
        ctx.report(
            "K2N034",
            &format!("{path}.persistentVolumeClaim"),
            format!("PersistentVolumeClaim {:?} becomes a CSI volume request; register a Nomad CSI volume with that ID", pvc.claim_name),
        );
        return Some(VolumeKind::Csi {
            read_only: pvc.read_only == Some(true),
        });
    }
    ctx.report("K2N034", path, format!("volume {:?} has a kind Knative does not allow or Nomad cannot provide; it is not converted", v.name));
    None
}

fn secret_files(
    ctx: &mut Ctx<'_>,
    name: &str,
    items: Option<&[KeyToPath]>,
    mode: Option<i32>,
    path: &str,
) -> Vec<VolumeFile> {
    let mut origin = None;
    let keys: Vec<(String, String, Option<i32>)> = match items {
        Some(items) if !items.is_empty() => items
            .iter()
            .map(|i| (i.key.clone(), i.path.clone(), i.mode.or(mode)))
            .collect(),
        _ => match ctx.resolve(ResourceKind::Secret, name, path) {
            Resolved::Definition(definition) => {
                origin = Some(format!(
                    "key names of Secret {name} from {}",
                    definition.origin()
                ));
                definition
                    .secret_keys()
                    .into_iter()
                    .flatten()
                    .map(|k| (k.clone(), k.clone(), mode))
                    .collect()
            }
            Resolved::Ambiguous => return Vec::new(),
            Resolved::Missing => {
                ctx.report("K2N046", path, format!("keys of Secret {name:?} are unknown (it is not among the inputs); list them under items"));
                return Vec::new();
            }
        },
    };
    ctx.report(
        "K2N027",
        path,
        format!("Secret {name:?} files are rendered from a Nomad Variable"),
    );
    keys.into_iter()
        .map(|(key, file, mode)| VolumeFile {
            path: file,
            source: FileSource::Variable {
                item: item_name(name, &key),
            },
            mode,
            origin: origin.clone(),
        })
        .collect()
}

fn config_map_files(
    ctx: &mut Ctx<'_>,
    name: &str,
    items: Option<&[KeyToPath]>,
    mode: Option<i32>,
    optional: Option<bool>,
    path: &str,
) -> Vec<VolumeFile> {
    let found = match ctx.resolve(ResourceKind::ConfigMap, name, path) {
        Resolved::Definition(definition) => definition.data().map(|d| (d, definition.origin())),
        Resolved::Ambiguous => return Vec::new(),
        Resolved::Missing => None,
    };
    let data = found.as_ref().map(|(d, _)| *d);
    let wanted: Option<Vec<(String, String, Option<i32>)>> = match items {
        Some(items) if !items.is_empty() => Some(
            items
                .iter()
                .map(|i| (i.key.clone(), i.path.clone(), i.mode.or(mode)))
                .collect(),
        ),
        _ => data.map(|d| d.keys().map(|k| (k.clone(), k.clone(), mode)).collect()),
    };
    let Some(wanted) = wanted else {
        if optional != Some(true) {
            ctx.report(
                "K2N028",
                path,
                format!("ConfigMap {name:?} is not among the inputs"),
            );
            ctx.report(
                "K2N046",
                path,
                format!("keys of ConfigMap {name:?} are unknown, so its files cannot be listed"),
            );
        }
        return Vec::new();
    };
    if data.is_none() && optional != Some(true) {
        ctx.report("K2N028", path, format!("ConfigMap {name:?} is not among the inputs; its files are read from a Nomad Variable"));
    }
    wanted
        .into_iter()
        .map(|(key, file, mode)| {
            let inline = found
                .as_ref()
                .and_then(|(d, origin)| d.get(&key).map(|content| (content, origin)));
            VolumeFile {
                path: file,
                origin: inline
                    .map(|(_, origin)| format!("ConfigMap {name} key {key} from {origin}")),
                source: match inline {
                    Some((content, _)) => FileSource::Inline(content.clone()),
                    None => FileSource::Variable {
                        item: item_name(name, &key),
                    },
                },
                mode,
            }
        })
        .collect()
}

impl VolumePlan {
    /// Adds the templates, docker mounts and volume_mounts for the container's volumeMounts.
    pub fn apply_to_task(
        &self,
        ctx: &mut Ctx<'_>,
        c: &Container,
        path: &str,
        task_name: &str,
        task: &mut Task,
    ) {
        let group = ctx.job_id.clone();
        let var_path = variable_path(ctx, &group, task_name);
        let mut mounts: Vec<Value> = Vec::new();
        for (mi, m) in c.volume_mounts.iter().flatten().enumerate() {
            let mpath = format!("{path}.volumeMounts[{mi}]");
            let Some(kind) = self.volumes.get(&m.name) else {
                continue;
            };
            let sub = m.sub_path.clone().filter(|s| !s.is_empty());
            match kind {
                VolumeKind::Files { files, secret } => {
                    let base = if *secret { "secrets" } else { "local" };
                    let dir = format!("{base}/{}", m.name);
                    for f in files {
                        if sub.as_deref().is_some_and(|s| s != f.path) {
                            continue;
                        }
                        let dest = format!("{dir}/{}", f.path);
                        if task
                            .templates
                            .iter()
                            .any(|t| t.dest_path.as_deref() == Some(dest.as_str()))
                        {
                            continue;
                        }
                        let tp = ctx.task_path(task_name);
                        let mut note = format!("{mpath}: volume {:?} file {}", m.name, f.path);
                        if let Some(origin) = &f.origin {
                            note.push_str(", ");
                            note.push_str(origin);
                        }
                        ctx.note(
                            format!("{tp}/{}", super::nth("template", task.templates.len())),
                            note,
                        );
                        task.templates.push(file_template(ctx, &var_path, f, dest));
                    }
                    let source = match &sub {
                        Some(s) => format!("{dir}/{s}"),
                        None => dir,
                    };
                    mounts.push(json!({"type": "bind", "source": source, "target": m.mount_path, "readonly": true}));
                    if m.read_only == Some(false) {
                        ctx.report("K2N015", &format!("{mpath}.readOnly"), "secret and configMap mounts are always read-only in Knative; mounted read-only");
                    }
                }
                VolumeKind::EmptyDir {
                    memory: true,
                    size_mb,
                } => {
                    let mut mount = json!({"type": "tmpfs", "target": m.mount_path, "readonly": m.read_only == Some(true)});
                    if let Some(size) = size_mb {
                        // A list of one object: what Nomad's jobspec2 decodes from the block
                        // `tmpfs_options { size = N }`, so the JSON equals `nomad job inspect`
                        // of a job run from the HCL.
                        mount["tmpfs_options"] = json!([{"size": size * 1024 * 1024}]);
                    }
                    mounts.push(mount);
                }
                VolumeKind::EmptyDir { memory: false, .. } => {
                    // The allocation's shared data dir, like a pod-scoped emptyDir: every task of
                    // the group sees the same directory, and it lives as long as the allocation.
                    let mut source = format!("../alloc/data/{}", m.name);
                    if let Some(s) = &sub {
                        source = format!("{source}/{s}");
                    }
                    mounts.push(json!({"type": "bind", "source": source, "target": m.mount_path, "readonly": m.read_only == Some(true)}));
                }
                VolumeKind::Csi { read_only } => task.volume_mounts.push(VolumeMount {
                    volume: Some(m.name.clone()),
                    destination: Some(m.mount_path.clone()),
                    read_only: Some(*read_only || m.read_only == Some(true)),
                    ..VolumeMount::default()
                }),
            }
        }
        if !mounts.is_empty() {
            task.config
                .insert("mount".to_string(), Value::Array(mounts));
        }
    }
}

/// The template of an empty file: a Go text/template comment (default delimiters), which
/// consul-template renders as nothing.
pub const EMPTY_FILE_TEMPLATE: &str = "{{/* empty */}}";

/// A PVC mounted by a group that runs or may run more than one instance: Knative's replicas
/// all mount the same claim. Nomad refuses a single-node access mode when the group's count is
/// above 1 (nomad/structs/volumes.go VolumeRequest.Validate: "volume with single-node-writer
/// access mode allows only one reader or writer"), so such a group asks for the multi-node mode,
/// which the registered CSI volume must offer. A group of one that may scale up keeps the
/// single-node mode (the volume may offer nothing else), and is told that more instances
/// cannot claim it.
pub fn share_claims(ctx: &mut Ctx<'_>, spec: &RevisionSpec, group: &mut TaskGroup) {
    let count = group.count.unwrap_or(1);
    let max = group.scaling.as_ref().and_then(|s| s.max).unwrap_or(count);
    if count.max(max) <= 1 {
        return;
    }
    let g = ctx.group_path();
    for (name, volume) in &mut group.volumes {
        let (single, shared) = match volume.access_mode.as_deref() {
            Some(m @ "single-node-writer") => (m, "multi-node-multi-writer"),
            Some(m @ "single-node-reader-only") => (m, "multi-node-reader-only"),
            _ => continue,
        };
        let i = spec
            .volumes
            .iter()
            .position(|v| &v.name == name)
            .unwrap_or(0);
        let path = format!("spec.template.spec.volumes[{i}].persistentVolumeClaim");
        if count > 1 {
            ctx.report(
                "K2N101",
                &path,
                format!("{count} instances share volume {name:?}: Nomad refuses {single} for more than one, so the CSI volume request asks for {shared}, which the Nomad volume must support"),
            );
            ctx.note(
                format!("{g}/volume[{name}]/access_mode"),
                format!("{shared}: {count} instances mount the claim"),
            );
            volume.access_mode = Some(shared.to_string());
        } else {
            ctx.report(
                "K2N101",
                &path,
                format!("the group may scale to {max} instances, but only one can claim {single} volume {name:?}; register it with {shared} and change access_mode, or set max-scale 1"),
            );
        }
    }
}

fn file_template(ctx: &mut Ctx<'_>, var_path: &str, f: &VolumeFile, dest: String) -> Template {
    let mode = f.mode.unwrap_or(0o644);
    let mut t = Template {
        dest_path: Some(dest),
        perms: Some(format!("{mode:o}")),
        change_mode: Some("restart".to_string()),
        ..Template::default()
    };
    match &f.source {
        FileSource::Inline(content) if content.is_empty() => {
            // Nomad refuses a template with no content ("Must specify a source path or have an
            // embedded template", nomad/structs Template.Validate); a Go template comment is
            // content that renders nothing, so the file is still empty.
            t.embedded_tmpl = Some(EMPTY_FILE_TEMPLATE.to_string());
        }
        FileSource::Inline(content) => {
            // Literal content: pick delimiters the content does not contain, so consul-template
            // renders it verbatim.
            if content.contains("{{") || content.contains("}}") {
                t.left_delim = Some("[[k2n:".to_string());
                t.right_delim = Some(":k2n]]".to_string());
            }
            t.embedded_tmpl = Some(content.clone());
        }
        FileSource::Variable { item } => {
            ctx.variables
                .entry(var_path.to_string())
                .or_default()
                .insert(item.clone());
            t.embedded_tmpl = Some(format!(
                "{{{{ with nomadVar \"{var_path}\" }}}}{{{{ .{item} }}}}{{{{ end }}}}"
            ));
        }
    }
    t
}
