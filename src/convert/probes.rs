//! Probes → Nomad service checks: readiness (or Knative's default TCP probe) gates health;
//! liveness adds check_restart, with a grace period covering initialDelaySeconds and any
//! startup probe, which Nomad has no separate notion of.

use super::container::ServingPort;
use super::{Ctx, SECOND};
use crate::config::ServiceProvider;
use crate::knative::model::RevisionSpec;
use crate::nomad::model::{CheckRestart, Port, ServiceCheck, Task};
use k8s_openapi::api::core::v1::Probe;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

pub fn checks(
    ctx: &mut Ctx<'_>,
    spec: &RevisionSpec,
    serving: usize,
    port: &ServingPort,
    ports: &mut Vec<Port>,
    tasks: &[Task],
) -> Option<Vec<ServiceCheck>> {
    let c = &spec.containers[serving];
    let base = format!("spec.template.spec.containers[{serving}]");
    let serving_task = tasks
        .iter()
        .find(|t| t.lifecycle.is_none() && t.config.get("ports").is_some())
        .and_then(|t| t.name.clone());
    let mut checks = Vec::new();

    let readiness = c.readiness_probe.clone().filter(|p| {
        p.http_get.is_some() || p.tcp_socket.is_some() || p.exec.is_some() || p.grpc.is_some()
    });
    match &readiness {
        Some(probe) => {
            let path = format!("{base}.readinessProbe");
            let mut check = probe_check(
                ctx,
                probe,
                &path,
                "readiness",
                port,
                ports,
                serving_task.as_deref(),
                true,
            )?;
            if ctx.opts.service_provider == ServiceProvider::Consul {
                check.success_before_passing =
                    probe.success_threshold.filter(|v| *v > 1).map(i64::from);
                check.failures_before_critical =
                    probe.failure_threshold.filter(|v| *v > 1).map(i64::from);
            }
            checks.push(check);
        }
        None => {
            ctx.report(
                "K2N030",
                &format!("{base}.readinessProbe"),
                format!(
                    "no readiness probe; Knative's default TCP probe on port {} is used",
                    port.number
                ),
            );
            checks.push(ServiceCheck {
                name: Some("readiness".to_string()),
                type_: Some("tcp".to_string()),
                interval: Some(SECOND),
                timeout: Some(SECOND),
                ..ServiceCheck::default()
            });
        }
    }

    // Nomad has no startup probe: its window becomes part of the liveness check's grace.
    let startup_window = c.startup_probe.as_ref().map(|p| {
        i64::from(p.initial_delay_seconds.unwrap_or(0))
            + i64::from(p.period_seconds.filter(|v| *v > 0).unwrap_or(10))
                * i64::from(p.failure_threshold.filter(|v| *v > 0).unwrap_or(3))
    });
    if let Some(probe) = &c.liveness_probe {
        let path = format!("{base}.livenessProbe");
        let mut check = probe_check(
            ctx,
            probe,
            &path,
            "liveness",
            port,
            ports,
            serving_task.as_deref(),
            false,
        )?;
        let grace =
            i64::from(probe.initial_delay_seconds.unwrap_or(0)) + startup_window.unwrap_or(0);
        check.check_restart = Some(CheckRestart {
            limit: Some(i64::from(
                probe.failure_threshold.filter(|v| *v > 0).unwrap_or(3),
            )),
            grace: Some(grace.max(1) * SECOND),
            ignore_warnings: Some(false),
        });
        check.task_name = serving_task.clone();
        ctx.report(
            "K2N048",
            &path,
            format!(
                "liveness probe restarts the task after {} failed checks (grace {}s)",
                probe.failure_threshold.filter(|v| *v > 0).unwrap_or(3),
                grace.max(1)
            ),
        );
        checks.push(check);
    } else if let Some(window) = startup_window {
        ctx.report(
            "K2N031",
            &format!("{base}.startupProbe"),
            format!("startup probe without liveness probe: Nomad's readiness check covers start-up (window {window}s)"),
        );
    }
    Some(checks)
}

