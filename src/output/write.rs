//! Writing a batch's job files under the output directory (`convert -o`), in parallel: creating
//! files is most of the cost of writing a large batch, and the kernel does it on both cores.
//! An existing file is replaced only when this tool wrote it (or with --force), and two
//! Services never silently share one file.

use super::atomic::{Durability, write_atomic};
use super::format::written_by_us;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One job file to write or compare.
#[derive(Debug, Clone)]
pub struct JobFile<'a> {
    /// Where it goes, relative to the output directory.
    pub path: PathBuf,
    /// The Knative source that produced it, for messages about clashes.
    pub source: &'a Arc<str>,
    /// Its text; `None` when the job could not be rendered.
    pub text: Option<Cow<'a, str>>,
}

/// What writing a batch did.
#[derive(Debug, Default)]
pub struct WriteReport {
    pub written: Vec<PathBuf>,
    pub unchanged: Vec<PathBuf>,
    /// Existing files not written by this tool, left alone (use --force).
    pub refused: Vec<PathBuf>,
    pub errors: Vec<(PathBuf, String)>,
}

/// Writes job files as a batch produces them. The report lists paths in input order.
pub struct OutputWriter {
    out_dir: PathBuf,
    force: bool,
    /// Output path → the source that produced it first.
    claimed: HashMap<PathBuf, Arc<str>>,
    pub report: WriteReport,
}

impl OutputWriter {
    pub fn new(out_dir: &Path, force: bool) -> Self {
        OutputWriter {
            out_dir: out_dir.to_path_buf(),
            force,
            claimed: HashMap::new(),
            report: WriteReport::default(),
        }
    }

    pub fn write(&mut self, files: Vec<JobFile<'_>>) {
        enum Outcome {
            Written,
            Unchanged,
            Refused,
            Failed(String),
        }
        // Two Services can only map to one file when they differ in namespace alone; the first
        // keeps the file and the other is an error rather than a silent overwrite.
        let mut planned: Vec<(PathBuf, JobFile<'_>, Option<String>)> = Vec::new();
        for file in files {
            let path = self.out_dir.join(&file.path);
            let clash = match self.claimed.get(&path) {
                Some(first) => Some(format!(
                    "{first} also produces this job file; not overwritten (Services that differ only in namespace need separate source folders)"
                )),
                None => {
                    self.claimed.insert(path.clone(), file.source.clone());
                    None
                }
            };
            planned.push((path, file, clash));
        }
        let force = self.force;
        let outcomes: Vec<(PathBuf, Outcome)> = planned
            .into_par_iter()
            .map(|(path, file, clash)| {
                if let Some(message) = clash {
                    return (path, Outcome::Failed(message));
                }
                let Some(content) = file.text else {
                    return (
                        path,
                        Outcome::Failed("the job could not be rendered".into()),
                    );
                };
                let outcome = match std::fs::read_to_string(&path) {
                    Ok(existing) if existing == *content => Outcome::Unchanged,
                    Ok(_) if !force && !written_by_us(&path) => Outcome::Refused,
                    _ => match write_atomic(&path, content.as_bytes(), Durability::Renamed) {
                        Ok(()) => Outcome::Written,
                        Err(e) => Outcome::Failed(e.to_string()),
                    },
                };
                (path, outcome)
            })
            .collect();
        for (path, outcome) in outcomes {
            match outcome {
                Outcome::Written => self.report.written.push(path),
                Outcome::Unchanged => self.report.unchanged.push(path),
                Outcome::Refused => self.report.refused.push(path),
                Outcome::Failed(e) => self.report.errors.push((path, e)),
            }
        }
    }
}
