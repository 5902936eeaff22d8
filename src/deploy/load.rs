//! Reading the jobs to deploy: Nomad API JSON as written by `convert --format json` (one or
//! more `{"Job": {...}}` objects, or bare job objects), from files, directories or stdin.
//!
//! This is the seam for other inputs: HCL job files and Knative sources are recognised and
//! refused with a clear message until the converter wires them in here ([`load_jobs`] is the one
//! place to change). Nothing is sent to a cluster from this module.

use crate::nomad::model::Job;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Load every job from `paths` (files, directories walked for `*.json`, or `-` for stdin), in
/// order. The first unreadable or unsupported input stops loading, naming the file.
pub fn load_jobs(paths: &[PathBuf]) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading standard input")?;
            jobs.extend(parse_json_jobs(&text, Path::new("<stdin>"))?);
        } else if path.is_dir() {
            for file in json_files_under(path)? {
                jobs.extend(load_file(&file)?);
            }
        } else {
            jobs.extend(load_file(path)?);
        }
    }
    Ok(jobs)
}

fn json_files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current)
            .with_context(|| format!("reading directory {}", current.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("reading {}", current.display()))?
                .path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    // Directory order is arbitrary; sort so that batches and summaries are reproducible.
    files.sort();
    Ok(files)
}

fn load_file(path: &Path) -> Result<Vec<Job>> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name.ends_with(".hcl") || name.ends_with(".nomad") {
        bail!(
            "{}: HCL job files are not deployable yet; write API JSON with \
             `knative2nomad convert --format json` and deploy that",
            path.display()
        );
    }
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        bail!(
            "{}: Knative sources are not deployable directly yet; convert them first with \
             `knative2nomad convert --format json -o DIR` and deploy DIR",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_json_jobs(&text, path)
}

/// Parse a stream of JSON objects, each `{"Job": {...}}` or a bare job.
fn parse_json_jobs(text: &str, origin: &Path) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for (position, document) in serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .enumerate()
    {
        let document = document.with_context(|| {
            format!(
                "{}: not Nomad API JSON (document {})",
                origin.display(),
                position + 1
            )
        })?;
        let job_value = match document.get("Job") {
            Some(inner) => inner.clone(),
            None => document,
        };
        if !job_value.is_object() {
            bail!(
                "{}: document {} is not a job object",
                origin.display(),
                position + 1
            );
        }
        let job: Job = serde_json::from_value(job_value).with_context(|| {
            format!(
                "{}: document {} is not a Nomad job",
                origin.display(),
                position + 1
            )
        })?;
        if job.id.as_deref().is_none_or(str::is_empty) {
            bail!(
                "{}: document {} has no job ID",
                origin.display(),
                position + 1
            );
        }
        jobs.push(job);
    }
    if jobs.is_empty() {
        bail!("{}: no job found", origin.display());
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrapped_bare_and_streamed_jobs() {
        let text = r#"{"Job": {"ID": "a"}} {"ID": "b", "Type": "batch"}"#;
        let jobs = parse_json_jobs(text, Path::new("x.json")).unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[1].id.as_deref(), Some("b"));
    }

    #[test]
    fn refuses_hcl_with_a_hint() {
        let err = load_file(Path::new("web.nomad.hcl"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--format json"), "{err}");
    }
}
