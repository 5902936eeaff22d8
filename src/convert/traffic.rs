//! Routing-level settings: traffic targets, revision naming, visibility and ingress tags, and
//! the Knative request settings and pod fields Nomad cannot express (reported, not dropped).

use super::Ctx;
use super::container::ServingPort;
use crate::knative::model::{KnativeService, RevisionSpec};

const VISIBILITY: &str = "networking.knative.dev/visibility";
const OLD_VISIBILITY: &str = "serving.knative.dev/visibility";

/// Autoscaling annotations on the Service's own metadata are rejected by Knative.
pub fn check_top_level_annotations(ctx: &mut Ctx<'_>, svc: &KnativeService) {
    for key in svc.metadata.annotations.iter().flatten().map(|(k, _)| k) {
        if key.starts_with("autoscaling.knative.dev/") {
            ctx.report(
                "K2N037",
                &format!("metadata.annotations[{key:?}]"),
                format!("{key} belongs under spec.template.metadata.annotations; ignored here"),
            );
        }
    }
}

/// K_REVISION: the template's name, or the name Knative gives a Service's first revision.
pub fn revision_name(ctx: &mut Ctx<'_>, svc: &KnativeService, name: &str) -> String {
    match &svc.spec.template.metadata.name {
        Some(rev) if !rev.is_empty() => {
            ctx.report(
                "K2N042",
                "spec.template.metadata.name",
                format!("Nomad has no revisions; K_REVISION is set to {rev:?}"),
            );
            rev.clone()
        }
        _ => format!("{name}-00001"),
    }
}

fn visibility(svc: &KnativeService) -> Option<String> {
    let labels = svc.metadata.labels.as_ref()?;
    labels.get(VISIBILITY).cloned()
}

/// The Service's host, as Knative's route would give it (`--domain-template`).
pub fn host(ctx: &Ctx<'_>, name: &str) -> String {
    ctx.opts
        .domain_template
        .replace("{name}", name)
        .replace("{namespace}", &ctx.namespace)
        .replace("{domain}", &ctx.opts.domain)
}

/// Service tags: ingress tags for Traefik (public Services only; for a Service that scales to
/// zero, only the second-hop router of its activation route), `cluster-local`, `h2c`, and the
/// Service's traffic tags. Returns the visibility recorded in job meta.
pub fn service_tags(
    ctx: &mut Ctx<'_>,
    svc: &KnativeService,
    name: &str,
    port: &ServingPort,
    scales_to_zero: bool,
) -> (Vec<String>, Option<&'static str>) {
    let mut tags = Vec::new();
    let labels = svc.metadata.labels.clone().unwrap_or_default();
    if labels.contains_key(OLD_VISIBILITY) {
        ctx.report(
            "K2N039",
            &format!("metadata.labels[{OLD_VISIBILITY:?}]"),
            format!("{OLD_VISIBILITY} is no longer read by Knative; the Service stays public"),
        );
    }
    let cluster_local = visibility(svc).as_deref() == Some("cluster-local");
    let visibility = if cluster_local {
        ctx.report(
            "K2N038",
            &format!("metadata.labels[{VISIBILITY:?}]"),
            "cluster-local: no ingress tags; the service is tagged cluster-local",
        );
        tags.push("cluster-local".to_string());
        Some("cluster-local")
    } else {
        None
    };
    if port.h2c {
        tags.push("h2c".to_string());
    }
    if scales_to_zero {
        tags.extend(super::activation::hop_tags(
            name,
            &host(ctx, name),
            port.h2c,
        ));
    } else if ctx.opts.traefik && !cluster_local {
        let host = host(ctx, name);
        tags.push("traefik.enable=true".to_string());
        tags.push(format!("traefik.http.routers.{name}.rule=Host(`{host}`)"));
        if port.h2c {
            tags.push(format!(
                "traefik.http.services.{name}.loadbalancer.server.scheme=h2c"
            ));
        }
    }
    for t in &svc.spec.traffic {
        if let Some(tag) = t.tag.as_deref().filter(|t| !t.is_empty()) {
            tags.push(format!("tag-{tag}"));
        }
    }
    (tags, visibility)
}

/// Traffic splits, pinned revisions and tags cannot be expressed by one Nomad job.
pub fn report_traffic(ctx: &mut Ctx<'_>, svc: &KnativeService) {
    let traffic = &svc.spec.traffic;
    let only_latest = traffic.is_empty()
        || (traffic.len() == 1
            && traffic[0].revision_name.is_none()
            && traffic[0].tag.is_none()
            && traffic[0].percent.unwrap_or(100) == 100);
    if only_latest {
        return;
    }
    let parts: Vec<String> = traffic
        .iter()
        .map(|t| {
            let target = t
                .revision_name
                .clone()
                .unwrap_or_else(|| "latest".to_string());
            match &t.tag {
                Some(tag) => format!("{target} {}% (tag {tag})", t.percent.unwrap_or(0)),
                None => format!("{target} {}%", t.percent.unwrap_or(0)),
            }
        })
        .collect();
    ctx.report(
        "K2N024",
        "spec.traffic",
        format!(
            "traffic [{}] is not converted; the job runs the template's current spec",
            parts.join(", ")
        ),
    );
}

/// Pod-level fields without a Nomad mapping, and Knative request settings.
pub fn report_unsupported_pod_fields(ctx: &mut Ctx<'_>, spec: &RevisionSpec) {
    let base = "spec.template.spec";
    if let Some(cc) = spec.container_concurrency.filter(|c| *c > 0) {
        ctx.report(
            "K2N022",
            &format!("{base}.containerConcurrency"),
            format!("containerConcurrency {cc} (a hard in-flight limit per instance) is not enforced by Nomad"),
        );
    }
    // 0 (or absent) sets no timer in Knative's queue-proxy (revision_defaults.go).
    for (field, set) in [
        (
            "responseStartTimeoutSeconds",
            spec.response_start_timeout_seconds.is_some_and(|t| t > 0),
        ),
        (
            "idleTimeoutSeconds",
            spec.idle_timeout_seconds.is_some_and(|t| t > 0),
        ),
    ] {
        if set {
            ctx.report(
                "K2N023",
                &format!("{base}.{field}"),
                format!("{field} bounds requests in Knative; Nomad does not see requests"),
            );
        }
    }
    if !spec.image_pull_secrets.is_empty() {
        ctx.report(
            "K2N041",
            &format!("{base}.imagePullSecrets"),
            "imagePullSecrets are not converted; configure registry auth on the Nomad clients",
        );
    }
    let mut dropped: Vec<String> = Vec::new();
    // The namespace's `default` account is what a pod gets without one.
    if spec
        .service_account_name
        .as_deref()
        .is_some_and(|a| a != "default")
    {
        dropped.push("serviceAccountName".into());
    }
    if !spec.node_selector.is_empty() {
        dropped.push("nodeSelector".into());
    }
    if !spec.tolerations.is_empty() {
        dropped.push("tolerations".into());
    }
    if spec.affinity.is_some() {
        dropped.push("affinity".into());
    }
    if spec
        .security_context
        .as_ref()
        .is_some_and(|sc| *sc != Default::default())
    {
        dropped.push("securityContext".into());
    }
    if spec.dns_config.is_some() {
        dropped.push("dnsConfig".into());
    }
    dropped.extend(spec.other.keys().cloned());
    for field in dropped {
        ctx.report(
            "K2N032",
            &format!("{base}.{field}"),
            format!("pod field {field} is not converted"),
        );
    }
}
