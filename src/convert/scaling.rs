//! Autoscaling annotations → group count and a Nomad Autoscaler `scaling` block.
//!
//! Knative's KPA scales on in-flight requests (concurrency) or rps measured by its
//! queue-proxy. The Nomad Autoscaler needs a metric source for that: the policy reads Traefik's
//! per-service metrics from Prometheus, with Knative's target × utilization as the target value.
//! HPA-class CPU and memory targets read nomad-apm.
//!
//! A group that scales to zero through Sablier is different: Sablier owns its count (0 while
//! idle, the activation count while a session lasts), so it starts at 0 with a disabled scaling
//! block whose minimum is 0 (Nomad refuses a scale below `scaling.min`, Sablier's included) and
//! no Autoscaler policy that could fight Sablier over the count (docs/serverless.md).

use super::Ctx;
use super::annotations::{self, TemplateAnnotations};
use crate::config::ScaleToZero;
use crate::knative::model::KnativeService;
use crate::nomad::model::{ScalingPolicy, TaskGroup};
use serde_json::{Value, json};
use std::time::Duration;

/// `autoscaling.knative.dev/scale-to-zero-pod-retention-period` and its legacy alias.
pub const RETENTION: (&str, &str) = (
    "scale-to-zero-pod-retention-period",
    "scaleToZeroPodRetentionPeriod",
);

const PREFIX: &str = "autoscaling.knative.dev/";

/// Scale settings read from the template's annotations (Knative's defaults applied).
#[derive(Debug, Clone)]
pub struct Scale {
    pub min: u64,
    /// 0 = unlimited.
    pub max: u64,
    pub initial: u64,
    pub metric: String,
    pub target: Option<f64>,
    pub utilization: f64,
    /// The stable window (annotation or the cluster default): the Autoscaler's query window, and
    /// for the idle mapping.
    pub window: Duration,
    pub scale_down_delay_seconds: u64,
    /// min-scale 0 kept through Sablier (not `--scale-to-zero none`).
    pub scales_to_zero: bool,
    /// Replicas started when waking from zero (`activation-scale`; Knative behaves as 1 when
    /// unset).
    pub activation: u64,
    /// `scale-to-zero-pod-retention-period`, when the Service sets it.
    pub retention: Option<Duration>,
    class_hpa: bool,
}

