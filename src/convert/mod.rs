//! The mapping from a typed Knative Service to a typed Nomad job (docs/mapping.md is its
//! contract). One file per concern; this one holds the shared context and assembles the job.
//!
//! Conversion never fails outright: it returns the job (or none, when an error finding stops
//! it) together with every finding, so a batch can report everything in one pass.

mod activation;
mod annotations;
mod container;
mod env;
mod probes;
pub mod quantity;
mod references;
mod resources;
mod scaling;
mod traffic;
mod volumes;

use crate::config::ConvertOptions;
use crate::findings::{Finding, Severity};
use crate::knative::load::Document;
use crate::knative::model::{KnativeService, RevisionSpec, SERVER_ANNOTATIONS};
use crate::knative::resources::{ResolvedFrom, Resources, Scope};
use crate::nomad::model::{
    Job, NetworkResource, Port, Service, ServiceCheck, TaskGroup, UpdateStrategy,
};
use crate::traefik::dynamic::DynamicConfig;
use annotations::TemplateAnnotations;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub use crate::nomad::SECOND;

/// The result of converting one Service.
#[derive(Debug, Clone)]
pub struct Converted {
    /// Nomad job ID (the Service name), even when conversion failed, for reports.
    pub job_id: String,
    /// Kubernetes namespace of the Service (`default` when unset).
    pub namespace: String,
    pub job: Option<Box<Job>>,
    pub findings: Vec<Finding>,
    /// Nomad Variables the job reads: path → item names (never values).
    pub variables: BTreeMap<String, BTreeSet<String>>,
    /// Where generated HCL attributes and blocks came from, for `convert --annotate`:
    /// HCL path (see [`crate::nomad::hcl::annotate`]) → comment.
    pub provenance: BTreeMap<String, String>,
    /// The Traefik route (file provider) of a Service that scales to zero through Sablier;
    /// `None` for a Service that stays up.
    pub route: Option<DynamicConfig>,
    /// Which file and line each ConfigMap and Secret the job uses was taken from, for reports;
    /// sorted, without duplicates. (A Vec, not a set: every Service of a batch keeps one, and
    /// a B-tree's smallest node is about ten entries.)
    pub resolved: Vec<ResolvedFrom>,
}

impl Converted {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Block index suffix in HCL paths: `ident` for the first, `ident#n` after.
pub fn nth(ident: &str, n: usize) -> String {
    if n == 0 {
        ident.to_string()
    } else {
        format!("{ident}#{n}")
    }
}

/// State shared by the mapping steps of one Service.
pub(crate) struct Ctx<'a> {
    pub doc: &'a Document,
    pub opts: &'a ConvertOptions,
    /// The ConfigMaps and Secrets this Service sees (read through [`Ctx::resolve`]).
    pub scope: Scope<'a>,
    pub namespace: String,
    pub job_id: String,
    pub findings: Vec<Finding>,
    pub variables: BTreeMap<String, BTreeSet<String>>,
    pub provenance: BTreeMap<String, String>,
    pub route: Option<DynamicConfig>,
    /// Sorted, without duplicates.
    pub resolved: Vec<ResolvedFrom>,
}

impl Ctx<'_> {
    /// HCL path of the job's group, for [`Ctx::note`].
    pub fn group_path(&self) -> String {
        format!("job/group[{}]", self.job_id)
    }

    /// HCL path of a task, for [`Ctx::note`].
    pub fn task_path(&self, task: &str) -> String {
        format!("{}/task[{task}]", self.group_path())
    }

    /// Records where the HCL element at `hcl_path` came from (shown by `--annotate`).
    pub fn note(&mut self, hcl_path: impl Into<String>, comment: impl Into<String>) {
        if self.opts.record_provenance {
            self.provenance.insert(hcl_path.into(), comment.into());
        }
    }

    /// Records a finding at `path` (relative to the Service object).
    pub fn report(&mut self, code: &'static str, path: &str, message: impl Into<String>) {
        let location = self.doc.location(path);
        self.findings
            .push(Finding::new(code, location, path.to_string(), message));
    }

    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Converts one `serving.knative.dev/v1` Service document.
