//! Scale to zero through Sablier, the default for a Service with min-scale 0: what wakes the
//! group on a request and puts it back to sleep when idle.
//!
//! - The group carries the meta Sablier's Nomad provider discovers it by (`sablier.enable`,
//!   `sablier.group`; pkg/provider/nomad in sablierapp/sablier), plus `sablier.ready-after` and
//!   `sablier.active.replicas` (pkg/sablier/labels.go).
//! - Its service tags define only Traefik's second-hop router, on the loopback `hop` entry point.
//! - A Traefik file-provider route (router → Sablier middleware → a service pointing at the hop
//!   entry point) exists while the group is at zero, when the group has no registration and so
//!   no tags: the first request reaches the middleware, which asks Sablier to scale the group up
//!   and holds the request until the group is ready.
//! - Knative's idle settings become the session duration, its wait for capacity the blocking
//!   timeout (docs/serverless.md has the reasoning and the sources).
//!
//! Not here: the count and scaling block (`scaling`), the platform jobs (`platform`).

use super::Ctx;
use super::scaling::{self, Scale};
use crate::knative::model::KnativeService;
use crate::nomad::SECOND;
use crate::nomad::hcl::format_duration;
use crate::nomad::model::TaskGroup;
use crate::traefik::dynamic::{
    Blocking, DynamicConfig, LoadBalancer, Middleware, Plugins, Router, SablierMiddleware, Server,
    Service,
};
use crate::traefik::{HOP, INTERNAL, WEB};
use std::time::Duration;

/// How long a scale-to-zero group stays up, and how long a request waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activation {
    /// Sablier's session: each request through the middleware extends it; when it runs out,
    /// Sablier scales the group to 0.
    pub session: Duration,
    /// How long the middleware holds a request while the group starts.
    pub timeout: Duration,
}

/// A Go duration string, as Sablier and its plugin parse them.
fn go(d: Duration) -> String {
    format_duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Knative keeps an idle revision's last pod for the stable window plus the scale-to-zero grace
/// period, or for the pod retention period if that is longer; it holds a request while the
/// revision starts for at most its request timeout, and a revision that is not ready within the
/// progress deadline fails. Reported (K2N092) because Sablier's timing is not Knative's.
pub fn settings(
    ctx: &mut Ctx<'_>,
    svc: &KnativeService,
    scale: &Scale,
    progress_deadline: Duration,
) -> Activation {
    let defaults = &ctx.opts.knative_defaults;
    let grace = defaults.scale_to_zero_grace_period;
    let retention = scale
        .retention
        .unwrap_or(defaults.scale_to_zero_pod_retention_period);
    let session = (scale.window + grace).max(retention);
    let request_timeout = svc
        .spec
        .template
        .spec
        .timeout_seconds
        .filter(|t| *t > 0)
        .map_or(defaults.revision_timeout, |t| Duration::from_secs(t as u64));
    let timeout = progress_deadline.min(request_timeout);
    ctx.report(
        "K2N092",
        &scaling::path_of("window"),
        format!(
            "idle after {} = max(stable window {} + scale-to-zero grace period {}, pod retention {}) becomes Sablier's sessionDuration; a request waits for a cold start at most {} = min(progress deadline {}, request timeout {}) as the blocking timeout",
            go(session),
            go(scale.window),
            go(grace),
            go(retention),
            go(timeout),
            go(progress_deadline),
            go(request_timeout),
        ),
    );
    Activation { session, timeout }
}

/// The meta Sablier's Nomad provider reads from the group (merged over the job's).
pub fn group_meta(ctx: &mut Ctx<'_>, name: &str, scale: &Scale, group: &mut TaskGroup) {
    let serverless = &ctx.opts.serverless;
    let mut meta = vec![
        ("sablier.enable", "true".to_string()),
        ("sablier.group", name.to_string()),
    ];
    if !serverless.ready_after.is_zero() {
        meta.push(("sablier.ready-after", go(serverless.ready_after)));
    }
    if scale.activation > 1 {
        meta.push(("sablier.active.replicas", scale.activation.to_string()));
    }
    for (key, value) in meta {
        group.meta.insert(key.to_string(), value);
    }
    let g = ctx.group_path();
    ctx.note(
        format!("{g}/meta"),
        "Sablier's Nomad provider finds the group by sablier.enable and sablier.group; ready-after covers Traefik seeing the new registration",
    );
    ctx.report(
        "K2N090",
        &scaling::path_of("min-scale"),
        format!(
            "{name} scales to zero through Sablier: the job starts at count 0 and its Traefik route (traefik/{name}.yml, written with -o) holds the first request until Sablier has started it"
        ),
    );
}

/// Service tags for the second hop only: a router on the loopback `hop` entry point. A public
/// router here would let requests bypass the Sablier middleware (and not extend the session).
pub fn hop_tags(name: &str, host: &str, h2c: bool) -> Vec<String> {
    let mut tags = vec![
        "traefik.enable=true".to_string(),
        format!("traefik.http.routers.{name}-hop.rule=Host(`{host}`)"),
        format!("traefik.http.routers.{name}-hop.entrypoints={HOP}"),
    ];
    if h2c {
        tags.push(format!(
            "traefik.http.services.{name}.loadbalancer.server.scheme=h2c"
        ));
    }
    tags
}

/// The Traefik file-provider route of a scale-to-zero Service.
pub fn route(
    ctx: &Ctx<'_>,
    name: &str,
    host: &str,
    cluster_local: bool,
    h2c: bool,
    activation: Activation,
) -> DynamicConfig {
    let serverless = &ctx.opts.serverless;
    let middleware = format!("{name}-sablier");
    let hop_service = format!("{name}-hop");
    let scheme = if h2c { "h2c" } else { "http" };
    let mut config = DynamicConfig::default();
    config.http.routers.insert(
        name.to_string(),
        Router {
            entry_points: vec![if cluster_local { INTERNAL } else { WEB }.to_string()],
            rule: format!("Host(`{host}`)"),
            middlewares: vec![middleware.clone()],
            service: hop_service.clone(),
        },
    );
    config.http.middlewares.insert(
        middleware,
        Middleware {
            plugin: Plugins {
                sablier: SablierMiddleware {
                    sablier_url: serverless.sablier_url.clone(),
                    group: name.to_string(),
                    session_duration: go(activation.session),
                    blocking: Blocking {
                        timeout: go(activation.timeout),
                    },
                },
            },
        },
    );
    config.http.services.insert(
        hop_service,
        Service {
            load_balancer: LoadBalancer {
                pass_host_header: true,
                servers: vec![Server {
                    url: format!("{scheme}://{}", serverless.hop_address),
                }],
            },
        },
    );
    config
}

/// Nomad's update block for a scale-to-zero job: Sablier counts an allocation ready only once
/// it is deployment-healthy (pkg/provider/nomad/job_inspect.go), so the minimum healthy time is
/// part of every cold start.
pub fn min_healthy_time(ctx: &mut Ctx<'_>, healthy_deadline: i64) -> i64 {
    let wanted = i64::try_from(ctx.opts.serverless.min_healthy_time.as_nanos()).unwrap_or(SECOND);
    let time = wanted.min(healthy_deadline - SECOND).max(0);
    ctx.report(
        "K2N093",
        "",
        format!(
            "update min_healthy_time is {} instead of 10s: Sablier waits for deployment health on every cold start, and this also shortens each step of a rolling update",
            format_duration(time)
        ),
    );
    ctx.note(
        "job/update/min_healthy_time",
        "scale to zero: part of every cold start (serverless.min-healthy-time)",
    );
    time
}
