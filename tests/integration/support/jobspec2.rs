//! Nomad's own job parser as a judge: locating `jobspec2json` (Nomad's `jobspec2` package built
//! as a command, in ../shared/tools/nomad-jobspec2/, absent from a user's clone), running it, and
//! comparing the `api.Job` it decodes from our HCL with our `--format json`.
//!
//! The comparison: every value both sides set must be equal; a value only we set is a failure;
//! a value only Nomad's side sets must be either the Go zero value of a non-pointer field (Go
//! prints `""`, `0`, `false` for those whether or not the file set them) or one of the defaults
//! jobspec2 itself fills in, listed in [`NOMAD_PARSER_DEFAULTS`] with their source.

use knative2nomad::nomad::schema::{FieldType, schema};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The three builds of Nomad's parser: 2.0.6-dev, 1.8.4, 1.10.5 (their README).
pub const PARSERS: [&str; 3] = ["jobspec2json", "jobspec2json-1.8", "jobspec2json-1.10"];

/// Values jobspec2 sets on its own when the file leaves them out. Matched against the end of a
/// field's path (indices written `[]`).
pub const NOMAD_PARSER_DEFAULTS: &[(&str, &str, &str)] = &[
    // jobspec2/parse_job.go normalizeTemplates
    (
        "Templates[].ChangeMode",
        "\"restart\"",
        "jobspec2 normalizeTemplates",
    ),
    (
        "Templates[].Perms",
        "\"0644\"",
        "jobspec2 normalizeTemplates",
    ),
    (
        "Templates[].Splay",
        "5000000000",
        "jobspec2 normalizeTemplates",
    ),
    (
        "Templates[].ErrMissingKey",
        "false",
        "jobspec2 normalizeTemplates",
    ),
    // jobspec2/hcl_conversions.go decodeTaskGroup
    (
        "TaskGroups[].Scaling.Type",
        "\"horizontal\"",
        "jobspec2 decodeTaskGroup",
    ),
];

/// The directory holding the parsers, or `None` after printing why the caller skips.
pub fn tools_dir(test: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/nomad-jobspec2");
    if PARSERS.iter().all(|p| dir.join(p).is_file()) {
        Some(dir)
    } else {
        println!(
            "{test}: skipped, Nomad's parser is not at {} (a clone without ../shared)",
            dir.display()
        );
        None
    }
}

/// What one parser made of one file: the job, or its diagnostic.
pub fn decode(tools: &Path, parser: &str, file: &Path) -> Result<Value, String> {
    let out = Command::new(tools.join(parser))
        .arg("-no-env")
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run {parser}: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let mut v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{parser} printed no JSON: {e}"))?;
    Ok(v["Job"].take())
}

/// Runs `work` over `items` on a few threads (the machine is shared; processes are cheap).
pub fn in_parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&work).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker panicked"))
            .collect()
    })
}

/// The outcome of comparing jobs: counts and every disagreement.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Scalar values both sides set, compared equal or not.
    pub fields: usize,
    /// Values only Nomad's side set, by rule (`zero value` or a [`NOMAD_PARSER_DEFAULTS`] path).
    pub nomad_only: BTreeMap<String, usize>,
    pub problems: Vec<String>,
}

impl Comparison {
    pub fn merge(&mut self, other: Comparison) {
        self.fields += other.fields;
        for (k, n) in other.nomad_only {
            *self.nomad_only.entry(k).or_default() += n;
        }
        self.problems.extend(other.problems);
    }
}

/// Compares our API JSON of a job with the `api.Job` Nomad's parser decoded from our HCL.
pub fn compare_job(ours: &Value, nomad: &Value) -> Comparison {
    let mut c = Comparison::default();
    walk(&FieldType::Struct("Job".into()), ours, nomad, "", &mut c);
    c
}

fn is_unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn is_go_zero(v: &Value) -> bool {
    matches!(v, Value::Bool(false)) || v.as_str() == Some("") || v.as_f64() == Some(0.0)
}

fn walk(ty: &FieldType, ours: &Value, nomad: &Value, path: &str, c: &mut Comparison) {
    match (ours, nomad) {
        (Value::Object(o), Value::Object(n)) => {
            let keys: std::collections::BTreeSet<&String> = o.keys().chain(n.keys()).collect();
            for k in keys {
                let struct_field = match ty {
                    FieldType::Struct(s) => schema().field(s, k),
                    _ => None,
                };
                let child_ty = match ty {
                    FieldType::Struct(_) => struct_field.map_or(FieldType::Any, |f| f.ty.clone()),
                    FieldType::Map(inner) => (**inner).clone(),
                    _ => FieldType::Any,
                };
                let child = format!("{path}.{k}");
                let (ov, nv) = (
                    o.get(k).unwrap_or(&Value::Null),
                    n.get(k).unwrap_or(&Value::Null),
                );
                match (is_unset(ov), is_unset(nv)) {
                    (true, true) => {}
                    (false, false) => walk(&child_ty, ov, nv, &child, c),
                    (false, true) => c.problems.push(format!(
                        "{child}: we set {ov}, Nomad's parser did not decode it from our HCL"
                    )),
                    (true, false) => nomad_only(struct_field.map(|f| f.pointer), nv, &child, c),
                }
            }
        }
        (Value::Array(o), Value::Array(n)) if o.len() == n.len() => {
            let inner = match ty {
                FieldType::List(inner) => (**inner).clone(),
                _ => FieldType::Any,
            };
            for (i, (ov, nv)) in o.iter().zip(n).enumerate() {
                walk(&inner, ov, nv, &format!("{path}[{i}]"), c);
            }
        }
        _ => {
            c.fields += 1;
            let same = match (ours.as_i64(), nomad.as_i64()) {
                (Some(a), Some(b)) => a == b,
                _ => match (ours.as_f64(), nomad.as_f64()) {
                    (Some(a), Some(b)) => a == b,
                    _ => ours == nomad,
                },
            };
            if !same {
                c.problems
                    .push(format!("{path}: ours {ours}, Nomad's parser {nomad}"));
            }
        }
    }
}

/// A value only Nomad's side has: allowed when it is what Go prints for an unset plain field,
/// or a default jobspec2 fills in.
fn nomad_only(pointer: Option<bool>, value: &Value, path: &str, c: &mut Comparison) {
    if pointer == Some(false) && is_go_zero(value) {
        *c.nomad_only
            .entry("Go zero value of a non-pointer field".into())
            .or_default() += 1;
        return;
    }
    let generic = generic_path(path);
    let default = NOMAD_PARSER_DEFAULTS.iter().find(|(suffix, expected, _)| {
        generic.ends_with(suffix)
            && serde_json::from_str::<Value>(expected).is_ok_and(|e| &e == value)
    });
    match default {
        Some((suffix, expected, source)) => {
            *c.nomad_only
                .entry(format!("{suffix} = {expected} ({source})"))
                .or_default() += 1;
        }
        None => c.problems.push(format!(
            "{path}: Nomad's parser set {value}, which our JSON leaves out"
        )),
    }
}

/// `.TaskGroups[0].Tasks[1].Templates[2].Splay` → `TaskGroups[].Tasks[].Templates[].Splay`.
fn generic_path(path: &str) -> String {
    let mut out = String::new();
    let mut in_index = false;
    for ch in path.trim_start_matches('.').chars() {
        match ch {
            '[' => {
                in_index = true;
                out.push_str("[]");
            }
            ']' => in_index = false,
            _ if in_index => {}
            _ => out.push(ch),
        }
    }
    out
}
