//! Writing a batch's job files under the output directory (`convert -o`), in parallel: creating
//! files is most of the cost of writing a large batch, and the kernel does it on both cores.
//! An existing file is replaced only when this tool wrote it (or with --force), two Services
//! never silently share one file, and nothing is written through a symbolic link inside the
//! output directory (see `atomic`). Each directory written to is rid of the temporary files
//! of interrupted earlier runs.

use super::atomic::{Durability, prepare_under, remove_stale_temp_files, write_atomic};
use super::format::is_generated;
use crate::files::ReadError;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An existing job file larger than this is not read to compare; it is replaced only with
/// --force (a job file is kilobytes).
const MAX_EXISTING_BYTES: u64 = 64 * 1024 * 1024;

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
    /// Temporary files of interrupted earlier runs, removed.
    pub stale_removed: Vec<PathBuf>,
}

/// Writes job files as a batch produces them. The report lists paths in input order.
pub struct OutputWriter {
    out_dir: PathBuf,
    force: bool,
    /// Output path → the source that produced it first.
    claimed: HashMap<PathBuf, Arc<str>>,
    /// Directories under `out_dir` already checked (and cleaned) in this run.
    checked: HashSet<PathBuf>,
    cleaned: HashSet<PathBuf>,
    pub report: WriteReport,
}

impl OutputWriter {
    pub fn new(out_dir: &Path, force: bool) -> Self {
        OutputWriter {
            out_dir: out_dir.to_path_buf(),
            force,
            claimed: HashMap::new(),
            checked: HashSet::new(),
            cleaned: HashSet::new(),
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
            // Checked one at a time, before the parallel writes: directories are created here.
            let unsafe_path = match clash {
                Some(_) => clash,
                None => prepare_under(&self.out_dir, &file.path, &mut self.checked)
                    .err()
                    .map(|e| e.to_string()),
            };
            if unsafe_path.is_none()
                && let Some(dir) = path.parent()
                && self.cleaned.insert(dir.to_path_buf())
            {
                self.report
                    .stale_removed
                    .extend(remove_stale_temp_files(dir));
            }
            planned.push((path, file, unsafe_path));
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
                // Not following a link: prepare_under refused links, and one planted since
                // fails this read rather than be read through.
                let existing = match crate::files::read_regular(&path, false, MAX_EXISTING_BYTES) {
                    Ok(bytes) => Some(Ok(String::from_utf8_lossy(&bytes).into_owned())),
                    Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => Some(Err(e)),
                };
                let outcome = match existing {
                    Some(Ok(existing)) if existing == *content => Outcome::Unchanged,
                    Some(Ok(existing)) if !force && !is_generated(&existing) => Outcome::Refused,
                    Some(Err(_)) if !force => Outcome::Refused,
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
