//! Containers → Nomad docker tasks: which container serves, its port, the docker config and
//! lifecycle of init containers. Their resources are in `resources.rs`.

use super::volumes::VolumePlan;
use super::{Ctx, SECOND, env, is_dns1123_label, resources};
use crate::knative::model::{KnativeService, RevisionSpec, default_container_name};
use crate::nomad::model::{Task, TaskLifecycle};
use k8s_openapi::api::core::v1::Container;
use serde_json::{Value, json};

/// Ports Knative's queue-proxy and autoscaler use (pkg/networking/constants.go).
const RESERVED_PORTS: &[i32] = &[8012, 8013, 8022, 8008, 9090, 9091];
/// Nomad clients refuse longer kill timeouts by default (client `max_kill_timeout`).
const MAX_KILL_TIMEOUT_SECONDS: i64 = 30;
/// Knative's default `revision-timeout-seconds`.
const DEFAULT_TIMEOUT_SECONDS: i64 = 300;

/// The port the serving container listens on.
#[derive(Debug, Clone)]
pub struct ServingPort {
    pub number: u16,
    /// `h2c`: HTTP/2 cleartext (gRPC).
    pub h2c: bool,
}

/// Index of the serving container: the only one, or the one with a port.
pub fn serving_container(ctx: &mut Ctx<'_>, spec: &RevisionSpec) -> Option<usize> {
    if spec.containers.len() == 1 {
        return Some(0);
    }
    let with_ports: Vec<usize> = spec
        .containers
        .iter()
        .enumerate()
        .filter(|(_, c)| c.ports.as_ref().is_some_and(|p| !p.is_empty()))
        .map(|(i, _)| i)
        .collect();
    match with_ports.as_slice() {
        [one] => Some(*one),
        [] => {
            ctx.report(
                "K2N010",
                "spec.template.spec.containers",
                "with several containers, exactly one must declare a port (the serving container); none does",
            );
            None
        }
        [_, second, ..] => {
            ctx.report(
                "K2N010",
                &format!("spec.template.spec.containers[{second}].ports"),
                "more than one container port is set; Knative allows one, on the serving container",
            );
            None
        }
    }
}

pub fn serving_port(ctx: &mut Ctx<'_>, spec: &RevisionSpec, serving: usize) -> Option<ServingPort> {
    let path = format!("spec.template.spec.containers[{serving}].ports");
    let ports = spec.containers[serving].ports.clone().unwrap_or_default();
    if ports.len() > 1 {
        ctx.report(
            "K2N010",
            &format!("{path}[1]"),
            format!(
                "{} ports are declared; Knative allows exactly one",
                ports.len()
            ),
        );
        return None;
    }
    let Some(port) = ports.first() else {
        return Some(ServingPort {
            number: 8080,
            h2c: false,
        });
    };
    let name = port.name.as_deref().unwrap_or("");
    if !matches!(name, "" | "http1" | "h2c") {
        ctx.report(
            "K2N010",
            &format!("{path}[0].name"),
            format!("port name {name:?} is not allowed; use http1 or h2c (or none)"),
        );
        return None;
    }
    if let Some(protocol) = &port.protocol
        && protocol != "TCP"
    {
        ctx.report(
            "K2N010",
            &format!("{path}[0].protocol"),
            format!("protocol {protocol} is not allowed; Knative serves TCP only"),
        );
        return None;
    }
    let number = if port.container_port == 0 {
        8080
    } else {
        port.container_port
    };
    if !(1..=65535).contains(&number) {
        ctx.report(
            "K2N010",
            &format!("{path}[0].containerPort"),
            format!("containerPort {number} is out of range 1-65535"),
        );
        return None;
    }
    if RESERVED_PORTS.contains(&number) {
        ctx.report(
            "K2N011",
            &format!("{path}[0].containerPort"),
            format!("port {number} is reserved by Knative"),
        );
        return None;
    }
    if port.host_port.is_some() || port.host_ip.is_some() {
        ctx.report(
            "K2N010",
            &format!("{path}[0]"),
            "hostPort and hostIP are not allowed by Knative",
        );
        return None;
    }
    Some(ServingPort {
        number: u16::try_from(number).unwrap_or(8080),
        h2c: name == "h2c",
    })
}

