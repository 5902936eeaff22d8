//! `platform`: the Nomad jobs the scale-to-zero path needs, built on the typed Nomad model like
//! converted jobs, with the same settings (`--config`: `serverless:` and placement), so routes
//! and platform agree on every address and timing:
//!
//! - [`sablier`]: Sablier with its Nomad provider, its token a workload identity;
//! - [`traefik`]: Traefik with the Nomad (or Consul Catalog) provider, the file provider fed with
//!   the route files `convert -o` wrote ([`routes`]), and the Sablier plugin;
//! - the ACL policies the two identities need, as files to apply.
//!
//! Both jobs pass the offline validator before anything is written. Not here: the routes
//! themselves (`convert::activation`), deploying (`deploy` takes the written job files).

pub mod routes;
pub mod sablier;
pub mod traefik;

use crate::config::serverless::is_loopback_host;
use crate::config::{ConvertOptions, Serverless, ServiceProvider};
use crate::nomad::SECOND;
use crate::nomad::model::{
    Job, Resources, Service, ServiceCheck, Task, TaskGroup, WorkloadIdentity,
};
use crate::output::{
    JobFile, OutputFormat, OutputWriter, WriteReport, platform_job_marker, platform_policy_marker,
};
use anyhow::{Result, bail};
use routes::RouteFile;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the platform jobs are built from.
#[derive(Debug, Clone)]
pub struct PlatformSettings {
    /// The Nomad namespace the jobs run in and Sablier and Traefik serve.
    pub namespace: String,
    pub region: Option<String>,
    pub datacenters: Vec<String>,
    pub service_provider: ServiceProvider,
    pub serverless: Serverless,
    /// Traefik's loopback `sablier` entry point (host:port), when the plugin's `sablierUrl`
    /// points at one; Sablier's service tags then route it to Sablier.
    pub sablier_entry_point: Option<String>,
}

/// A Nomad namespace name as Nomad accepts it (letters, digits and `-`, at most 128); it is also
/// written into the ACL policy files, so nothing else may pass.
fn valid_namespace(ns: &str) -> bool {
    !ns.is_empty() && ns.len() <= 128 && ns.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// `host:port` of a loopback `sablier_url` (`http://127.0.0.1:10000` → `127.0.0.1:10000`).
fn loopback_address(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => (h, p.to_string()),
        _ => (
            authority,
            if scheme == "https" { "443" } else { "80" }.to_string(),
        ),
    };
    is_loopback_host(host).then(|| format!("{host}:{port}"))
}

impl PlatformSettings {
    /// The settings `convert` used (defaults, `--config`, flags), for the platform of
    /// `opts.namespace_override` (or `default`).
    pub fn from_options(opts: &ConvertOptions) -> Result<PlatformSettings> {
        let namespace = opts
            .namespace_override
            .clone()
            .unwrap_or_else(|| "default".to_string());
        if !valid_namespace(&namespace) {
            bail!("--nomad-namespace {namespace:?} is not a Nomad namespace name");
        }
        let sablier_entry_point = loopback_address(&opts.serverless.sablier_url);
        if sablier_entry_point.as_deref() == Some(opts.serverless.hop_address.as_str()) {
            bail!(
                "serverless.sablier-url and serverless.hop-address must use different ports ({})",
                opts.serverless.hop_address
            );
        }
        Ok(PlatformSettings {
            namespace,
            region: opts.region.clone(),
            datacenters: opts.datacenters.clone(),
            service_provider: opts.service_provider,
            serverless: opts.serverless.clone(),
            sablier_entry_point,
        })
    }

    /// The platform service `name` on port `port_label`, registered with the configured
    /// provider and checked with an HTTP GET of `check_path` every 5 s.
    fn http_service(
        &self,
        name: &str,
        port_label: &str,
        tags: Vec<String>,
        check_name: &str,
        check_path: &str,
    ) -> Service {
        Service {
            name: Some(name.to_string()),
            port_label: Some(port_label.to_string()),
            provider: Some(self.service_provider.as_str().to_string()),
            tags,
            checks: vec![ServiceCheck {
                name: Some(check_name.to_string()),
                type_: Some("http".to_string()),
                path: Some(check_path.to_string()),
                interval: Some(5 * SECOND),
                timeout: Some(2 * SECOND),
                ..ServiceCheck::default()
            }],
            ..Service::default()
        }
    }