pub fn convert_service(doc: &Document, resources: &Resources, opts: &ConvertOptions) -> Converted {
    let mut ctx = Ctx {
        doc,
        opts,
        scope: resources.scope(&doc.file),
        namespace: doc.namespace().unwrap_or("default").to_string(),
        job_id: doc.name().unwrap_or("").to_string(),
        findings: Vec::new(),
        variables: BTreeMap::new(),
        provenance: BTreeMap::new(),
        route: None,
        resolved: Vec::new(),
    };
    let job = match parse_typed(&mut ctx) {
        Some(svc) => build_job(&mut ctx, &svc),
        None => None,
    };
    let job = if ctx.has_errors() { None } else { job };
    if let Some(job) = &job {
        for problem in crate::nomad::validate::validate_job(job) {
            ctx.report(
                "K2N016",
                "",
                format!("generated job is not valid for Nomad: {problem}"),
            );
        }
    }
    let job = if ctx.has_errors() { None } else { job };
    let route = job.is_some().then_some(ctx.route).flatten();
    let mut findings = ctx.findings;
    findings.sort_by(|a, b| {
        (a.location.line, a.location.column, a.code).cmp(&(
            b.location.line,
            b.location.column,
            b.code,
        ))
    });
    findings.dedup();
    Converted {
        job_id: ctx.job_id,
        namespace: ctx.namespace,
        job: job.map(Box::new),
        findings,
        variables: ctx.variables,
        provenance: ctx.provenance,
        route,
        resolved: {
            let mut resolved = ctx.resolved;
            resolved.shrink_to_fit();
            resolved
        },
    }
}

/// Deserializes the typed model; a type error is located by re-reading the document's text,
/// where serde_yaml knows the failing path and position.
fn parse_typed(ctx: &mut Ctx<'_>) -> Option<KnativeService> {
    match <KnativeService as serde::Deserialize>::deserialize(&ctx.doc.value) {
        Ok(svc) => Some(svc),
        Err(value_error) => {
            let precise = if ctx.doc.base_path.is_empty() {
                serde_yaml::from_str::<KnativeService>(&ctx.doc.text).err()
            } else {
                None
            };
            let (message, location) = match precise {
                Some(e) => {
                    let location = e.location().map(|l| {
                        let start = ctx.doc.locations.start();
                        // The document text starts at its first line; serde_yaml counts from 1.
                        let first_line = start.line
                            - ctx
                                .doc
                                .text
                                .lines()
                                .take_while(|l| {
                                    l.trim().is_empty() || l.trim_start().starts_with('#')
                                })
                                .count();
                        (first_line + l.line() - 1, l.column())
                    });
                    (e.to_string(), location)
                }
                None => (value_error.to_string(), None),
            };
            let message = crate::knative::load::strip_location(&message);
            let (path, detail) = match message.split_once(": ") {
                Some((p, d)) if !p.contains(' ') => (p.to_string(), d.to_string()),
                _ => (String::new(), message.clone()),
            };
            let mut finding_location = ctx.doc.location(&path);
            if let Some((line, column)) = location {
                finding_location.line = line;
                finding_location.column = column;
            }
            let code = if detail.contains("recursion limit") {
                "K2N006"
            } else {
                "K2N002"
            };
            ctx.findings.push(Finding::new(
                code,
                finding_location,
                path.clone(),
                if path.is_empty() {
                    detail
                } else {
                    format!("{path}: {detail}")
                },
            ));
            None
        }
    }
}