/// Builds one task per init container (prestart) and container.
pub fn tasks(
    ctx: &mut Ctx<'_>,
    svc: &KnativeService,
    serving: usize,
    port: &ServingPort,
    revision: &str,
    volumes: &VolumePlan,
) -> Option<Vec<Task>> {
    let spec = &svc.spec.template.spec;
    let service_name = svc.metadata.name.clone().unwrap_or_default();
    let kill_timeout = kill_timeout(ctx, spec);
    let mut tasks = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    let groups = [
        ("initContainers", &spec.init_containers, true),
        ("containers", &spec.containers, false),
    ];
    for (field, containers, is_init) in groups {
        for (i, c) in containers.iter().enumerate() {
            let path = format!("spec.template.spec.{field}[{i}]");
            let name = if c.name.is_empty() {
                if is_init {
                    format!("init-container-{i}")
                } else {
                    default_container_name(i, containers.len())
                }
            } else {
                c.name.clone()
            };
            if !is_dns1123_label(&name) || name == "queue-proxy" {
                ctx.report(
                    "K2N004",
                    &format!("{path}.name"),
                    format!(
                        "container name {name:?} is not allowed (DNS-1123 label, not queue-proxy)"
                    ),
                );
                continue;
            }
            if !names.insert(name.clone()) {
                ctx.report(
                    "K2N004",
                    &format!("{path}.name"),
                    format!("container name {name:?} is used twice"),
                );
                continue;
            }
            let is_serving = !is_init && i == serving;
            let image = c.image.clone().unwrap_or_default();
            if image.trim().is_empty() {
                ctx.report("K2N003", &path, format!("container {name:?} has no image"));
                continue;
            }
            if image.starts_with("ko://") {
                ctx.report(
                    "K2N112",
                    &format!("{path}.image"),
                    format!("image {image:?} is a ko build reference, not an image Nomad can pull"),
                );
                continue;
            }
            let mut task = Task {
                name: Some(name.clone()),
                driver: Some("docker".to_string()),
                kill_timeout: Some(kill_timeout),
                ..Task::default()
            };
            if is_init {
                task.lifecycle = Some(TaskLifecycle {
                    hook: Some("prestart".to_string()),
                    sidecar: Some(false),
                });
            } else if is_serving && spec.containers.len() > 1 {
                task.leader = Some(true);
            }
            task.config = docker_config(ctx, c, &path, &image, is_serving);
            let tp = ctx.task_path(&name);
            let short = path.trim_start_matches("spec.template.spec.").to_string();
            ctx.note(format!("{tp}/config/image"), format!("{short}.image"));
            if task.config.contains_key("entrypoint") {
                ctx.note(
                    format!("{tp}/config/entrypoint"),
                    format!("{short}.command (replaces the image ENTRYPOINT)"),
                );
            }
            if task.config.contains_key("args") {
                ctx.note(format!("{tp}/config/args"), format!("{short}.args"));
            }
            if task.config.contains_key("force_pull") {
                ctx.note(
                    format!("{tp}/config/force_pull"),
                    format!("{short}.imagePullPolicy Always"),
                );
            }
            ctx.note(
                format!("{tp}/kill_timeout"),
                format!(
                    "timeoutSeconds {} capped at 30s (Nomad client max_kill_timeout)",
                    spec.timeout_seconds
                        .filter(|t| *t > 0)
                        .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
                ),
            );
            if is_init {
                ctx.note(
                    format!("{tp}/lifecycle"),
                    format!("{short} (init container)"),
                );
            }
            if task.leader == Some(true) {
                ctx.note(
                    format!("{tp}/leader"),
                    "serving container: the others stop with it",
                );
            }
            if let Some(user) = run_as_user(c) {
                task.user = Some(user);
            }
            let context = env::TaskEnvContext {
                path: &path,
                task_name: &name,
                group_name: &service_name,
                service_name: &service_name,
                revision,
                port: if is_serving { Some(port.number) } else { None },
                is_init,
            };
            let (environment, templates) = env::task_env(ctx, c, &context);
            task.env = environment;
            task.templates = templates;
            volumes.apply_to_task(ctx, c, &path, &name, &mut task);
            task.resources = Some(resources::resources(ctx, c, &path, &tp));
            report_container_fields(ctx, c, &path, is_serving);
            tasks.push(task);
        }
    }
    if ctx.has_errors() { None } else { Some(tasks) }
}

/// Knative gives a pod `timeoutSeconds` to finish requests when it stops it; Nomad's
/// equivalent is kill_timeout, which clients cap at 30s unless configured otherwise.
fn kill_timeout(ctx: &mut Ctx<'_>, spec: &RevisionSpec) -> i64 {
    let path = "spec.template.spec.timeoutSeconds";
    let timeout = match spec.timeout_seconds {
        Some(t) if t < 0 => {
            ctx.report("K2N002", path, format!("timeoutSeconds {t} is negative"));
            DEFAULT_TIMEOUT_SECONDS
        }
        // Knative's webhook writes its default into every Service it stores, so a Service read
        // from a cluster says `timeoutSeconds: 300` where its author wrote nothing.
        Some(0) | None => DEFAULT_TIMEOUT_SECONDS,
        Some(DEFAULT_TIMEOUT_SECONDS) => DEFAULT_TIMEOUT_SECONDS,
        Some(t) => {
            ctx.report(
                "K2N023",
                path,
                format!(
                    "timeoutSeconds {t} limits each request in Knative; Nomad does not enforce it (kill_timeout is {}s)",
                    t.min(MAX_KILL_TIMEOUT_SECONDS)
                ),
            );
            t
        }
    };
    timeout.min(MAX_KILL_TIMEOUT_SECONDS) * SECOND
}

