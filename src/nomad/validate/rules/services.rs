//! Services and their checks: TaskGroup.validateServices (group services), Task's
//! validateServices (task services: port labels and duplicate checks, which Nomad checks only
//! there), and nomad/structs/services.go `Service.Validate`, `ServiceCheck.validateCommon`,
//! `validateConsul`, `validateNomad`, `CheckRestart.Validate`, all on canonical services (a
//! name, a provider, named checks with lower-case types).

use super::port_labels;
use crate::nomad::SECOND;
use crate::nomad::model::{Service, ServiceCheck, Task, TaskGroup};
use std::collections::{BTreeSet, HashSet};

/// TaskGroup.validateServices.
pub fn validate_group_services(g: &TaskGroup) -> Vec<String> {
    let mut errs = Vec::new();
    let mut providers = BTreeSet::new();
    let mut keys = HashSet::new();
    for (i, s) in g.services.iter().enumerate() {
        let name = s.name.as_deref().unwrap_or("");
        providers.insert(s.provider.as_deref().unwrap_or("consul"));
        for e in validate_service(s) {
            errs.push(format!("Service[{i}] {name} validation failed: {e}"));
        }
        if s.address_mode.as_deref() == Some("driver") {
            errs.push(format!("service {name:?} cannot use address_mode=\"driver\", only services defined in a \"task\" block can use this mode"));
        }
        let port = s.port_label.as_deref().unwrap_or("");
        if !keys.insert((name, port)) {
            errs.push(format!("Services are not unique: group->{name}:{port}"));
        }
        for c in &s.checks {
            let cname = c.name.as_deref().unwrap_or("");
            if let Some(task) = c.task_name.as_deref().filter(|t| !t.is_empty())
                && !g.tasks.iter().any(|t| t.name.as_deref() == Some(task))
            {
                errs.push(format!(
                    "Check {cname} invalid: refers to non-existent task {task}"
                ));
            }
            // validateScriptChecksInGroupServices
            if c.type_.as_deref() == Some("script")
                && c.task_name.as_deref().unwrap_or("").is_empty()
                && s.task_name.as_deref().unwrap_or("").is_empty()
            {
                errs.push(format!(
                    "Service [{name}]->{name} or Check {cname} must specify task parameter"
                ));
            }
        }
    }
    if providers.len() > 1 {
        errs.push(
            "Multiple service providers used: task group services must use the same provider"
                .to_string(),
        );
    }
    errs
}

/// Task.validateServices: what Nomad checks of services defined in a task, and only there:
/// duplicate names, duplicate check names, and port labels that exist in the group network.
pub fn validate_task_services(t: &Task, g: &TaskGroup) -> Vec<String> {
    let mut errs = Vec::new();
    let labels = port_labels(g);
    let mut names = HashSet::new();
    let mut unknown_ports = BTreeSet::new();
    for (i, s) in t.services.iter().enumerate() {
        let name = s.name.as_deref().unwrap_or("");
        for e in validate_service(s) {
            errs.push(format!("service[{i}] {name:?} validation failed: {e}"));
        }
        if !names.insert(name) {
            errs.push(format!("service {name:?} is duplicate"));
        }
        let mut checks = HashSet::new();
        for c in &s.checks {
            let cname = c.name.as_deref().unwrap_or("");
            if !checks.insert(cname) {
                errs.push(format!("check {cname:?} is duplicate"));
            }
        }
        for port in std::iter::once(&s.port_label)
            .chain(s.checks.iter().map(|c| &c.port_label))
            .flatten()
        {
            if port.parse::<u16>().is_err() && !labels.contains(port) {
                unknown_ports.insert((port.clone(), name.to_string()));
            }
        }
    }
    for (port, service) in unknown_ports {
        errs.push(format!(
            "port label {port:?} referenced by services [{service}] does not exist"
        ));
    }
    errs
}

