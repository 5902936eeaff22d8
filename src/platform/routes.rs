//! Reading the Traefik route files `convert -o` wrote (`OUT/traefik/**.yml`) for the platform's
//! Traefik job, and refusing a set that would not work in one Traefik: a route for another
//! Nomad namespace (one Sablier serves one namespace), a route converted with other addresses
//! than the platform's, or two files defining the same router, middleware or service (Traefik
//! drops every definition of a name that two files define differently).

use crate::config::Serverless;
use crate::output::{GENERATED_MARKER, ROUTE_EXTENSION, route_namespace};
use crate::traefik::dynamic::DynamicConfig;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One route file: where it came from, its text (embedded as is) and what it configures.
#[derive(Debug, Clone)]
pub struct RouteFile {
    /// Path relative to the routes directory, e.g. `team-a/hello.yml`.
    pub relative: PathBuf,
    pub text: String,
    pub config: DynamicConfig,
}

impl RouteFile {
    /// The file name inside Traefik's dynamic directory: the relative path flattened, so two
    /// folders' `hello.yml` do not overwrite each other.
    pub fn flat_name(&self) -> String {
        self.relative
            .iter()
            .map(|p| p.to_string_lossy())
            .collect::<Vec<_>>()
            .join("--")
    }
}

/// Every generated route file under `dir`, in path order, checked against the platform's
/// namespace and settings. Files without this tool's marker are not routes this tool wrote and
/// are skipped.
pub fn read_routes(dir: &Path, namespace: &str, serverless: &Serverless) -> Result<Vec<RouteFile>> {
    let mut paths = Vec::new();
    collect(dir, &mut paths).with_context(|| format!("reading {}", dir.display()))?;
    paths.sort();
    let mut routes = Vec::new();
    let mut defined: BTreeMap<(&'static str, String), PathBuf> = BTreeMap::new();
    for path in paths {
        // Typed on the opened file, not through a link, capped: the walk's check of the entry
        // could be stale by now.
        let limit = crate::knative::load::MAX_INPUT_BYTES as u64;
        let bytes = crate::files::read_regular(&path, false, limit)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let text = String::from_utf8(bytes)
            .with_context(|| format!("reading {}: not UTF-8 text", path.display()))?;
        if !text.starts_with(GENERATED_MARKER) {
            continue;
        }
        let relative = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
        let config = DynamicConfig::parse(&text)
            .with_context(|| format!("{}: not a route this tool writes", path.display()))?;
        check_namespace(&path, &text, namespace)?;
        check_settings(&path, &config, serverless)?;
        for (kind, name) in config.names() {
            if let Some(first) = defined.insert((kind, name.to_string()), relative.clone()) {
                bail!(
                    "{}: {kind} {name:?} is also defined by {}; Traefik would drop both",
                    path.display(),
                    first.display()
                );
            }
        }
        routes.push(RouteFile {
            relative,
            text,
            config,
        });
    }
    Ok(routes)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        // Not followed: a symlink could lead outside the routes directory.
        let kind = entry.file_type()?;
        if hidden || kind.is_symlink() {
            continue;
        }
        if kind.is_dir() {
            collect(&path, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == ROUTE_EXTENSION) {
            out.push(path);
        }
    }
    Ok(())
}

/// The namespace the route's first line names must be the platform's.
fn check_namespace(path: &Path, text: &str, namespace: &str) -> Result<()> {
    match route_namespace(text) {
        Some(ns) if ns == namespace => Ok(()),
        Some(ns) => bail!(
            "{}: the route is for Nomad namespace {ns:?}, but this platform serves {namespace:?} (one Sablier serves one namespace: run a platform per namespace, --nomad-namespace)",
            path.display()
        ),
        None => bail!(
            "{}: the first line does not name the route's Nomad namespace; convert again",
            path.display()
        ),
    }
}

/// The route must call the platform's Sablier and hop addresses, or requests would go nowhere.
fn check_settings(path: &Path, config: &DynamicConfig, serverless: &Serverless) -> Result<()> {
    for middleware in config.http.middlewares.values() {
        let url = &middleware.plugin.sablier.sablier_url;
        if *url != serverless.sablier_url {
            bail!(
                "{}: the route calls Sablier at {url}, the platform serves it at {}; convert and run platform with the same --config",
                path.display(),
                serverless.sablier_url
            );
        }
    }
    for service in config.http.services.values() {
        for server in &service.load_balancer.servers {
            let address = server.url.split_once("://").map_or("", |(_, a)| a);
            if address != serverless.hop_address {
                bail!(
                    "{}: the route's hop is {}, the platform's hop entry point is {}; convert and run platform with the same --config",
                    path.display(),
                    server.url,
                    serverless.hop_address
                );
            }
        }
    }
    Ok(())
}