/// `autoscaling.knative.dev/<name>`.
fn key(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// The YAML path of the autoscaling annotation `name`.
pub fn path_of(name: &str) -> String {
    annotations::path(&key(name))
}

pub fn read(ctx: &mut Ctx<'_>, svc: &KnativeService) -> Option<Scale> {
    let annotations = TemplateAnnotations::of(svc);
    // An autoscaling annotation by its name and legacy camelCase alias.
    let annotation =
        |name: &str, alias: Option<&str>| annotations.get(&key(name), alias.map(key).as_deref());
    let int = |ctx: &mut Ctx<'_>, name: &str, alias: Option<&str>, default: u64| -> u64 {
        match annotation(name, alias) {
            None => default,
            Some((full, v)) => match v.trim().parse::<u64>() {
                Ok(n) => n,
                Err(_) => {
                    ctx.report(
                        "K2N013",
                        &annotations::path(full),
                        format!("{full} must be a non-negative integer, not {v:?}"),
                    );
                    default
                }
            },
        }
    };
    let min = int(ctx, "min-scale", Some("minScale"), 0);
    let max = int(ctx, "max-scale", Some("maxScale"), 0);
    let initial = int(ctx, "initial-scale", Some("initialScale"), 1);
    if max > 0 && min > max {
        let found = annotation("min-scale", Some("minScale"))
            .map(|(k, _)| k)
            .unwrap_or_default();
        ctx.report(
            "K2N013",
            &annotations::path(found),
            format!("min-scale {min} is greater than max-scale {max}"),
        );
    }
    let class = annotation("class", None).map(|(_, v)| v.to_string());
    let class_hpa = class.as_deref() == Some("hpa.autoscaling.knative.dev");
    let metric = annotation("metric", None)
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| if class_hpa { "cpu" } else { "concurrency" }.to_string());
    let float =
        |ctx: &mut Ctx<'_>, key: &str, alias: Option<&str>, lo: f64, hi: f64| -> Option<f64> {
            let (full, v) = annotation(key, alias)?;
            match v.trim().parse::<f64>() {
                Ok(n) if n.is_finite() && n >= lo && n <= hi => Some(n),
                _ => {
                    ctx.report(
                        "K2N013",
                        &annotations::path(full),
                        format!("{full} must be a number between {lo} and {hi}, not {v:?}"),
                    );
                    None
                }
            }
        };
    let mut target = float(ctx, "target", None, 0.01, f64::MAX);
    // Knative: the concurrency target defaults to containerConcurrency when that is set, and an
    // explicit target is capped at it.
    let cc = svc.spec.template.spec.container_concurrency.unwrap_or(0);
    if metric == "concurrency" && cc > 0 {
        target = Some(target.map_or(cc as f64, |t| t.min(cc as f64)));
    }
    let utilization = float(
        ctx,
        "target-utilization-percentage",
        Some("targetUtilizationPercentage"),
        1.0,
        100.0,
    )
    .unwrap_or(70.0);
    let seconds = |ctx: &mut Ctx<'_>, name: &str, alias: Option<&str>, default: u64| -> u64 {
        let alias = alias.map(key);
        annotations
            .duration(ctx, &key(name), alias.as_deref(), Duration::ZERO)
            .map_or(default, |d| d.as_secs())
    };
    let window = annotations
        .duration(ctx, &key("window"), None, Duration::ZERO)
        .unwrap_or(ctx.opts.knative_defaults.stable_window);
    let scale_down_delay_seconds = seconds(ctx, "scale-down-delay", Some("scaleDownDelay"), 0);
    let scales_to_zero = min == 0 && ctx.opts.scale_to_zero == ScaleToZero::Sablier;
    let (mut activation, mut retention) = (1, None);
    if scales_to_zero {
        activation = activation_scale(ctx, annotations, max);
        retention = annotations.duration(
            ctx,
            &key(RETENTION.0),
            Some(&key(RETENTION.1)),
            Duration::ZERO,
        );
    }
    // What only matters when waking from zero has no meaning for a group that never sleeps.
    let waking: &[(&str, Option<&str>, Option<&str>)] = if scales_to_zero {
        &[]
    } else {
        &[
            ("activation-scale", None, None),
            (RETENTION.0, Some(RETENTION.1), Some("0s")),
        ]
    };
    // With its value Knative's default (config-autoscaler), such an annotation changes nothing
    // that its absence would not, and its absence is not reported either.
    for (key, alias, default) in [
        (
            "panic-window-percentage",
            Some("panicWindowPercentage"),
            Some("10"),
        ),
        (
            "panic-threshold-percentage",
            Some("panicThresholdPercentage"),
            Some("200"),
        ),
        (
            "target-burst-capacity",
            Some("targetBurstCapacity"),
            Some("211"),
        ),
        (
            "metric-aggregation-algorithm",
            Some("metricAggregationAlgorithm"),
            Some("linear"),
        ),
    ]
    .iter()
    .chain(waking)
    {
        if let Some((full, v)) = annotation(key, *alias)
            && !default.is_some_and(|d| same_setting(v, d))
        {
            ctx.report(
                "K2N026",
                &annotations::path(full),
                format!("{full}: {v} has no Nomad Autoscaler equivalent"),
            );
        }
    }
    if ctx.has_errors() {
        return None;
    }
    Some(Scale {
        min,
        max,
        initial,
        metric,
        target,
        utilization,
        window,
        scale_down_delay_seconds,
        scales_to_zero,
        activation,
        retention,
        class_hpa,
    })
}

/// Whether an annotation value says the same as `default`: equal numbers (`10`, `10.0`), equal
/// Go durations (`0s`, `0m`), or equal words.
fn same_setting(value: &str, default: &str) -> bool {
    let value = value.trim();
    if let (Ok(a), Ok(b)) = (value.parse::<f64>(), default.parse::<f64>()) {
        return a == b;
    }
    let seconds = |v: &str| -> Option<f64> {
        let split = v.find(|c: char| c.is_ascii_alphabetic())?;
        let number: f64 = v[..split].parse().ok()?;
        let unit = match &v[split..] {
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "ms" => 0.001,
            _ => return None,
        };
        Some(number * unit)
    };
    match (seconds(value), seconds(default)) {
        (Some(a), Some(b)) => a == b,
        _ => value == default,
    }
}