fn docker_config(
    ctx: &mut Ctx<'_>,
    c: &Container,
    path: &str,
    image: &str,
    is_serving: bool,
) -> serde_json::Map<String, Value> {
    let mut config = serde_json::Map::new();
    config.insert("image".into(), json!(image));
    let last = image.rsplit('/').next().unwrap_or(image);
    if !image.contains('@') && (!last.contains(':') || last.ends_with(":latest")) {
        ctx.report(
            "K2N035",
            &format!("{path}.image"),
            format!("image {image:?} is not pinned to a digest; Knative would run the digest it resolved at deploy time"),
        );
    }
    // Kubernetes `command` replaces the image ENTRYPOINT (docker's `entrypoint`), `args`
    // replaces CMD (docker's `args`); docker's `command` would keep the ENTRYPOINT.
    if let Some(command) = &c.command
        && !command.is_empty()
    {
        let command: Vec<String> = command
            .iter()
            .enumerate()
            .map(|(i, a)| env::rewrite_expansion(ctx, &format!("{path}.command[{i}]"), a))
            .collect();
        config.insert("entrypoint".into(), json!(command));
    }
    if let Some(args) = &c.args
        && !args.is_empty()
    {
        let args: Vec<String> = args
            .iter()
            .enumerate()
            .map(|(i, a)| env::rewrite_expansion(ctx, &format!("{path}.args[{i}]"), a))
            .collect();
        config.insert("args".into(), json!(args));
    }
    if is_serving {
        config.insert("ports".into(), json!(["http"]));
    }
    if let Some(dir) = &c.working_dir {
        config.insert("work_dir".into(), json!(dir));
    }
    if c.image_pull_policy.as_deref() == Some("Always") {
        config.insert("force_pull".into(), json!(true));
    }
    if let Some(sc) = &c.security_context {
        // Kubernetes sets no_new_privs for `allowPrivilegeEscalation: false`; docker's
        // `--security-opt no-new-privileges` sets the same flag.
        if sc.allow_privilege_escalation == Some(false) {
            config.insert("security_opt".into(), json!(["no-new-privileges"]));
        }
        if sc.read_only_root_filesystem == Some(true) {
            config.insert("readonly_rootfs".into(), json!(true));
        }
        if let Some(caps) = &sc.capabilities {
            if let Some(add) = caps.add.as_ref().filter(|a| !a.is_empty()) {
                config.insert(
                    "cap_add".into(),
                    json!(add.iter().map(|c| c.to_lowercase()).collect::<Vec<_>>()),
                );
            }
            if let Some(drop) = caps.drop.as_ref().filter(|a| !a.is_empty()) {
                config.insert(
                    "cap_drop".into(),
                    json!(drop.iter().map(|c| c.to_lowercase()).collect::<Vec<_>>()),
                );
            }
        }
    }
    config
}

fn run_as_user(c: &Container) -> Option<String> {
    let sc = c.security_context.as_ref()?;
    let uid = sc.run_as_user?;
    Some(match sc.run_as_group {
        Some(gid) => format!("{uid}:{gid}"),
        None => uid.to_string(),
    })
}

fn report_container_fields(ctx: &mut Ctx<'_>, c: &Container, path: &str, is_serving: bool) {
    let mut dropped = Vec::new();
    if c.lifecycle.is_some() {
        dropped.push("lifecycle");
    }
    // Kubernetes' defaults (what `kubectl get -o yaml` of a pod template shows) change nothing.
    if c.termination_message_path
        .as_deref()
        .is_some_and(|p| p != "/dev/termination-log")
    {
        dropped.push("terminationMessagePath");
    }
    if c.termination_message_policy
        .as_deref()
        .is_some_and(|p| p != "File")
    {
        dropped.push("terminationMessagePolicy");
    }
    if c.stdin.is_some() || c.tty.is_some() {
        dropped.push("stdin/tty");
    }
    if c.volume_devices.is_some() {
        dropped.push("volumeDevices");
    }
    if let Some(sc) = &c.security_context {
        // `RuntimeDefault` is the runtime's own profile, which docker applies unless told
        // otherwise; Knative's secure-pod-defaults writes it into Services it stores.
        if sc
            .seccomp_profile
            .as_ref()
            .is_some_and(|p| p.type_ != "RuntimeDefault")
        {
            dropped.push("securityContext.seccompProfile");
        }
        // Only `true` is a check Nomad would not make; `false` is Kubernetes' default.
        if sc.run_as_non_root == Some(true) && sc.run_as_user.is_none() {
            dropped.push("securityContext.runAsNonRoot");
        }
        if sc.se_linux_options.is_some() || sc.proc_mount.is_some() {
            dropped.push("securityContext.seLinuxOptions/procMount");
        }
    }
    if !is_serving && (c.readiness_probe.is_some() || c.liveness_probe.is_some()) {
        dropped.push("probes of a non-serving container");
    }
    for field in dropped {
        ctx.report(
            "K2N033",
            path,
            format!("container field {field} has no Nomad docker equivalent and is not converted"),
        );
    }
}
