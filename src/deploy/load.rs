//! Reading the jobs to deploy: Nomad API JSON as written by `convert --format json` (one or
//! more `{"Job": {...}}` objects, or bare job objects), HCL job files (those `convert` wrote are
//! read here; any other is set aside for Nomad's own parser, see `jobspec`), and Knative
//! sources, converted in-process exactly as `convert` would. Files, directories or stdin
//! (JSON). The Traefik route files `convert -o` writes beside the jobs are not jobs and are
//! skipped (Traefik reads them). Nothing is sent to a cluster from this module. A walked directory
//! yields only regular files inside it (a link leading out, a FIFO or a device stops loading,
//! named), and reads are capped (docs/security.md).

use super::jobspec::{HclFile, ReadBy, read_ours};
use crate::config::ConvertOptions;
use crate::nomad::model::Job;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Job files are refused beyond the size Knative inputs are (`knative::load::MAX_INPUT_BYTES`).
const MAX_JOB_FILE_BYTES: u64 = crate::knative::load::MAX_INPUT_BYTES as u64;

/// One job as loaded: read already, or an HCL file waiting for Nomad's parser.
#[derive(Debug, Clone)]
pub enum Loaded {
    Ready {
        job: Box<Job>,
        /// The file it came from, as given.
        file: String,
        read_by: ReadBy,
    },
    ForNomad(HclFile),
}

/// Load every job from `paths` (files, directories walked for job files and Knative sources,
/// or `-` for JSON on stdin), in order. The first unreadable or unsupported input stops
/// loading, naming the file.
pub fn load_jobs(paths: &[PathBuf], convert: &ConvertOptions) -> Result<Vec<Loaded>> {
    let mut jobs = Vec::new();
    // Knative sources are converted together, so ConfigMaps and Secrets resolve by the same
    // scope rule as in convert (each file's own folder and the folders above it).
    let mut knative_sources = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let bytes = crate::files::read_capped(std::io::stdin(), MAX_JOB_FILE_BYTES)
                .map_err(|e| anyhow::anyhow!("reading standard input: {e}"))?;
            let text = String::from_utf8(bytes).context("reading standard input: not UTF-8")?;
            jobs.extend(ready(
                parse_json_jobs(&text, Path::new("<stdin>"))?,
                "<stdin>",
                ReadBy::Json,
            ));
        } else if path.is_dir() {
            for file in job_files_under(path)? {
                if is_route_file(&file) {
                    continue;
                }
                if is_knative_source(&file) {
                    knative_sources.push(file);
                } else {
                    jobs.extend(load_file(&file)?);
                }
            }
        } else if is_route_file(path) {
            bail!(
                "{} is a Traefik route written by convert, not a job: deploy it with the platform's Traefik job (knative2nomad platform --routes)",
                path.display()
            );
        } else if is_knative_source(path) {
            knative_sources.push(path.clone());
        } else {
            jobs.extend(load_file(path)?);
        }
    }
    if !knative_sources.is_empty() {
        jobs.extend(convert_sources(&knative_sources, convert)?);
    }
    Ok(jobs)
}

fn ready(jobs: Vec<Job>, file: &str, read_by: ReadBy) -> impl Iterator<Item = Loaded> + '_ {
    jobs.into_iter().map(move |job| Loaded::Ready {
        job: Box::new(job),
        file: file.to_string(),
        read_by,
    })
}

/// A Traefik route file `convert` wrote: YAML whose first line is this tool's marker (a Knative
/// source never starts with it).
fn is_route_file(path: &Path) -> bool {
    let marker = crate::output::GENERATED_MARKER.as_bytes();
    let mut start = vec![0; marker.len()];
    is_knative_source(path)
        && crate::files::open_regular(path, true)
            .is_ok_and(|mut f| std::io::Read::read_exact(&mut f, &mut start).is_ok())
        && start == marker
}