    /// A service job of one group, placed as these settings say.
    fn job(&self, id: &str, group: TaskGroup) -> Job {
        let mut meta = BTreeMap::new();
        meta.insert("knative2nomad.platform".to_string(), id.to_string());
        meta.insert(
            "knative2nomad.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        );
        Job {
            id: Some(id.to_string()),
            name: Some(id.to_string()),
            type_: Some("service".to_string()),
            namespace: Some(self.namespace.clone()),
            region: self.region.clone(),
            datacenters: self.datacenters.clone(),
            task_groups: vec![group],
            meta,
            ..Job::default()
        }
    }
}

/// A platform task: the docker driver with `config`, `cpu` MHz and 128 MB, and the default
/// workload identity (no name) in NOMAD_TOKEN, renewed by restarting the task; no token is
/// ever written in the job.
fn docker_task(name: &str, config: serde_json::Map<String, serde_json::Value>, cpu: i64) -> Task {
    Task {
        name: Some(name.to_string()),
        driver: Some("docker".to_string()),
        config,
        identity: Some(WorkloadIdentity {
            env: Some(true),
            change_mode: Some("restart".to_string()),
            ..WorkloadIdentity::default()
        }),
        resources: Some(Resources {
            cpu: Some(cpu),
            memory_mb: Some(128),
            ..Resources::default()
        }),
        ..Task::default()
    }
}

/// The platform: both jobs and the files to write.
#[derive(Debug)]
pub struct Platform {
    pub sablier: Job,
    pub traefik: Job,
    pub routes: Vec<RouteFile>,
    /// (path relative to the output directory, text), in writing order.
    pub files: Vec<(PathBuf, String)>,
}

/// Builds and validates the platform jobs, with the routes under `routes_dir` embedded in
/// Traefik's.
pub fn build(
    settings: &PlatformSettings,
    routes_dir: Option<&Path>,
    format: OutputFormat,
) -> Result<Platform> {
    let routes = match routes_dir {
        Some(dir) => routes::read_routes(dir, &settings.namespace, &settings.serverless)?,
        None => Vec::new(),
    };
    let sablier = sablier::job(settings);
    let traefik = traefik::job(settings, &routes)?;
    for job in [&sablier, &traefik] {
        let problems = crate::nomad::validate::validate_job(job);
        if !problems.is_empty() {
            bail!(
                "the {} job is not valid for Nomad (a bug): {}",
                job.id.as_deref().unwrap_or_default(),
                problems.join("; ")
            );
        }
    }
    let ns = &settings.namespace;
    let mut files = Vec::new();
    for job in [&sablier, &traefik] {
        let id = job.id.as_deref().unwrap_or_default();
        files.push((
            PathBuf::from(format!("{id}.{}", format.extension())),
            job_text(job, format),
        ));
    }
    for (id, policy) in [
        (sablier::JOB, sablier::acl_policy(ns)),
        (traefik::JOB, traefik::acl_policy(ns)),
    ] {
        let file = format!("{id}.policy.hcl");
        files.push((
            PathBuf::from(&file),
            format!(
                "{}\n# nomad acl policy apply -namespace {ns} -job {id} k2n-{id} {file}\n{policy}",
                platform_policy_marker(id)
            ),
        ));
    }
    Ok(Platform {
        sablier,
        traefik,
        routes,
        files,
    })
}

/// A platform job's text; HCL says how it was made and how to make it again.
fn job_text(job: &Job, format: OutputFormat) -> String {
    match format {
        OutputFormat::Hcl => {
            let mut text = platform_job_marker();
            text.push('\n');
            crate::nomad::hcl::render_job_into(&mut text, job);
            text
        }
        OutputFormat::Json => crate::output::render(job, "", OutputFormat::Json),
    }
}

/// Writes the platform's files under `dir` (atomically; a file this tool did not write is
/// replaced only with `force`).
pub fn write(platform: &Platform, dir: &Path, force: bool) -> WriteReport {
    let source: Arc<str> = Arc::from("knative2nomad platform");
    let mut writer = OutputWriter::new(dir, force);
    writer.write(
        platform
            .files
            .iter()
            .map(|(path, text)| JobFile {
                path: path.clone(),
                source: &source,
                text: Some(Cow::Borrowed(text.as_str())),
            })
            .collect(),
    );
    writer.report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::GENERATED_MARKER;

    #[test]
    fn a_loopback_sablier_url_becomes_an_entry_point() {
        assert_eq!(
            loopback_address("http://127.0.0.1:10000").as_deref(),
            Some("127.0.0.1:10000")
        );
        assert_eq!(
            loopback_address("http://localhost/").as_deref(),
            Some("localhost:80")
        );
        assert_eq!(
            loopback_address("http://sablier.service.consul:10000"),
            None
        );
        assert!(valid_namespace("team-a"));
        assert!(!valid_namespace("a\"b"));
    }

    #[test]
    fn both_jobs_validate_and_carry_no_token() {
        let settings = PlatformSettings::from_options(&ConvertOptions::default()).unwrap();
        let platform = build(&settings, None, OutputFormat::Hcl).unwrap();
        let names: Vec<_> = platform.files.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(
            names,
            [
                "sablier.nomad.hcl",
                "traefik.nomad.hcl",
                "sablier.policy.hcl",
                "traefik.policy.hcl"
            ]
            .map(PathBuf::from)
        );
        let sablier = &platform.files[0].1;
        assert!(sablier.contains("--provider.name=nomad"), "{sablier}");
        assert!(
            sablier.contains("unix://$${NOMAD_SECRETS_DIR}/api.sock"),
            "{sablier}"
        );
        let traefik = &platform.files[1].1;
        assert!(
            traefik.contains("{{ env \\\"NOMAD_TOKEN\\\" }}"),
            "{traefik}"
        );
        for (_, text) in &platform.files {
            assert!(text.starts_with(GENERATED_MARKER));
            // So that `platform` run again replaces its own files.
            assert!(crate::output::is_generated(text), "{text}");
            assert!(!text.to_ascii_lowercase().contains("secret_id"));
        }
    }
}
