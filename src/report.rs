//! What a batch tells people and CI systems: a Markdown or JSON migration report, a JUnit file
//! (one test case per Service), GitHub Actions annotations, and the secret-variables manifest
//! (Nomad Variable paths and item names an operator must create; never values).

use crate::batch::{Batch, ServiceOutcome};
use crate::findings::{Finding, Severity};
use crate::knative::resources::ResolvedFrom;
use crate::output::OutputFormat;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Debug, Serialize)]
struct ServiceRow<'a> {
    service: String,
    source: &'a str,
    output: Option<String>,
    /// `scale to zero (Sablier)` or `always on`; absent for a Service that failed.
    scaling: Option<&'static str>,
    /// The Traefik route file of a Service that scales to zero, relative to the output directory.
    route: Option<String>,
    status: &'static str,
    errors: usize,
    warnings: usize,
    notes: usize,
    findings: Vec<&'a Finding>,
    /// The file and line of each ConfigMap and Secret the Service was converted with (in the
    /// Service's namespace).
    resolved: Vec<&'a ResolvedFrom>,
}

fn status(s: &ServiceOutcome) -> &'static str {
    if s.ok {
        if s.converted
            .findings
            .iter()
            .any(|f| f.severity == Severity::Warning)
        {
            "converted with warnings"
        } else {
            "converted"
        }
    } else {
        "failed"
    }
}

const SCALES_TO_ZERO: &str = "scale to zero (Sablier)";
const ALWAYS_ON: &str = "always on";

fn rows(batch: &Batch, format: OutputFormat) -> Vec<ServiceRow<'_>> {
    batch
        .services
        .iter()
        .map(|s| {
            let count = |sev| {
                s.converted
                    .findings
                    .iter()
                    .filter(|f| f.severity == sev)
                    .count()
            };
            ServiceRow {
                service: format!("{}/{}", s.converted.namespace, s.converted.job_id),
                source: &s.source,
                output: s.ok.then(|| s.output_path(format).display().to_string()),
                scaling: s.ok.then_some(if s.scales_to_zero() {
                    SCALES_TO_ZERO
                } else {
                    ALWAYS_ON
                }),
                route: s.route_path().map(|p| p.display().to_string()),
                status: status(s),
                errors: count(Severity::Error),
                warnings: count(Severity::Warning),
                notes: count(Severity::Info),
                findings: s.converted.findings.iter().collect(),
                resolved: s.converted.resolved.iter().collect(),
            }
        })
        .collect()
}

