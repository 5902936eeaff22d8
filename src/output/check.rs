//! `check`: comparing the job files a batch would write with the committed ones, as the batch
//! produces them (so only the diffs are kept), and finding committed files no Service produces
//! and temporary files interrupted runs left.
//!
//! Committed files are read only when they are regular files reached without a symbolic link
//! below the directory: a link is a difference of its own (`convert -o` would refuse to write
//! through it), and its target is never read or shown (docs/security.md, "Paths").

use super::format::{OutputFormat, ROUTE_EXTENSION, ROUTES_DIR, is_generated};
use super::write::JobFile;
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The result of comparing a batch with committed job files.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// (relative path, unified diff) for files whose content differs.
    pub changed: Vec<(PathBuf, String)>,
    pub missing: Vec<PathBuf>,
    /// Job files in the directory that no Service produces any more.
    pub orphaned: Vec<PathBuf>,
    /// (relative path, why) for job files that are not regular files reached without a link:
    /// a symbolic link (the file or a directory above it), a FIFO, a device. Not read.
    pub not_files: Vec<(PathBuf, String)>,
    /// Temporary files left by interrupted runs (the next `convert -o` there removes them).
    pub strays: Vec<PathBuf>,
}

impl CheckReport {
    pub fn in_sync(&self) -> bool {
        self.changed.is_empty()
            && self.missing.is_empty()
            && self.orphaned.is_empty()
            && self.not_files.is_empty()
    }
}

/// A committed job file larger than this is reported, not read (a job file is kilobytes).
const MAX_COMMITTED_BYTES: u64 = 64 * 1024 * 1024;

/// Compares job files with the committed ones under `against`.
pub struct Checker {
    against: PathBuf,
    format: OutputFormat,
    /// Relative paths of the job files the batch produces (the first Service claiming a path
    /// keeps it, as when writing).
    planned: BTreeSet<PathBuf>,
    report: CheckReport,
}

impl Checker {
    /// `format` is that of the committed files (it says which files are job files).
    pub fn new(against: &Path, format: OutputFormat) -> Self {
        Checker {
            against: against.to_path_buf(),
            format,
            planned: BTreeSet::new(),
            report: CheckReport::default(),
        }
    }

    pub fn compare(&mut self, files: Vec<JobFile<'_>>) {
        enum Found {
            Same,
            Changed(String),
            Missing,
            NotAFile(String),
        }
        let todo: Vec<JobFile<'_>> = files
            .into_iter()
            .filter(|file| self.planned.insert(file.path.clone()))
            .collect();
        let against = &self.against;
        let found: Vec<(PathBuf, Found)> = todo
            .into_par_iter()
            .map(|file| {
                let rel = file.path;
                let Some(want) = file.text else {
                    return (rel, Found::Same);
                };
                let found = match read_committed(against, &rel) {
                    Err(Committed::Missing) => Found::Missing,
                    Err(Committed::NotAFile(why)) => Found::NotAFile(why),
                    Ok(have) if have == *want => Found::Same,
                    Ok(have) => {
                        let diff = similar::TextDiff::from_lines(have.as_str(), &*want);
                        let text = diff
                            .unified_diff()
                            .context_radius(3)
                            .header(
                                &format!("a/{}", rel.display()),
                                &format!("b/{}", rel.display()),
                            )
                            .to_string();
                        Found::Changed(text)
                    }
                };
                (rel, found)
            })
            .collect();
        for (rel, found) in found {
            match found {
                Found::Same => {}
                Found::Changed(diff) => self.report.changed.push((rel, diff)),
                Found::Missing => self.report.missing.push(rel),
                Found::NotAFile(why) => self.report.not_files.push((rel, why)),
            }
        }
    }

    /// The report, in path order, with the committed job files and generated route files no
    /// Service produces (a hand-written Traefik file kept beside the routes is not ours to flag),
    /// and the temporary files interrupted runs left.
    pub fn finish(mut self) -> CheckReport {
        let suffix = format!(".{}", self.format.extension());
        let mut existing = Vec::new();
        collect_files(
            &self.against,
            &self.against,
            &suffix,
            &mut existing,
            &mut self.report.strays,
        );
        let mut routes = Vec::new();
        let routes_dir = self.against.join(ROUTES_DIR);
        collect_files(
            &self.against,
            &routes_dir,
            &format!(".{ROUTE_EXTENSION}"),
            &mut routes,
            // Already listed by the walk of the whole directory.
            &mut Vec::new(),
        );
        existing.extend(routes.into_iter().filter(|rel| {
            read_committed(&self.against, rel).is_ok_and(|text| is_generated(&text))
        }));
        for rel in existing {
            if !self.planned.contains(&rel) {
                self.report.orphaned.push(rel);
            }
        }
        self.report.changed.sort_by(|a, b| a.0.cmp(&b.0));
        self.report.not_files.sort_by(|a, b| a.0.cmp(&b.0));
        self.report.missing.sort();
        self.report.orphaned.sort();
        self.report.strays.sort();
        self.report
    }
}

enum Committed {
    Missing,
    NotAFile(String),
}

/// The committed file `against/rel`, when it is a regular file reached without a link below
/// `against` (which is the user's choice, followed as given).
fn read_committed(against: &Path, rel: &Path) -> Result<String, Committed> {
    let mut path = against.to_path_buf();
    for component in rel.components() {
        path.push(component);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Committed::NotAFile(format!(
                    "{} is a symbolic link (not read; convert -o would not write through it)",
                    path.display()
                )));
            }
            Ok(_) => {}
            Err(_) => return Err(Committed::Missing),
        }
    }
    match crate::files::read_regular(&path, false, MAX_COMMITTED_BYTES) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(crate::files::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Committed::Missing)
        }
        Err(e) => Err(Committed::NotAFile(format!(
            "{}: {e} (not compared)",
            path.display()
        ))),
    }
}

/// Job files (by suffix) and stray temporary files under `dir`, without following links to
/// directories.
fn collect_files(
    root: &Path,
    dir: &Path,
    suffix: &str,
    out: &mut Vec<PathBuf>,
    strays: &mut Vec<PathBuf>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_files(root, &path, suffix, out, strays);
        } else if super::atomic::temp_file_owner(&entry.file_name().to_string_lossy()).is_some() {
            strays.push(path);
        } else if path.to_string_lossy().ends_with(suffix)
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push(rel.to_path_buf());
        }
    }
}