/// True for a DNS-1035 label: what Knative requires of Service names, and what makes a valid
/// Nomad job ID and service name.
pub fn is_dns1035_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// True for a DNS-1123 label (container names).
pub fn is_dns1123_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn build_job(ctx: &mut Ctx<'_>, svc: &KnativeService) -> Option<Job> {
    let name = checked_name(ctx, svc)?;
    let spec = &svc.spec.template.spec;
    traffic::check_top_level_annotations(ctx, svc);
    let serving = container::serving_container(ctx, spec)?;
    let port = container::serving_port(ctx, spec, serving)?;
    let revision = traffic::revision_name(ctx, svc, &name);
    let scale = scaling::read(ctx, svc)?;
    let serving = Serving {
        name: &name,
        index: serving,
        port: &port,
        revision: &revision,
    };
    let (mut group, visibility) = build_group(ctx, svc, &serving, &scale)?;
    traffic::report_traffic(ctx, svc);
    traffic::report_unsupported_pod_fields(ctx, spec);
    let progress = progress_deadline(ctx, svc);
    let mut update = update_strategy(progress);
    if scale.scales_to_zero {
        let settings = activation::settings(ctx, svc, &scale, progress);
        activation::group_meta(ctx, &name, &scale, &mut group);
        let host = traffic::host(ctx, &name);
        let cluster_local = visibility == Some("cluster-local");
        ctx.route = Some(activation::route(
            ctx,
            &name,
            &host,
            cluster_local,
            port.h2c,
            settings,
        ));
        let healthy = update.healthy_deadline.unwrap_or(5 * 60 * SECOND);
        update.min_healthy_time = Some(activation::min_healthy_time(ctx, healthy));
    }

    let mut job = Job {
        id: Some(name.clone()),
        name: Some(name.clone()),
        type_: Some("service".to_string()),
        region: ctx.opts.region.clone(),
        namespace: ctx
            .opts
            .namespace_override
            .clone()
            .or_else(|| svc.metadata.namespace.clone()),
        datacenters: ctx.opts.datacenters.clone(),
        update: Some(update),
        task_groups: vec![group],
        ..Job::default()
    };
    job.meta = job_meta(ctx, svc, &name, visibility);
    note_job_fields(ctx, svc);
    Some(job)
}

/// The Service's name, when the document is a v1 Service with a valid name and containers.
fn checked_name(ctx: &mut Ctx<'_>, svc: &KnativeService) -> Option<String> {
    if svc.api_version != "serving.knative.dev/v1" {
        ctx.report(
            "K2N005",
            "apiVersion",
            format!("apiVersion {} is not supported", svc.api_version),
        );
        return None;
    }
    let name = svc.metadata.name.clone().unwrap_or_default();
    if name.is_empty() {
        ctx.report("K2N003", "metadata", "metadata.name is required");
        return None;
    }
    if !is_dns1035_label(&name) {
        ctx.report(
            "K2N004",
            "metadata.name",
            format!("Service name {name:?} is not a DNS-1035 label"),
        );
        return None;
    }
    // Kubernetes' rule for namespaces (apimachinery ValidateNamespaceName: a DNS-1123 label);
    // the namespace becomes the Nomad namespace and appears in generated commands.
    if let Some(namespace) = &svc.metadata.namespace
        && !is_dns1123_label(namespace)
    {
        ctx.report(
            "K2N062",
            "metadata.namespace",
            format!("namespace {namespace:?} is not a DNS-1123 label"),
        );
        return None;
    }
    if svc.spec.template.spec.containers.is_empty() {
        ctx.report(
            "K2N003",
            "spec.template.spec.containers",
            "spec.template.spec.containers must list at least one container",
        );
        return None;
    }
    Some(name)
}

/// What the group is built around: the Service's name and its serving container.
struct Serving<'a> {
    name: &'a String,
    /// Index of the serving container.
    index: usize,
    port: &'a container::ServingPort,
    revision: &'a str,
}