/// `activation-scale`: at least 2 and at most max-scale, as Knative's webhook requires; a value it
/// would refuse is an error (K2N013), like any invalid autoscaling annotation.
fn activation_scale(ctx: &mut Ctx<'_>, annotations: TemplateAnnotations<'_>, max: u64) -> u64 {
    let Some((full, value)) = annotations.get(&key("activation-scale"), None) else {
        return 1;
    };
    let path = annotations::path(full);
    match value.trim().parse::<u64>() {
        Ok(n) if n >= 2 && (max == 0 || n <= max) => n,
        Ok(n) if n >= 2 => {
            ctx.report(
                "K2N013",
                &path,
                format!("{full} {n} must not exceed max-scale {max}"),
            );
            1
        }
        _ => {
            ctx.report(
                "K2N013",
                &path,
                format!("{full} must be an integer of at least 2, not {value:?}"),
            );
            1
        }
    }
}

pub fn apply(ctx: &mut Ctx<'_>, svc: &KnativeService, scale: &Scale, group: &mut TaskGroup) {
    if scale.scales_to_zero {
        return apply_sablier(ctx, svc, scale, group);
    }
    let name = svc.metadata.name.clone().unwrap_or_default();
    let path_min = path_of("min-scale");
    let mut min = scale.min;
    if min == 0 {
        ctx.report(
            "K2N020",
            &path_min,
            "the Service scales to zero in Knative; with --scale-to-zero none one instance stays up",
        );
        min = 1;
    }
    let max = if scale.max == 0 {
        unlimited_max(ctx, min)
    } else {
        scale.max.max(min)
    };
    let count = scale.initial.max(min).min(max);
    group.count = Some(count as i64);
    let g = ctx.group_path();
    ctx.note(
        format!("{g}/count"),
        format!(
            "max(initial-scale {}, min-scale {min}), at most max-scale {max}",
            scale.initial
        ),
    );
    ctx.note(
        format!("{g}/scaling/min"),
        if scale.min == 0 {
            "min-scale 0 (scale to zero) raised to 1: --scale-to-zero none".to_string()
        } else {
            format!("min-scale {}", scale.min)
        },
    );
    note_max(ctx, scale, max);
    if min == max {
        return; // a fixed size: nothing to autoscale
    }
    let (check_name, source, query, target) = policy_check(scale, &name, ctx);
    let mut check = serde_json::Map::new();
    check.insert("source".into(), json!(source));
    check.insert("query".into(), json!(query));
    check.insert(
        "query_window".into(),
        json!(format!("{}s", scale.window.as_secs().max(10))),
    );
    check.insert(
        "strategy".into(),
        json!([{ "target-value": [{ "target": target }] }]),
    );
    let mut policy = serde_json::Map::new();
    let cooldown = scale.scale_down_delay_seconds.max(60);
    policy.insert("cooldown".into(), json!(format!("{cooldown}s")));
    policy.insert("evaluation_interval".into(), json!("10s"));
    policy.insert(
        "check".into(),
        Value::Array(vec![json!({ check_name: [Value::Object(check)] })]),
    );
    group.scaling = Some(ScalingPolicy {
        enabled: Some(true),
        min: Some(min as i64),
        max: Some(max as i64),
        type_: Some("horizontal".to_string()),
        policy,
        ..ScalingPolicy::default()
    });
}

/// A group that scales to zero through Sablier: count 0, a disabled scaling block with
/// minimum 0 (so Nomad accepts Sablier's scale-down) and the maximum as a cap on manual scaling,
/// and no Autoscaler policy.
fn apply_sablier(ctx: &mut Ctx<'_>, svc: &KnativeService, scale: &Scale, group: &mut TaskGroup) {
    let max = if scale.max == 0 {
        unlimited_max(ctx, scale.activation)
    } else {
        scale.max
    };
    if max > scale.activation {
        let knative = if scale.max == 0 {
            "without limit".to_string()
        } else {
            format!("up to {max}")
        };
        ctx.report(
            "K2N091",
            &path_of("max-scale"),
            format!(
                "Knative scales this Service from 0 {knative} on {}; Sablier starts {n} instance(s) on the first request and keeps that count until the Service is idle, so scaling above {n} is not migrated",
                scale.metric,
                n = scale.activation
            ),
        );
    }
    let initial =
        TemplateAnnotations::of(svc).get(&key("initial-scale"), Some(&key("initialScale")));
    if let Some((full, value)) = initial.filter(|_| scale.initial > 0) {
        ctx.report(
            "K2N094",
            &annotations::path(full),
            format!("{full} {value}: the job is registered at count 0; Sablier starts it on the first request"),
        );
    }
    group.count = Some(0);
    group.scaling = Some(ScalingPolicy {
        enabled: Some(false),
        min: Some(0),
        max: Some(max as i64),
        ..ScalingPolicy::default()
    });
    let g = ctx.group_path();
    ctx.note(
        format!("{g}/count"),
        "scale to zero: starts at 0; Sablier scales it up on the first request",
    );
    ctx.note(
        format!("{g}/scaling/min"),
        "min-scale 0: Nomad refuses any scale below scaling.min, Sablier's too",
    );
    note_max(ctx, scale, max);
    ctx.note(
        format!("{g}/scaling/enabled"),
        "Sablier owns the count; an Autoscaler policy would fight it",
    );
}

