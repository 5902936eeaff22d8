//! The Traefik job: the public (`web`) and cluster-local (`internal`) entry points where the
//! routes `convert` wrote answer, the loopback `hop` entry point where the running allocations'
//! tag-defined routers answer, the loopback `sablier` entry point in front of Sablier's API, the
//! Nomad (or Consul Catalog) provider for those tags, the file provider for the routes, and the
//! Sablier plugin.
//!
//! The static configuration is rendered by a `template` into the secrets directory, because it
//! holds the task's workload-identity token (`{{ env "NOMAD_TOKEN" }}`); each route file is
//! embedded as its own template in the file provider's directory.

use super::routes::RouteFile;
use super::{PlatformSettings, docker_task};
use crate::config::ServiceProvider;
use crate::nomad::model::{Job, NetworkResource, Port, Task, TaskGroup, Template};
use crate::traefik::static_config::{
    CatalogProvider, Endpoint, EntryPoint, Experimental, FileProvider, Ping, Plugin, Providers,
    StaticConfig,
};
use crate::traefik::{HOP, INTERNAL, SABLIER, SABLIER_PLUGIN_MODULE, WEB};
use anyhow::{Result, bail};
use serde_json::json;

/// The job's ID, also the `-job` the ACL policy is attached to.
pub const JOB: &str = "traefik";
/// Where the file provider reads the routes, inside the task.
const DYNAMIC_DIR: &str = "/local/dynamic";
/// Ports Traefik listens on inside its container (mapped to the configured host ports).
const WEB_PORT: i64 = 80;
const INTERNAL_PORT: i64 = 8081;
/// Delimiters for an embedded route that contains Go template braces, so it is copied verbatim.
const DELIMITERS: (&str, &str) = ("[[k2n:", ":k2n]]");

/// Traefik's static configuration for these settings.
pub fn static_config(settings: &PlatformSettings) -> StaticConfig {
    let serverless = &settings.serverless;
    let mut entry_points = std::collections::BTreeMap::new();
    let mut add = |name: &str, address: String| {
        entry_points.insert(name.to_string(), EntryPoint { address });
    };
    add(WEB, format!(":{WEB_PORT}"));
    add(INTERNAL, format!(":{INTERNAL_PORT}"));
    add(HOP, serverless.hop_address.clone());
    if let Some(address) = &settings.sablier_entry_point {
        add(SABLIER, address.clone());
    }
    let catalog = match settings.service_provider {
        ServiceProvider::Nomad => CatalogProvider {
            exposed_by_default: false,
            watch: true,
            namespaces: vec![settings.namespace.clone()],
            endpoint: Endpoint {
                address: "unix://{{ env \"NOMAD_SECRETS_DIR\" }}/api.sock".to_string(),
                token: Some("{{ env \"NOMAD_TOKEN\" }}".to_string()),
            },
        },
        ServiceProvider::Consul => CatalogProvider {
            exposed_by_default: false,
            watch: true,
            namespaces: Vec::new(),
            endpoint: Endpoint {
                // The node's Consul agent, seen from inside the container.
                address: "{{ env \"attr.unique.network.ip-address\" }}:8500".to_string(),
                token: None,
            },
        },
    };
    let (nomad, consul_catalog) = match settings.service_provider {
        ServiceProvider::Nomad => (Some(catalog), None),
        ServiceProvider::Consul => (None, Some(catalog)),
    };
    let mut plugins = std::collections::BTreeMap::new();
    plugins.insert(
        "sablier".to_string(),
        Plugin {
            module_name: SABLIER_PLUGIN_MODULE.to_string(),
            version: serverless.plugin_version.clone(),
        },
    );
    StaticConfig {
        entry_points,
        providers: Providers {
            providers_throttle_duration: "2s".to_string(),
            file: FileProvider {
                directory: DYNAMIC_DIR.to_string(),
                watch: true,
            },
            nomad,
            consul_catalog,
        },
        experimental: Experimental { plugins },
        ping: Ping {
            entry_point: WEB.to_string(),
        },
    }
}

pub fn job(settings: &PlatformSettings, routes: &[RouteFile]) -> Result<Job> {
    let serverless = &settings.serverless;
    let mut templates = vec![Template {
        dest_path: Some("secrets/traefik.yml".to_string()),
        embedded_tmpl: Some(static_config(settings).render()),
        change_mode: Some("restart".to_string()),
        ..Template::default()
    }];
    for route in routes {
        let mut template = Template {
            dest_path: Some(format!("local/dynamic/{}", route.flat_name())),
            embedded_tmpl: Some(route.text.clone()),
            // The file provider watches the directory and reloads by itself.
            change_mode: Some("noop".to_string()),
            ..Template::default()
        };
        if route.text.contains("{{") || route.text.contains("}}") {
            if route.text.contains(DELIMITERS.0) || route.text.contains(DELIMITERS.1) {
                bail!(
                    "{}: the route contains both Go template braces and {}",
                    route.relative.display(),
                    DELIMITERS.0
                );
            }
            template.left_delim = Some(DELIMITERS.0.to_string());
            template.right_delim = Some(DELIMITERS.1.to_string());
        }
        templates.push(template);
    }
    let mut config = serde_json::Map::new();
    config.insert("image".into(), json!(serverless.traefik_image));
    config.insert(
        "args".into(),
        json!(["--configFile=${NOMAD_SECRETS_DIR}/traefik.yml"]),
    );
    config.insert("ports".into(), json!(["web", "internal"]));
    let task = Task {
        templates,
        ..docker_task(JOB, config, 200)
    };
    let port = |label: &str, host: u16, to: i64| Port {
        label: Some(label.to_string()),
        value: Some(i64::from(host)),
        to: Some(to),
        ..Port::default()
    };
    let group = TaskGroup {
        name: Some(JOB.to_string()),
        count: Some(1),
        networks: vec![NetworkResource {
            reserved_ports: vec![
                port("web", serverless.web_port, WEB_PORT),
                port("internal", serverless.internal_port, INTERNAL_PORT),
            ],
            ..NetworkResource::default()
        }],
        services: vec![settings.http_service(JOB, "web", Vec::new(), "ping", "/ping")],
        tasks: vec![task],
        ..TaskGroup::default()
    };
    Ok(settings.job(JOB, group))
}

/// What Traefik's identity may do: read the service registrations (and their events, for
/// `watch`) of the namespace it routes.
pub fn acl_policy(namespace: &str) -> String {
    format!("namespace \"{namespace}\" {{\n  policy = \"read\"\n}}\n")
}
