//! Traefik's static configuration for the platform's Traefik job: entry points, the Nomad (or
//! Consul Catalog) provider, the file provider that reads the routes, and the Sablier plugin.
//! Option names from Traefik v3's install-configuration reference (entryPoints, providers.file,
//! providers.nomad, providers.consulCatalog, experimental.plugins).
//!
//! Values may hold Nomad template expressions (`{{ env "NOMAD_TOKEN" }}`): the job renders this
//! text through a `template` block, so the token never appears in the job itself.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StaticConfig {
    pub entry_points: BTreeMap<String, EntryPoint>,
    pub providers: Providers,
    pub experimental: Experimental,
    /// `ping` answers on the `web` entry point's `/ping`, for the job's health check.
    pub ping: Ping,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EntryPoint {
    pub address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Providers {
    /// How long Traefik waits between two configuration reloads from one provider (default
    /// 2s); `sablier.ready-after` is sized against it.
    pub providers_throttle_duration: String,
    pub file: FileProvider,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nomad: Option<CatalogProvider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consul_catalog: Option<CatalogProvider>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FileProvider {
    pub directory: String,
    pub watch: bool,
}

/// providers.nomad / providers.consulCatalog: both read service registrations and their tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogProvider {
    /// false: only services tagged `traefik.enable=true` get routers, so nothing reaches an
    /// allocation without passing the Sablier middleware (which extends its session).
    pub exposed_by_default: bool,
    /// Event-driven refresh instead of polling every refreshInterval (15s by default).
    pub watch: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    pub endpoint: Endpoint,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Endpoint {
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Experimental {
    pub plugins: BTreeMap<String, Plugin>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plugin {
    pub module_name: String,
    pub version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ping {
    pub entry_point: String,
}

impl StaticConfig {
    pub fn render(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }
}