/// The scaling maximum for Knative's unlimited max-scale (0): `--default-max-scale`, at least
/// `floor`; reported (K2N021), since Nomad's scaling block needs a maximum.
fn unlimited_max(ctx: &mut Ctx<'_>, floor: u64) -> u64 {
    let cap = ctx.opts.default_max_scale.max(floor);
    ctx.report(
        "K2N021",
        &path_of("max-scale"),
        format!("max-scale is unlimited in Knative; the scaling maximum is set to {cap}"),
    );
    cap
}

/// The `--annotate` comment of the group's scaling maximum `max`.
fn note_max(ctx: &mut Ctx<'_>, scale: &Scale, max: u64) {
    let g = ctx.group_path();
    ctx.note(
        format!("{g}/scaling/max"),
        if scale.max == 0 {
            format!("max-scale unlimited: --default-max-scale {max}")
        } else {
            format!("max-scale {max}")
        },
    );
}

/// (check name, APM source, query, target value) for the autoscaler policy.
fn policy_check(
    scale: &Scale,
    name: &str,
    ctx: &mut Ctx<'_>,
) -> (String, &'static str, String, Value) {
    let util = scale.utilization / 100.0;
    let traefik_service = match ctx.opts.service_provider {
        crate::config::ServiceProvider::Nomad => format!("{name}@nomad"),
        crate::config::ServiceProvider::Consul => format!("{name}@consulcatalog"),
    };
    let round = |v: f64| (v * 100.0).round() / 100.0;
    let path = path_of("metric");
    let (check, source, query, target) = match scale.metric.as_str() {
        "cpu" => (
            "cpu",
            "nomad-apm",
            "avg_cpu-allocated".to_string(),
            scale
                .target
                .unwrap_or(if scale.class_hpa { 80.0 } else { 70.0 }),
        ),
        "memory" => (
            "memory",
            "nomad-apm",
            "avg_memory-allocated".to_string(),
            scale.target.unwrap_or(80.0),
        ),
        "rps" => (
            "rps",
            "prometheus",
            format!(
                "sum(rate(traefik_service_requests_total{{service=\"{traefik_service}\"}}[1m]))"
            ),
            round(scale.target.unwrap_or(200.0) * util),
        ),
        other => {
            if other != "concurrency" {
                ctx.report(
                    "K2N026",
                    &path,
                    format!("metric {other:?} has no Nomad Autoscaler source; concurrency is used"),
                );
            }
            (
                "concurrency",
                "prometheus",
                format!("sum(traefik_service_open_connections{{service=\"{traefik_service}\"}})"),
                round(scale.target.unwrap_or(100.0) * util),
            )
        }
    };
    let g = ctx.group_path();
    ctx.note(
        format!("{g}/scaling/policy/check[{check}]/strategy[target-value]/target"),
        match (scale.metric.as_str(), scale.target) {
            ("cpu" | "memory", Some(t)) => format!("autoscaling.knative.dev/target {t}"),
            ("cpu" | "memory", None) => "default target".to_string(),
            (_, Some(t)) => format!(
                "autoscaling.knative.dev/target {t} × utilization {}%",
                scale.utilization
            ),
            (_, None) => format!("default target × utilization {}%", scale.utilization),
        },
    );
    ctx.note(
        format!("{g}/scaling/policy/check[{check}]/query_window"),
        format!(
            "autoscaling.knative.dev/window ({}s)",
            scale.window.as_secs()
        ),
    );
    ctx.report(
        "K2N025",
        &path,
        format!("autoscaling on {check} becomes a Nomad Autoscaler target-value policy ({source}: {query}, target {target})"),
    );
    // Whole numbers as integers, so JSON and HCL (which prints 70.0 as 70) say the same.
    let target = if target.fract() == 0.0 && target.abs() < 1e15 {
        json!(target as i64)
    } else {
        json!(target)
    };
    (check.to_string(), source, query, target)
}