fn is_knative_source(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

/// Converts Knative sources as `convert` does; any error (or a warning under --strict) stops
/// the deploy before anything is sent, with the findings printed.
fn convert_sources(paths: &[PathBuf], opts: &ConvertOptions) -> Result<Vec<Loaded>> {
    let batch = crate::batch::run(paths, opts);
    let mut human = crate::batch::HumanDiagnostics::new(&batch);
    let blocking: Vec<String> = batch
        .all_findings()
        .filter(|f| crate::findings::fails(std::slice::from_ref(*f), opts.strict, &opts.allow))
        .map(|f| human.render(f))
        .collect();
    if !blocking.is_empty() {
        bail!(
            "the Knative sources could not be converted; nothing was deployed:\n{}",
            blocking.join("\n")
        );
    }
    Ok(batch
        .services
        .iter()
        .filter_map(|s| {
            Some(Loaded::Ready {
                job: Box::new(s.job()?.clone()),
                file: s.source.to_string(),
                read_by: ReadBy::Conversion,
            })
        })
        .collect())
}

fn job_files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let root = std::fs::canonicalize(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current)
            .with_context(|| format!("reading directory {}", current.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("reading {}", current.display()))?
                .path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden {
                continue;
            }
            // Not following links to directories; a link to a file must stay in the tree,
            // and only regular files are read (a FIFO would block the deploy forever).
            let kind = std::fs::symlink_metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .file_type();
            if kind.is_dir() {
                pending.push(path);
                continue;
            }
            let wanted = path.extension().is_some_and(|e| {
                e == "json" || e == "hcl" || e == "nomad" || e == "yaml" || e == "yml"
            });
            if !wanted {
                continue;
            }
            if kind.is_symlink() {
                let target = std::fs::canonicalize(&path).ok();
                let inside = target.as_ref().is_some_and(|t| t.starts_with(&root));
                if !inside {
                    bail!(
                        "{} is a symbolic link that leads outside {} (or nowhere); not read",
                        path.display(),
                        dir.display()
                    );
                }
            }
            let target_kind = std::fs::metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .file_type();
            if !target_kind.is_file() {
                bail!(
                    "{} is {}, not a regular file; not read",
                    path.display(),
                    crate::files::describe(target_kind)
                );
            }
            files.push(path);
        }
    }
    // Directory order is arbitrary; sort so that batches and summaries are reproducible.
    files.sort();
    Ok(files)
}

fn load_file(path: &Path) -> Result<Vec<Loaded>> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let bytes = crate::files::read_regular(path, true, MAX_JOB_FILE_BYTES)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let text = String::from_utf8(bytes)
        .with_context(|| format!("reading {}: not UTF-8 text", path.display()))?;
    let file = path.display().to_string();
    if !(name.ends_with(".hcl") || name.ends_with(".nomad")) {
        return Ok(ready(parse_json_jobs(&text, path)?, &file, ReadBy::Json).collect());
    }
    let Some(value) = read_ours(&text) else {
        return Ok(vec![Loaded::ForNomad(HclFile::new(
            path.to_path_buf(),
            text,
        ))]);
    };
    let job: Job = serde_json::from_value(value)
        .with_context(|| format!("{}: not a Nomad job", path.display()))?;
    Ok(ready(vec![job], &file, ReadBy::OurParser).collect())
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

    fn job_of(loaded: &Loaded) -> (&Job, ReadBy) {
        match loaded {
            Loaded::Ready { job, read_by, .. } => (job, *read_by),
            Loaded::ForNomad(file) => panic!("{} left for Nomad", file.path.display()),
        }
    }

    /// `convert -o OUT` writes routes beside the jobs; `deploy OUT` takes only the jobs.
    #[test]
    fn skips_the_traefik_routes_convert_writes() {
        let opts = ConvertOptions::default();
        let out = tempfile::tempdir().unwrap();
        let batch = crate::batch::run(&[PathBuf::from("testdata/services/01-minimal.yaml")], &opts);
        let service = &batch.services[0];
        let rendering = crate::output::Rendering::default();
        for file in service.files(rendering) {
            let path = out.path().join(&file.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, file.text.unwrap().as_bytes()).unwrap();
        }
        let route = out.path().join("traefik/hello.yml");
        assert!(route.is_file());
        let jobs = load_jobs(&[out.path().to_path_buf()], &opts).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(job_of(&jobs[0]).0.id.as_deref(), Some("hello"));
        let err = load_jobs(&[route], &opts).unwrap_err().to_string();
        assert!(
            err.contains("is a Traefik route written by convert"),
            "{err}"
        );
    }

    #[test]
    fn reads_our_hcl_and_knative_sources_and_leaves_other_hcl_to_nomad() {
        let opts = ConvertOptions::default();
        let dir = tempfile::tempdir().unwrap();
        let knative = std::path::PathBuf::from("testdata/services/15-resources.yaml");
        let from_source = load_jobs(std::slice::from_ref(&knative), &opts).unwrap();
        assert_eq!(from_source.len(), 1);
        let (job, read_by) = job_of(&from_source[0]);
        assert_eq!(read_by, ReadBy::Conversion);
        let hcl = dir.path().join("sized.nomad.hcl");
        let ours =
            crate::output::render(job, "15-resources.yaml", crate::output::OutputFormat::Hcl);
        std::fs::write(&hcl, &ours).unwrap();
        let from_hcl = load_jobs(std::slice::from_ref(&hcl), &opts).unwrap();
        assert_eq!(job_of(&from_hcl[0]), (job, ReadBy::OurParser));
        std::fs::write(&hcl, crate::nomad::hcl::render_job(job)).unwrap();
        let hand_written = load_jobs(&[hcl], &opts).unwrap();
        assert!(matches!(hand_written[0], Loaded::ForNomad(_)));
        let bad = std::path::PathBuf::from("testdata/invalid/bad-cpu.yaml");
        let err = load_jobs(&[bad], &opts).unwrap_err().to_string();
        assert!(
            err.contains("nothing was deployed") && err.contains("K2N012"),
            "{err}"
        );
    }
}