#[allow(clippy::too_many_arguments)]
fn probe_check(
    ctx: &mut Ctx<'_>,
    probe: &Probe,
    path: &str,
    name: &str,
    port: &ServingPort,
    ports: &mut Vec<Port>,
    task: Option<&str>,
    readiness: bool,
) -> Option<ServiceCheck> {
    let period = probe.period_seconds.unwrap_or(0);
    let interval = if period <= 0 {
        if readiness {
            ctx.report(
                "K2N031",
                &format!("{path}.periodSeconds"),
                "Knative probes every 50 ms until ready; the Nomad check runs every 1s (its minimum)",
            );
            1
        } else {
            10
        }
    } else {
        i64::from(period)
    };
    let timeout = i64::from(probe.timeout_seconds.filter(|t| *t > 0).unwrap_or(1));
    let mut check = ServiceCheck {
        name: Some(name.to_string()),
        interval: Some(interval * SECOND),
        timeout: Some(timeout * SECOND),
        ..ServiceCheck::default()
    };
    let consul = ctx.opts.service_provider == ServiceProvider::Consul;
    let https = probe
        .http_get
        .as_ref()
        .is_some_and(|h| h.scheme.as_deref() == Some("HTTPS"));
    if let Some(http) = probe.http_get.as_ref().filter(|_| !https || consul) {
        check.type_ = Some("http".to_string());
        let p = http.path.clone().unwrap_or_else(|| "/".to_string());
        check.path = Some(if p.starts_with('/') {
            p
        } else {
            format!("/{p}")
        });
        if https {
            check.protocol = Some("https".to_string());
            // kubelet does not verify the certificate of an HTTPS probe either.
            check.tls_skip_verify = Some(true);
        }
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for h in http.http_headers.iter().flatten() {
            headers
                .entry(h.name.clone())
                .or_default()
                .push(h.value.clone());
        }
        if let Some(host) = &http.host {
            headers
                .entry("Host".to_string())
                .or_default()
                .push(host.clone());
        }
        check.header = headers;
        check.port_label = probe_port(
            ctx,
            Some(&http.port),
            &format!("{path}.httpGet.port"),
            port,
            ports,
        );
    } else if let Some(http) = &probe.http_get {
        // Nomad's own checks cannot skip certificate verification (nomad/structs/services.go
        // ServiceCheck.validateNomad refuses tls_skip_verify: "tls_skip_verify may only be set
        // for Consul service checks") and would verify the allocation's IP against the
        // certificate, which kubelet never does: the port is checked over TCP instead.
        ctx.report(
            "K2N100",
            &format!("{path}.httpGet.scheme"),
            "Nomad's built-in checks cannot skip TLS verification as kubelet does; a TCP check on the probe's port is used instead",
        );
        check.type_ = Some("tcp".to_string());
        check.port_label = probe_port(
            ctx,
            Some(&http.port),
            &format!("{path}.httpGet.port"),
            port,
            ports,
        );
    } else if let Some(tcp) = &probe.tcp_socket {
        check.type_ = Some("tcp".to_string());
        check.port_label = probe_port(
            ctx,
            Some(&tcp.port),
            &format!("{path}.tcpSocket.port"),
            port,
            ports,
        );
    } else if let Some(exec) = &probe.exec {
        let command = exec.command.clone().unwrap_or_default();
        if consul && !command.is_empty() {
            check.type_ = Some("script".to_string());
            check.command = Some(command[0].clone());
            check.args = command[1..].to_vec();
            check.task_name = task.map(str::to_string);
        } else {
            ctx.report(
                "K2N029",
                &format!("{path}.exec"),
                "exec probes need Consul script checks; a TCP check on the serving port is used instead",
            );
            check.type_ = Some("tcp".to_string());
        }
    } else if let Some(grpc) = &probe.grpc {
        if consul {
            check.type_ = Some("grpc".to_string());
            check.grpc_service = grpc.service.clone().filter(|s| !s.is_empty());
            let p = IntOrString::Int(grpc.port);
            check.port_label = probe_port(ctx, Some(&p), &format!("{path}.grpc.port"), port, ports);
        } else {
            ctx.report(
                "K2N029",
                &format!("{path}.grpc"),
                "gRPC probes need Consul grpc checks; a TCP check on the serving port is used instead",
            );
            check.type_ = Some("tcp".to_string());
        }
    }
    Some(check)
}

/// The port label of a probe: the service's own port (none needed) when the probe targets the
/// serving port or names none; otherwise a dedicated group port mapped to that container port.
fn probe_port(
    ctx: &mut Ctx<'_>,
    target: Option<&IntOrString>,
    path: &str,
    port: &ServingPort,
    ports: &mut Vec<Port>,
) -> Option<String> {
    let number = match target {
        None => return None,
        Some(IntOrString::Int(0)) => return None,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s))
            if s.is_empty() || s == "http1" || s == "h2c" || s == "user-port" =>
        {
            return None;
        }
        Some(IntOrString::String(s)) => match s.parse::<i32>() {
            Ok(n) => n,
            Err(_) => {
                ctx.report(
                    "K2N010",
                    path,
                    format!("probe port {s:?} does not name the container's port"),
                );
                return None;
            }
        },
    };
    if number == i32::from(port.number) {
        return None;
    }
    if !(1..=65535).contains(&number) {
        ctx.report(
            "K2N010",
            path,
            format!("probe port {number} is out of range"),
        );
        return None;
    }
    let label = format!("probe-{number}");
    if !ports
        .iter()
        .any(|p| p.label.as_deref() == Some(label.as_str()))
    {
        ports.push(Port {
            label: Some(label.clone()),
            to: Some(i64::from(number)),
            ..Port::default()
        });
    }
    Some(label)
}