/// The job's one group: tasks, network, volumes, disk, the service with its checks, scaling.
/// Also returns the Service's visibility, which the job's meta records.
fn build_group(
    ctx: &mut Ctx<'_>,
    svc: &KnativeService,
    serving: &Serving<'_>,
    scale: &scaling::Scale,
) -> Option<(TaskGroup, Option<&'static str>)> {
    let spec = &svc.spec.template.spec;
    let name = serving.name;
    let mut group = TaskGroup {
        name: Some(name.clone()),
        ..TaskGroup::default()
    };
    let mut ports = vec![Port {
        label: Some("http".to_string()),
        to: Some(i64::from(serving.port.number)),
        ..Port::default()
    }];
    note_group_fields(ctx, spec, serving.index);
    let volume_plan = volumes::plan(ctx, spec)?;
    let tasks = container::tasks(
        ctx,
        svc,
        serving.index,
        serving.port,
        serving.revision,
        &volume_plan,
    )?;
    let mut checks = probes::checks(ctx, spec, serving.index, serving.port, &mut ports, &tasks)?;
    group.tasks = tasks;
    // Probes on other ports need their labels in the task's docker ports too.
    if ports.len() > 1
        && let Some(task) = group.tasks.get_mut(serving.index)
        && let Some(serde_json::Value::Array(labels)) = task.config.get_mut("ports")
    {
        for p in ports.iter().skip(1) {
            if let Some(label) = &p.label {
                labels.push(serde_json::Value::String(label.clone()));
            }
        }
    }
    group.networks = vec![NetworkResource {
        dynamic_ports: ports,
        ..NetworkResource::default()
    }];
    group.volumes = volume_plan.group_volumes.clone();
    if let Some(disk) = resources::ephemeral_disk(ctx, spec)? {
        group.ephemeral_disk = Some(disk);
    }
    // Deregister from service discovery before the task is killed, as Knative drains a pod
    // before stopping it; Nomad 2 also warns about services without a shutdown delay.
    group.shutdown_delay = Some(5 * SECOND);

    let (tags, visibility) =
        traffic::service_tags(ctx, svc, name, serving.port, scale.scales_to_zero);
    checks.sort_by_key(|c| c.name.clone());
    note_checks(ctx, spec, serving.index, &checks);
    group.services = vec![Service {
        name: Some(name.clone()),
        port_label: Some("http".to_string()),
        provider: Some(ctx.opts.service_provider.as_str().to_string()),
        tags,
        checks,
        ..Service::default()
    }];
    scaling::apply(ctx, svc, scale, &mut group);
    volumes::share_claims(ctx, spec, &mut group);
    Some((group, visibility))
}

/// `--annotate` comments for the group's port, shutdown delay and service.
fn note_group_fields(ctx: &mut Ctx<'_>, spec: &RevisionSpec, serving: usize) {
    let g = ctx.group_path();
    ctx.note(
        format!("{g}/network/port[http]/to"),
        match spec.containers[serving]
            .ports
            .as_ref()
            .and_then(|p| p.first())
        {
            Some(_) => format!("containers[{serving}].ports[0].containerPort"),
            None => "default: Knative's port 8080".to_string(),
        },
    );
    ctx.note(
        format!("{g}/shutdown_delay"),
        "assumed: leave service discovery before stopping, as Knative drains a pod",
    );
    ctx.note(
        format!("{g}/service/provider"),
        "--service-provider (default nomad)",
    );
    ctx.note(format!("{g}/service/name"), "metadata.name");
}

/// `--annotate` comments saying which probe each service check comes from.
fn note_checks(ctx: &mut Ctx<'_>, spec: &RevisionSpec, serving: usize, checks: &[ServiceCheck]) {
    let short = format!("containers[{serving}]");
    for (i, c) in checks.iter().enumerate() {
        let origin = match c.name.as_deref() {
            Some("readiness") if spec.containers[serving].readiness_probe.is_some() => {
                format!("{short}.readinessProbe")
            }
            Some("readiness") => "default: Knative probes the serving port over TCP".to_string(),
            _ => format!(
                "{short}.livenessProbe; grace includes initialDelaySeconds and any startupProbe"
            ),
        };
        ctx.note(
            format!("{}/service/{}", ctx.group_path(), nth("check", i)),
            origin,
        );
    }
}