/// Service.Validate and its checks.
fn validate_service(s: &Service) -> Vec<String> {
    let mut errs = Vec::new();
    let name = s.name.as_deref().unwrap_or("");
    if !valid_service_name(name) {
        errs.push(format!("Service name must be valid per RFC 1123 and can contain only alphanumeric characters or dashes and must be no longer than 63 characters: {name:?}"));
    }
    let mode = s.address_mode.as_deref().unwrap_or("auto");
    if !matches!(mode, "auto" | "host" | "driver") {
        errs.push(format!(
            "Service address_mode must be \"auto\", \"host\", or \"driver\"; not {mode:?}"
        ));
    }
    if s.address.as_deref().is_some_and(|a| !a.is_empty()) && mode != "auto" {
        errs.push("Service address_mode must be \"auto\" if address is set".to_string());
    }
    let on_update = s.on_update.as_deref().unwrap_or("require_healthy");
    if !matches!(on_update, "require_healthy" | "ignore_warnings" | "ignore") {
        errs.push(format!("Service on_update must be \"require_healthy\", \"ignore_warnings\", or \"ignore\"; not {on_update:?}"));
    }
    let provider = s.provider.as_deref().unwrap_or("consul");
    if !matches!(provider, "consul" | "nomad") {
        errs.push(format!(
            "Service provider must be \"consul\", or \"nomad\"; not {provider:?}"
        ));
    }
    if provider == "nomad" && s.connect.is_some() {
        errs.push("Service with provider nomad cannot include Connect blocks".to_string());
    }
    let service_has_port = s.port_label.as_deref().is_some_and(|p| !p.is_empty());
    for c in &s.checks {
        let cname = c.name.as_deref().unwrap_or("");
        let ty = c.type_.as_deref().unwrap_or("");
        if matches!(ty, "http" | "tcp" | "grpc")
            && c.port_label.as_deref().unwrap_or("").is_empty()
            && !service_has_port
            && c.address_mode.as_deref() != Some("driver")
        {
            errs.push(format!("Check {cname} invalid: check requires a port but neither check nor service {name:?} have a port"));
            continue;
        }
        let problem = validate_common(c, provider).or_else(|| match provider {
            "nomad" => validate_nomad(c),
            _ => validate_consul(c),
        });
        if let Some(e) = problem {
            errs.push(match provider {
                "nomad" => e,
                _ => format!("Check {cname} invalid: {e}"),
            });
        }
    }
    errs
}

/// ServiceCheck.validateCommon: the first problem only, as Nomad returns it. The check types a
/// provider allows: nomad tcp and http; consul also grpc and script.
fn validate_common(c: &ServiceCheck, provider: &str) -> Option<String> {
    let ty = c.type_.as_deref().unwrap_or("");
    let allowed = if provider == "nomad" {
        "tcp, http"
    } else {
        "grpc, tcp, http, script"
    };
    if !allowed.split(", ").any(|a| a == ty) {
        return Some(format!(
            "invalid check type ({ty:?}), must be one of {allowed}"
        ));
    }
    if ty == "http" {
        let path = c.path.as_deref().unwrap_or("");
        if path.is_empty() {
            return Some("http type must have http path".to_string());
        }
        if !parses_as_url(path) {
            return Some("http type must have valid http path".to_string());
        }
        if has_url_scheme(path) {
            return Some("http type must have relative http path".to_string());
        }
    }
    if ty == "script" && c.command.as_deref().unwrap_or("").is_empty() {
        return Some("script type must have a valid script path".to_string());
    }
    let interval = c.interval.unwrap_or(0);
    if interval == 0 {
        return Some(
            "missing required value interval. Interval cannot be less than 1s".to_string(),
        );
    }
    if interval < SECOND {
        return Some(format!(
            "interval ({}) cannot be lower than 1s",
            super::go_duration(interval)
        ));
    }
    let timeout = c.timeout.unwrap_or(0);
    if timeout == 0 {
        return Some("missing required value timeout. Timeout cannot be less than 1s".to_string());
    }
    if timeout < SECOND {
        return Some(format!(
            "timeout ({}) is lower than required minimum timeout 1s",
            super::go_duration(timeout)
        ));
    }
    let status = c.initial_status.as_deref().unwrap_or("");
    if !matches!(status, "" | "passing" | "warning" | "critical") {
        return Some(format!(
            "invalid initial check state ({status}), must be one of \"passing\", \"warning\", \"critical\" or empty"
        ));
    }
    match c.address_mode.as_deref().unwrap_or("") {
        "" | "host" | "driver" | "alloc" => {}
        "auto" => {
            return Some("invalid address_mode \"auto\" - auto only valid for services".into());
        }
        other => return Some(format!("invalid address_mode {other:?}")),
    }
    let on_update = c.on_update.as_deref().unwrap_or("require_healthy");
    if !matches!(on_update, "require_healthy" | "ignore_warnings" | "ignore") {
        return Some(format!(
            "on_update must be \"require_healthy\", \"ignore_warnings\", or \"ignore\"; got {on_update:?}"
        ));
    }
    if let Some(cr) = &c.check_restart {
        if on_update == "ignore" {
            return Some("on_update value \"ignore\" is not compatible with check_restart".into());
        }
        let ignore_warnings = cr.ignore_warnings == Some(true);
        if on_update == "ignore_warnings" && !ignore_warnings {
            return Some(format!(
                "on_update value {on_update:?} not supported with check_restart ignore_warnings value \"{ignore_warnings}\""
            ));
        }
        if let Some(limit) = cr.limit.filter(|l| *l < 0) {
            return Some(format!(
                "limit must be greater than or equal to 0 but found {limit}"
            ));
        }
        if let Some(grace) = cr.grace.filter(|g| *g < 0) {
            return Some(format!(
                "grace period must be greater than or equal to 0 but found {grace}"
            ));
        }
    }
    None
}

