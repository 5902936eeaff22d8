//! Traefik's dynamic configuration, the subset the scale-to-zero route uses: HTTP routers,
//! the Sablier plugin middleware and load-balancer services, as the file provider reads them
//! (Traefik v3 docs, "File" provider and "HTTP Services"; the plugin's options from
//! sablierapp/sablier-traefik-plugin `config.go`).
//!
//! Written as plain YAML (no templating) with a first line that marks the file as generated;
//! read back with unknown keys refused. Not here: what goes into a route
//! (`convert::activation`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A dynamic configuration file: only HTTP routing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicConfig {
    pub http: Http,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routers: BTreeMap<String, Router>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub middlewares: BTreeMap<String, Middleware>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
}

/// `http.routers.<name>`: `rule` and `service` are required by Traefik.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Router {
    pub entry_points: Vec<String>,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub middlewares: Vec<String>,
    pub service: String,
}

/// `http.middlewares.<name>`: only plugin middlewares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Middleware {
    pub plugin: Plugins,
}

/// The plugins a middleware configures, by the name the static configuration gives them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plugins {
    pub sablier: SablierMiddleware,
}

/// The Sablier plugin's options with the blocking strategy (config.go: `sablierUrl`, `group`,
/// `sessionDuration`, `blocking.timeout`; `names` is deprecated in favour of `group`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SablierMiddleware {
    pub sablier_url: String,
    pub group: String,
    /// A Go duration, e.g. `90s`.
    pub session_duration: String,
    pub blocking: Blocking,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blocking {
    /// A Go duration, e.g. `5m`.
    pub timeout: String,
}

/// `http.services.<name>`: only load balancers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    pub load_balancer: LoadBalancer,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancer {
    pub pass_host_header: bool,
    pub servers: Vec<Server>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub url: String,
}

impl DynamicConfig {
    /// The file's text: a first line saying who wrote it (the marker every generated file
    /// starts with, see `output::GENERATED_MARKER`), then the YAML.
    pub fn render(&self, first_line: &str) -> String {
        let yaml = serde_yaml::to_string(self).unwrap_or_default();
        format!("{first_line}\n{yaml}")
    }

    /// Reads a route file (comments allowed), refusing keys outside this subset.
    pub fn parse(text: &str) -> Result<DynamicConfig, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }

    /// Every name this configuration defines, as (kind, name): Traefik drops a router,
    /// middleware or service that two files define differently, so a set of route files must
    /// not share any.
    pub fn names(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let http = &self.http;
        http.routers
            .keys()
            .map(|k| ("router", k.as_str()))
            .chain(http.middlewares.keys().map(|k| ("middleware", k.as_str())))
            .chain(http.services.keys().map(|k| ("service", k.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_reads_back_and_refuses_unknown_keys() {
        let mut config = DynamicConfig::default();
        config.http.routers.insert(
            "hello".into(),
            Router {
                entry_points: vec!["web".into()],
                rule: "Host(`hello.default.example.com`)".into(),
                middlewares: vec!["hello-sablier".into()],
                service: "hello-hop".into(),
            },
        );
        let text = config.render("# Generated by knative2nomad");
        assert!(
            text.starts_with("# Generated by knative2nomad\nhttp:\n"),
            "{text}"
        );
        assert!(text.contains("entryPoints:"), "{text}");
        assert_eq!(DynamicConfig::parse(&text).unwrap(), config);
        let misspelt = text.replace("entryPoints", "entrypoints");
        assert!(DynamicConfig::parse(&misspelt).is_err());
        let names: Vec<_> = config.names().collect();
        assert_eq!(names, [("router", "hello")]);
    }
}