/// The report as JSON: every service with its findings, plus findings not tied to a service.
pub fn json(batch: &Batch, format: OutputFormat) -> String {
    let value = serde_json::json!({
        "summary": crate::batch::summary(batch),
        "services": rows(batch, format),
        "other_findings": batch.other_findings,
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// The report as Markdown: a table a reviewer reads in a pull request.
pub fn markdown(batch: &Batch, format: OutputFormat) -> String {
    let mut out = String::from("# Knative → Nomad migration report\n\n");
    let _ = writeln!(out, "{}\n", crate::batch::summary(batch));
    out.push_str(
        "| service | source | output | scaling | status | findings |\n|---|---|---|---|---|---|\n",
    );
    let rows = rows(batch, format);
    for r in &rows {
        let codes: BTreeMap<&str, usize> = r.findings.iter().fold(BTreeMap::new(), |mut m, f| {
            *m.entry(f.code).or_default() += 1;
            m
        });
        let codes: Vec<String> = codes
            .iter()
            .map(|(c, n)| {
                if *n > 1 {
                    format!("{c}×{n}")
                } else {
                    c.to_string()
                }
            })
            .collect();
        let output = match (&r.output, &r.route) {
            (Some(job), Some(route)) => format!("{job}, {route}"),
            (Some(job), None) => job.clone(),
            _ => "—".to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&r.service),
            cell(r.source),
            cell(&output),
            r.scaling.unwrap_or("—"),
            r.status,
            cell(&codes.join(", "))
        );
    }
    resolved_section(&mut out, &rows);
    let problems: Vec<&Finding> = batch
        .all_findings()
        .filter(|f| f.severity != Severity::Info)
        .collect();
    if !problems.is_empty() {
        out.push_str("\n## Errors and warnings\n\n");
        for f in problems {
            let _ = writeln!(
                out,
                "- **{}** `{}` {}: {}",
                f.severity,
                f.code,
                cell(&f.location.to_string()),
                cell(&f.message)
            );
        }
    }
    out
}

/// Which file and line each Service's ConfigMaps and Secrets came from (a Service sees the
/// nearest definition, so the same name may come from different files for different Services).
fn resolved_section(out: &mut String, rows: &[ServiceRow<'_>]) {
    if rows.iter().all(|r| r.resolved.is_empty()) {
        return;
    }
    out.push_str(
        "\n## ConfigMaps and Secrets used\n\n| service | object | defined at |\n|---|---|---|\n",
    );
    for r in rows {
        for from in &r.resolved {
            let _ = writeln!(
                out,
                "| {} | {} {} | {}:{} |",
                cell(&r.service),
                from.kind,
                cell(&from.name),
                cell(&from.file),
                from.line
            );
        }
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// JUnit XML: one test case per Service (failed when it could not be converted, or when a
/// warning trips `strict`), and one per unreadable input.
pub fn junit(batch: &Batch, strict: bool, allow: &[String]) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new("knative2nomad convert");
    for s in &batch.services {
        let findings = &s.converted.findings;
        let failed = crate::findings::fails(findings, strict, allow) || !s.ok;
        let status = if failed {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let first = findings
                .iter()
                .find(|f| f.severity == Severity::Error)
                .or_else(|| findings.iter().find(|f| f.severity == Severity::Warning));
            if let Some(f) = first {
                st.set_message(format!("{}: {}", f.code, f.message));
                st.set_type(f.code);
            }
            st
        } else {
            TestCaseStatus::success()
        };
        let mut case = TestCase::new(
            format!("{}/{}", s.converted.namespace, s.converted.job_id),
            status,
        );
        case.set_classname(s.source.to_string());
        let text: String = findings
            .iter()
            .map(|f| format!("{}[{}] {}: {}\n", f.severity, f.code, f.location, f.message))
            .collect();
        if !text.is_empty() {
            case.set_system_out(text);
        }
        suite.add_test_case(case);
    }
    for f in batch
        .other_findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
    {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
        st.set_message(format!("{}: {}", f.code, f.message));
        let mut case = TestCase::new(f.location.to_string(), st);
        case.set_classname(f.location.file.to_string());
        suite.add_test_case(case);
    }
    let mut report = Report::new("knative2nomad");
    report.add_test_suite(suite);
    report.to_string().unwrap_or_default()
}

/// GitHub Actions workflow commands, so findings show up on the pull request's files.
pub fn github_annotations(batch: &Batch) -> String {
    let mut out = String::new();
    for f in batch.all_findings() {
        let level = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => continue,
        };
        let mut props = format!("file={}", escape_property(&f.location.file));
        if f.location.line > 0 {
            let _ = write!(props, ",line={},col={}", f.location.line, f.location.column);
        }
        let _ = write!(props, ",title={}", f.code);
        let _ = writeln!(
            out,
            "::{level} {props}::{}",
            escape_data(&format!("{} ({})", f.message, f.hint))
        );
    }
    out
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// For each job, the Nomad Variables it reads and their item names, with `nomad var put`
/// commands whose values are placeholders. Item names come from key names only.
pub fn secrets_manifest(batch: &Batch) -> String {
    let mut out = String::from(
        "# Nomad Variables the migrated jobs read\n\n\
Create each variable before running its job; a task waits until its variable exists. Values are \
never copied by knative2nomad: take them from the Kubernetes Secret or ConfigMap named in each item \
(`<name>_<key>`, with characters other than letters, digits and `_` replaced by `_`).\n",
    );
    let mut any = false;
    for s in &batch.services {
        if !s.ok || s.converted.variables.is_empty() {
            continue;
        }
        any = true;
        let namespace = &s.nomad_namespace;
        let _ = writeln!(
            out,
            "\n## job `{}` (namespace `{namespace}`)\n",
            s.converted.job_id
        );
        for (path, items) in &s.converted.variables {
            let _ = writeln!(
                out,
                "- `{path}`: {}",
                items
                    .iter()
                    .map(|i| format!("`{i}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        out.push_str("\n```sh\n");
        // Every value is shell-quoted: the line is pasted into a shell.
        for (path, items) in &s.converted.variables {
            let assignments: Vec<String> = items
                .iter()
                .map(|i| {
                    // Item names are `[A-Za-z0-9_]` by construction; quote them anyway if not.
                    if i.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        format!("{i}={}", crate::shell::quote(&format!("<{i}>")))
                    } else {
                        crate::shell::quote(&format!("{i}=<{i}>"))
                    }
                })
                .collect();
            let _ = writeln!(
                out,
                "nomad var put -namespace {} {} {}",
                crate::shell::quote(namespace),
                crate::shell::quote(path),
                assignments.join(" ")
            );
        }
        out.push_str("```\n");
    }
    if !any {
        out.push_str("\nNo job reads a Nomad Variable.\n");
    }
    out
}