/// ServiceCheck.validateNomad: what only Consul's checks may have.
fn validate_nomad(c: &ServiceCheck) -> Option<String> {
    let consul_only =
        |what: &str| Some(format!("{what} may only be set for Consul service checks"));
    if c.expose == Some(true) {
        return consul_only("expose");
    }
    if c.on_update.as_deref() == Some("ignore_warnings") {
        return Some(
            "on_update may only be set to ignore_warnings for Consul service checks".into(),
        );
    }
    if c.check_restart
        .as_ref()
        .is_some_and(|cr| cr.ignore_warnings == Some(true))
    {
        return Some(
            "ignore_warnings on check_restart only supported for Consul service checks".into(),
        );
    }
    if c.address_mode.as_deref() == Some("driver") {
        return consul_only("address_mode = driver");
    }
    for (value, what) in [
        (c.success_before_passing, "success_before_passing"),
        (c.failures_before_critical, "failures_before_critical"),
        (c.failures_before_warning, "failures_before_warning"),
    ] {
        if value.unwrap_or(0) != 0 {
            return consul_only(what);
        }
    }
    if c.tls_server_name.as_deref().is_some_and(|s| !s.is_empty()) {
        return consul_only("tls_server_name");
    }
    if c.tls_skip_verify == Some(true) {
        return consul_only("tls_skip_verify");
    }
    None
}

/// ServiceCheck.validateConsul: pass/fail counters only on check types that have them; notes
/// at most 255 characters; expose only on http and grpc checks.
fn validate_consul(c: &ServiceCheck) -> Option<String> {
    let ty = c.type_.as_deref().unwrap_or("");
    for (value, what) in [
        (c.success_before_passing, "success_before_passing"),
        (c.failures_before_critical, "failures_before_critical"),
        (c.failures_before_warning, "failures_before_warning"),
    ] {
        if value.unwrap_or(0) != 0 && !matches!(ty, "tcp" | "http" | "grpc") {
            return Some(format!("{what} not supported for check of type {ty:?}"));
        }
    }
    if c.expose == Some(true) && !matches!(ty, "http" | "grpc") {
        return Some("expose may only be set on HTTP or gRPC checks".into());
    }
    if c.notes.as_deref().is_some_and(|n| n.chars().count() > 255) {
        return Some("notes must not be longer than 255 characters".into());
    }
    None
}

/// Go's `url.Parse` accepts it: no control characters, `%` escapes well formed, and a colon
/// before the first `/` only after a valid scheme.
fn parses_as_url(path: &str) -> bool {
    let bytes = path.as_bytes();
    let escapes_ok = bytes.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    let first_segment = path.split('/').next().unwrap_or("");
    escapes_ok
        && !bytes.iter().any(|b| *b < 0x20 || *b == 0x7f)
        && (!first_segment.contains(':') || has_url_scheme(path))
}

/// Go's `url.Parse(path).IsAbs()`: a scheme (a letter, then letters, digits, `+-.`) and `:`.
fn has_url_scheme(path: &str) -> bool {
    let Some((scheme, _)) = path.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Service.ValidateName: `${...}` interpolations are replaced by `ENV-VAR` before the RFC 1123
/// check (args.ReplaceEnvWithPlaceHolder).
fn valid_service_name(name: &str) -> bool {
    let mut plain = String::new();
    let mut rest = name;
    while let Some(start) = rest.find("${") {
        plain.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => {
                plain.push_str("ENV-VAR");
                rest = &rest[start + end + 1..];
            }
            None => {
                plain.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    plain.push_str(rest);
    let b = plain.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}
