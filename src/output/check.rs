//! `check`: comparing the job files a batch would write with the committed ones, as the batch
//! produces them (so only the diffs are kept), and finding committed files no Service produces.

use super::format::{OutputFormat, ROUTE_EXTENSION, ROUTES_DIR, written_by_us};
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
}

impl CheckReport {
    pub fn in_sync(&self) -> bool {
        self.changed.is_empty() && self.missing.is_empty() && self.orphaned.is_empty()
    }
}

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
                let found = match std::fs::read_to_string(against.join(&rel)) {
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
                    Err(_) => Found::Missing,
                };
                (rel, found)
            })
            .collect();
        for (rel, found) in found {
            match found {
                Found::Same => {}
                Found::Changed(diff) => self.report.changed.push((rel, diff)),
                Found::Missing => self.report.missing.push(rel),
            }
        }
    }

    /// The report, in path order, with the committed job files and generated route files no
    /// Service produces (a hand-written Traefik file kept beside the routes is not ours to flag).
    pub fn finish(mut self) -> CheckReport {
        let suffix = format!(".{}", self.format.extension());
        let mut existing = Vec::new();
        collect_files(&self.against, &self.against, &suffix, &mut existing);
        let mut routes = Vec::new();
        let routes_dir = self.against.join(ROUTES_DIR);
        collect_files(
            &self.against,
            &routes_dir,
            &format!(".{ROUTE_EXTENSION}"),
            &mut routes,
        );
        existing.extend(
            routes
                .into_iter()
                .filter(|rel| written_by_us(&self.against.join(rel))),
        );
        for rel in existing {
            if !self.planned.contains(&rel) {
                self.report.orphaned.push(rel);
            }
        }
        self.report.changed.sort_by(|a, b| a.0.cmp(&b.0));
        self.report.missing.sort();
        self.report.orphaned.sort();
        self.report
    }
}

fn collect_files(root: &Path, dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, suffix, out);
        } else if path.to_string_lossy().ends_with(suffix)
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push(rel.to_path_buf());
        }
    }
}
