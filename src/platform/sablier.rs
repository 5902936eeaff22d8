//! The Sablier job: Sablier with its Nomad provider (`start --provider.name=nomad`), which finds
//! scale-to-zero groups by their `sablier.*` meta and scales them through Nomad's API.
//!
//! Its Nomad token is the task's workload identity (`identity { env = true }` puts it in
//! NOMAD_TOKEN, which Sablier's provider reads when `--provider.nomad.token` is unset), spoken
//! over the Task API socket in the secrets directory: no token is ever written in a job or a
//! file. The identity needs the ACL policy [`acl_policy`] (applied with `-job sablier`).

use super::{PlatformSettings, docker_task};
use crate::nomad::SECOND;
use crate::nomad::model::{Job, NetworkResource, Port, TaskGroup};
use crate::traefik::SABLIER;
use serde_json::json;

/// The job's ID, also the `-job` the ACL policy is attached to.
pub const JOB: &str = "sablier";
/// The port Sablier's API listens on inside its container.
const API_PORT: i64 = 10000;

pub fn job(settings: &PlatformSettings) -> Job {
    let serverless = &settings.serverless;
    let mut args = vec![
        "start".to_string(),
        "--provider.name=nomad".to_string(),
        // The Task API: workload identities are accepted there (api-docs/task-api).
        "--provider.nomad.address=unix://${NOMAD_SECRETS_DIR}/api.sock".to_string(),
        format!("--provider.nomad.namespace={}", settings.namespace),
        format!("--server.port={API_PORT}"),
        // A held request sees readiness at this granularity; Sablier's default is 5s.
        format!(
            "--strategy.blocking.default-refresh-frequency={}",
            crate::nomad::hcl::format_duration(
                i64::try_from(serverless.refresh_frequency.as_nanos()).unwrap_or(SECOND)
            )
        ),
    ];
    if let Some(region) = &settings.region {
        args.push(format!("--provider.nomad.region={region}"));
    }
    let mut config = serde_json::Map::new();
    config.insert("image".into(), json!(serverless.sablier_image));
    config.insert("args".into(), json!(args));
    config.insert("ports".into(), json!(["http"]));
    let task = docker_task(JOB, config, 100);
    // When the plugin reaches Sablier through Traefik's loopback `sablier` entry point, these
    // tags give that entry point its router (the Sablier job always runs, so they always exist).
    let tags = if settings.sablier_entry_point.is_some() {
        vec![
            "traefik.enable=true".to_string(),
            format!("traefik.http.routers.{JOB}.entrypoints={SABLIER}"),
            format!("traefik.http.routers.{JOB}.rule=PathPrefix(`/`)"),
        ]
    } else {
        Vec::new()
    };
    let group = TaskGroup {
        name: Some(JOB.to_string()),
        count: Some(1),
        networks: vec![NetworkResource {
            dynamic_ports: vec![Port {
                label: Some("http".to_string()),
                to: Some(API_PORT),
                ..Port::default()
            }],
            ..NetworkResource::default()
        }],
        services: vec![settings.http_service(JOB, "http", tags, "health", "/health")],
        tasks: vec![task],
        ..TaskGroup::default()
    };
    settings.job(JOB, group)
}

/// What Sablier's identity may do in the namespace it serves: list and read jobs (discovery,
/// readiness), scale them, and register them (a stopped job is started by registering it again,
/// and a scale during an active deployment falls back to a registration) — the Sablier Nomad
/// tutorial's policy.
pub fn acl_policy(namespace: &str) -> String {
    format!(
        "namespace \"{namespace}\" {{\n  capabilities = [\"list-jobs\", \"read-job\", \"scale-job\", \"submit-job\"]\n}}\n"
    )
}