/// `--annotate` comments for the job-level fields.
fn note_job_fields(ctx: &mut Ctx<'_>, svc: &KnativeService) {
    ctx.note(
        "job/type",
        "Knative Services are long-running request servers",
    );
    ctx.note(
        "job/datacenters",
        if ctx.opts.datacenters == ["*"] {
            "default: any datacenter (--datacenter)"
        } else {
            "--datacenter"
        },
    );
    if ctx.opts.namespace_override.is_some() {
        ctx.note("job/namespace", "--nomad-namespace");
    } else if svc.metadata.namespace.is_some() {
        ctx.note("job/namespace", "metadata.namespace");
    }
    if ctx.opts.region.is_some() {
        ctx.note("job/region", "--region");
    }
    ctx.note(
        "job/update",
        "assumed: Knative moves traffic only to a ready revision and keeps the old one on failure",
    );
}

/// The revision's progress deadline: its annotation, else the cluster's default.
fn progress_deadline(ctx: &mut Ctx<'_>, svc: &KnativeService) -> Duration {
    let key = "serving.knative.dev/progress-deadline";
    let annotations = TemplateAnnotations::of(svc);
    match annotations.duration(ctx, key, None, Duration::from_secs(1)) {
        Some(d) => {
            let value = annotations.get(key, None).map_or("", |(_, v)| v);
            ctx.note("job/update/progress_deadline", format!("{key} {value}"));
            Duration::from_secs(d.as_secs())
        }
        None => {
            let default = ctx.opts.knative_defaults.progress_deadline;
            if default != Duration::from_secs(600) {
                ctx.note(
                    "job/update/progress_deadline",
                    "knative-defaults.progress-deadline",
                );
            }
            default
        }
    }
}

/// Knative shifts traffic only to a revision whose pods are ready and keeps the old one on
/// failure: health-gated, one at a time, with automatic revert.
fn update_strategy(progress: Duration) -> UpdateStrategy {
    let progress = i64::try_from(progress.as_secs()).unwrap_or(i64::MAX / SECOND) * SECOND;
    // Nomad requires progress_deadline > healthy_deadline > min_healthy_time.
    let healthy = (5 * 60 * SECOND).min(progress - SECOND).max(2 * SECOND);
    let progress = progress.max(healthy + SECOND);
    UpdateStrategy {
        max_parallel: Some(1),
        health_check: Some("checks".to_string()),
        min_healthy_time: Some((10 * SECOND).min(healthy - SECOND)),
        healthy_deadline: Some(healthy),
        progress_deadline: Some(progress),
        auto_revert: Some(true),
        ..UpdateStrategy::default()
    }
}

/// Labels and annotations as they are, plus provenance under `knative2nomad.*`.
fn job_meta(
    ctx: &Ctx<'_>,
    svc: &KnativeService,
    name: &str,
    visibility: Option<&'static str>,
) -> BTreeMap<String, String> {
    let mut meta = BTreeMap::new();
    for (k, v) in svc.metadata.labels.iter().flatten() {
        meta.insert(k.clone(), v.clone());
    }
    for (k, v) in svc.metadata.annotations.iter().flatten() {
        if SERVER_ANNOTATIONS.contains(&k.as_str()) {
            continue;
        }
        meta.entry(k.clone()).or_insert_with(|| v.clone());
    }
    meta.insert("knative2nomad.source".to_string(), ctx.doc.file.to_string());
    meta.insert(
        "knative2nomad.service".to_string(),
        format!("{}/{}", ctx.namespace, name),
    );
    meta.insert(
        "knative2nomad.version".to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
    );
    if let Some(v) = visibility {
        meta.insert("knative2nomad.visibility".to_string(), v.to_string());
    }
    meta
}
