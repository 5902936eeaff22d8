//! Running the pipeline over many inputs: walk paths, read and split documents, resolve
//! ConfigMaps/Secrets across all inputs, convert Services in parallel, detect duplicate job IDs,
//! render, and write files atomically; plus `check`, which compares with committed files.
//!
//! Printing is left to the caller (main), so this module stays testable.

use crate::config::{ConvertOptions, OutputFormat};
use crate::convert::{Converted, convert_service};
use crate::findings::{Finding, Location, Severity};
use crate::knative::load::{self, Document, DocumentKind, Input, Resources};
use crate::nomad::hcl::render_job_into;
use crate::nomad::model::Job;
use indicatif::ProgressBar;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One converted (or failed) Service of a batch.
#[derive(Debug, Clone)]
pub struct ServiceOutcome {
    pub converted: Converted,
    pub source: Arc<str>,
    pub relative_dir: PathBuf,
    /// Where the Service's name is, for messages about the Service as a whole.
    pub location: Location,
    /// Whether a job was produced (it may since have been rendered and dropped).
    pub ok: bool,
    /// The Nomad namespace the job goes to (`default` when unset).
    pub nomad_namespace: String,
    /// The job file's text, when the batch was asked to render as it converts; dropped once the
    /// Service has been emitted.
    pub rendered: Option<String>,
}

/// How a batch keeps its results. Keeping every job of a large batch costs far more memory
/// than its rendered text, so `convert` and `check` render as they go, drop jobs, and emit the
/// text a step at a time.
#[derive(Debug, Clone, Copy)]
pub struct Keep {
    pub jobs: bool,
    /// Render each job in this format (with `--annotate` comments when `.1`); the text lives
    /// until the Service has been emitted.
    pub rendered: Option<(OutputFormat, bool)>,
}

impl Default for Keep {
    fn default() -> Self {
        Keep {
            jobs: true,
            rendered: None,
        }
    }
}

impl ServiceOutcome {
    pub fn job(&self) -> Option<&Job> {
        self.converted.job.as_deref()
    }
    /// Output file path relative to the output directory.
    pub fn output_path(&self, format: OutputFormat) -> PathBuf {
        self.relative_dir
            .join(format!("{}.{}", self.converted.job_id, format.extension()))
    }
}

/// Everything a batch produced, in input order.
#[derive(Debug, Default)]
pub struct Batch {
    pub services: Vec<ServiceOutcome>,
    /// Findings not tied to one Service: unreadable files, syntax errors, unconverted kinds.
    pub other_findings: Vec<Finding>,
    /// Input texts by name, to show source lines in diagnostics.
    pub sources: HashMap<Arc<str>, Arc<str>>,
    pub files_read: usize,
}

impl Batch {
    pub fn all_findings(&self) -> impl Iterator<Item = &Finding> {
        self.other_findings.iter().chain(
            self.services
                .iter()
                .flat_map(|s| s.converted.findings.iter()),
        )
    }

    pub fn failed(&self, opts: &ConvertOptions) -> bool {
        crate::findings::fails(self.all_findings(), opts.strict, &opts.allow)
    }
}

/// Converts everything under `paths`, keeping every job.
pub fn run(paths: &[PathBuf], opts: &ConvertOptions) -> Batch {
    run_emitting(
        paths,
        opts,
        Keep::default(),
        &ProgressBar::hidden(),
        &mut |_| {},
    )
}

/// [`run`], keeping what `keep` says, advancing `progress` once per input file and handing
/// Services to `emit` as they are converted (see [`run_inputs_emitting`]).
pub fn run_emitting(
    paths: &[PathBuf],
    opts: &ConvertOptions,
    keep: Keep,
    progress: &ProgressBar,
    emit: &mut (dyn FnMut(&[ServiceOutcome]) + Send),
) -> Batch {
    let files = match load::expand_paths(paths) {
        Ok(files) => files,
        Err(f) => {
            let mut batch = Batch::default();
            batch.other_findings.push(f);
            return batch;
        }
    };
    let read: Vec<Result<Input, Finding>> = files
        .par_iter()
        .map(|(path, rel)| load::read_input(path, rel.clone()))
        .collect();
    let mut inputs = Vec::new();
    let mut unreadable = Vec::new();
    for r in read {
        match r {
            Ok(input) => inputs.push(input),
            Err(f) => unreadable.push(f),
        }
    }
    let mut batch = run_inputs_emitting(inputs, opts, keep, progress, emit);
    batch.files_read = files.len();
    batch.other_findings.splice(0..0, unreadable);
    batch
}

/// Converts inputs already in memory (files read by [`run`], or manifests read from a
/// cluster), so both paths give the same jobs for the same YAML.
pub fn run_inputs(inputs: Vec<Input>, opts: &ConvertOptions) -> Batch {
    run_inputs_emitting(
        inputs,
        opts,
        Keep::default(),
        &ProgressBar::hidden(),
        &mut |_| {},
    )
}

/// Inputs per step of pass 2. Services are handed to `emit` a step at a time and their job
/// text is dropped after, so a batch's memory does not grow with the text of every job.
const STEP_INPUTS: usize = 256;

/// [`run_inputs`], keeping what `keep` says and handing each step's Services (in input order,
/// duplicates already marked) to `emit` as soon as they are converted; their rendered text is
/// dropped after.
pub fn run_inputs_emitting(
    inputs: Vec<Input>,
    opts: &ConvertOptions,
    keep: Keep,
    progress: &ProgressBar,
    emit: &mut (dyn FnMut(&[ServiceOutcome]) + Send),
) -> Batch {
    let mut batch = Batch {
        files_read: inputs.len(),
        ..Batch::default()
    };
    // Pass 1: ConfigMaps and Secrets from every input, so a Service resolves references to
    // objects in any file. Only inputs that can hold one are parsed here.
    let may_hold_resource = |text: &str| text.contains("ConfigMap") || text.contains("Secret");
    let resources_found: Vec<Vec<(Document, DocumentKind)>> = inputs
        .par_iter()
        .filter(|i| may_hold_resource(&i.text))
        .map(|input| {
            load::split_documents_where(input, may_hold_resource)
                .0
                .into_iter()
                .filter_map(|doc| {
                    let kind = load::classify(&doc);
                    matches!(kind, DocumentKind::ConfigMap | DocumentKind::Secret)
                        .then_some((doc, kind))
                })
                .collect()
        })
        .collect();
    let mut resources = Resources::default();
    for (doc, kind) in resources_found.iter().flatten() {
        resources.add(doc, *kind);
    }
    drop(resources_found);
    progress.set_length(inputs.len() as u64);
    // Pass 2: each input split and converted on its own, so a batch holds one input's
    // documents per thread rather than every document at once; a step of inputs at a time, so
    // that job texts are emitted and dropped as the batch goes. A step is emitted (printed or
    // written) while the next one converts, so writing files overlaps converting.
    let mut services: Vec<ServiceOutcome> = Vec::new();
    let mut seen = HashMap::new();
    let mut emitted = 0;
    let drop_emitted_text = |services: &mut [ServiceOutcome], from: usize| {
        for s in &mut services[from..] {
            s.rendered = None;
        }
    };
    for step in inputs.chunks(STEP_INPUTS) {
        let (per_input, ()) = rayon::join(
            || convert_step(step, &resources, opts, keep, progress),
            || {
                if emitted < services.len() {
                    emit(&services[emitted..]);
                }
            },
        );
        drop_emitted_text(&mut services, emitted);
        let first_new = services.len();
        for (s, f) in per_input {
            services.extend(s);
            batch.other_findings.extend(f);
        }
        // Only the new step can lose to a duplicate (see mark_duplicates), so marking after
        // the previous step was emitted changes nothing already emitted.
        mark_duplicates(&mut services, first_new, &mut seen);
        emitted = first_new;
    }
    if emitted < services.len() {
        emit(&services[emitted..]);
    }
    drop_emitted_text(&mut services, emitted);
    progress.finish_and_clear();
    for input in inputs {
        batch
            .sources
            .insert(input.name.clone(), Arc::from(input.text));
    }
    batch.services = services;
    batch
}

/// Converts one step of inputs in parallel.
fn convert_step(
    step: &[Input],
    resources: &Resources,
    opts: &ConvertOptions,
    keep: Keep,
    progress: &ProgressBar,
) -> Vec<(Vec<ServiceOutcome>, Vec<Finding>)> {
    step.par_iter()
        .map(|input| {
            let (docs, mut findings) = load::split_documents(input);
            let mut services = Vec::new();
            for doc in &docs {
                match load::classify(doc) {
                    DocumentKind::KnativeService => {
                        let converted = convert_service(doc, resources, opts);
                        let nomad_namespace = converted
                            .job
                            .as_ref()
                            .and_then(|j| j.namespace.clone())
                            .unwrap_or_else(|| "default".to_string());
                        let mut outcome = ServiceOutcome {
                            ok: converted.job.is_some(),
                            converted,
                            source: doc.file.clone(),
                            relative_dir: doc.relative_dir.clone(),
                            location: doc.location("metadata.name"),
                            nomad_namespace,
                            rendered: None,
                        };
                        if let Some((format, annotate)) = keep.rendered {
                            outcome.rendered = render_service(&outcome, format, annotate);
                            outcome.converted.provenance.clear();
                        }
                        if !keep.jobs {
                            outcome.converted.job = None;
                        }
                        services.push(outcome);
                    }
                    kind @ (DocumentKind::OtherKnative | DocumentKind::Eventing) => {
                        findings.push(unconverted_kind(doc, kind));
                    }
                    _ => {}
                }
            }
            progress.inc(1);
            (services, findings)
        })
        .collect()
}

fn unconverted_kind(doc: &Document, kind: DocumentKind) -> Finding {
    let location = doc.location("kind");
    let name = doc.name().unwrap_or("(unnamed)");
    if kind == DocumentKind::OtherKnative && doc.kind() == "Service" {
        return Finding::new(
            "K2N005",
            doc.location("apiVersion"),
            "apiVersion",
            format!(
                "Service {name:?} uses apiVersion {}; only serving.knative.dev/v1 is converted",
                doc.api_version()
            ),
        );
    }
    Finding::new(
        "K2N036",
        location,
        "kind",
        format!(
            "{} {name:?} ({}) is not converted",
            doc.kind(),
            doc.api_version()
        ),
    )
}

/// Where a job ID (namespace, job, output directory) was first produced.
type Seen = HashMap<(String, String, PathBuf), usize>;

/// The same job ID twice in one namespace and output directory. Within one file the later
/// document wins, as with `kubectl apply -f` (it updates the Service); across files the first
/// file wins. The other is reported and not written. Marks `services[from..]` against
/// everything seen so far; a file's documents are always in one step, so a later step can
/// only lose, never take a job from a Service already emitted.
fn mark_duplicates(services: &mut [ServiceOutcome], from: usize, seen: &mut Seen) {
    for i in from..services.len() {
        let s = &services[i];
        if !s.ok || s.converted.job_id.is_empty() {
            continue;
        }
        let key = (
            s.converted.namespace.clone(),
            s.converted.job_id.clone(),
            s.relative_dir.clone(),
        );
        let Some(&first) = seen.get(&key) else {
            seen.insert(key, i);
            continue;
        };
        let same_file = services[first].source == services[i].source;
        let (loser, winner) = if same_file { (first, i) } else { (i, first) };
        let message = if same_file {
            format!(
                "job {:?} is defined again at line {} of the same file, which replaces this one (as kubectl apply would)",
                services[i].converted.job_id, services[i].location.line
            )
        } else {
            format!(
                "job {:?} is already produced by {}; this one is not written",
                services[i].converted.job_id, services[first].source
            )
        };
        let location = services[loser].location.clone();
        let lost = &mut services[loser];
        lost.converted
            .findings
            .push(Finding::new("K2N049", location, "metadata.name", message));
        lost.converted.job = None;
        lost.rendered = None;
        lost.ok = false;
        seen.insert(key, winner);
    }
}

/// The first line of every HCL file this tool writes; also how it recognises its own files.
pub const GENERATED_MARKER: &str = "# Generated by knative2nomad";

/// Renders a Service's job, with `--annotate` comments when asked (HCL only).
pub fn render_service(s: &ServiceOutcome, format: OutputFormat, annotate: bool) -> Option<String> {
    rendered_text(s, format, annotate).map(std::borrow::Cow::into_owned)
}

/// The Service's job file text: the one rendered during the batch, or rendered now.
pub fn rendered_text(
    s: &ServiceOutcome,
    format: OutputFormat,
    annotate: bool,
) -> Option<std::borrow::Cow<'_, str>> {
    if !s.ok {
        return None;
    }
    if let Some(text) = &s.rendered {
        return Some(std::borrow::Cow::Borrowed(text));
    }
    let job = s.job()?;
    let text = render(job, &s.source, format);
    Some(std::borrow::Cow::Owned(
        if annotate && format == OutputFormat::Hcl {
            crate::nomad::hcl::annotate(&text, &s.converted.provenance)
        } else {
            text
        },
    ))
}

/// Renders a job in the chosen format.
pub fn render(job: &Job, source: &str, format: OutputFormat) -> String {
    match format {
        OutputFormat::Hcl => {
            let mut text = format!(
                "{GENERATED_MARKER} from {source}. Edit the Knative Service and convert again.\n"
            );
            render_job_into(&mut text, job);
            text
        }
        OutputFormat::Json => {
            let wrapped = serde_json::json!({ "Job": job });
            let mut text = serde_json::to_string_pretty(&wrapped).unwrap_or_default();
            text.push('\n');
            text
        }
    }
}

/// Whether `path` holds a file this tool wrote (so it may be replaced without --force).
fn written_by_us(path: &Path) -> bool {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            text.starts_with(GENERATED_MARKER) || text.contains("\"knative2nomad.version\"")
        }
        Err(_) => false,
    }
}

/// Writes one file atomically: a temporary file in the same directory, then a rename, so a
/// reader (or an interrupted run) never sees half a job. No fsync: a batch writes thousands of
/// files, and durability across power loss is the file system's job, not a converter's.
pub fn write_atomic(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(content.as_bytes())?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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

/// Writes job files as a batch produces them, in parallel: creating files is most of the cost
/// of writing a large batch, and the kernel does it on both cores. The report lists paths in
/// input order.
pub struct OutputWriter {
    out_dir: PathBuf,
    format: OutputFormat,
    force: bool,
    annotate: bool,
    /// Output path → the source that produced it first.
    claimed: HashMap<PathBuf, Arc<str>>,
    pub report: WriteReport,
}

impl OutputWriter {
    pub fn new(out_dir: &Path, format: OutputFormat, force: bool, annotate: bool) -> Self {
        OutputWriter {
            out_dir: out_dir.to_path_buf(),
            format,
            force,
            annotate,
            claimed: HashMap::new(),
            report: WriteReport::default(),
        }
    }

    pub fn write(&mut self, services: &[ServiceOutcome]) {
        enum Outcome {
            Written,
            Unchanged,
            Refused,
            Failed(String),
        }
        // Two Services can only map to one file when they differ in namespace alone; the first
        // keeps the file and the other is an error rather than a silent overwrite.
        let mut planned: Vec<(PathBuf, &ServiceOutcome, Option<String>)> = Vec::new();
        for s in services.iter().filter(|s| s.ok) {
            let path = self.out_dir.join(s.output_path(self.format));
            let clash = match self.claimed.get(&path) {
                Some(first) => Some(format!(
                    "{first} also produces this job file; not overwritten (Services that differ only in namespace need separate source folders)"
                )),
                None => {
                    self.claimed.insert(path.clone(), s.source.clone());
                    None
                }
            };
            planned.push((path, s, clash));
        }
        let (format, force, annotate) = (self.format, self.force, self.annotate);
        let outcomes: Vec<(PathBuf, Outcome)> = planned
            .into_par_iter()
            .map(|(path, s, clash)| {
                if let Some(message) = clash {
                    return (path, Outcome::Failed(message));
                }
                let Some(content) = rendered_text(s, format, annotate) else {
                    return (
                        path,
                        Outcome::Failed("the job could not be rendered".into()),
                    );
                };
                let outcome = match std::fs::read_to_string(&path) {
                    Ok(existing) if existing == *content => Outcome::Unchanged,
                    Ok(_) if !force && !written_by_us(&path) => Outcome::Refused,
                    _ => match write_atomic(&path, &content) {
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

/// Compares job files with the committed ones as a batch produces them, so `check` keeps
/// the diffs rather than every job's text.
pub struct Checker {
    against: PathBuf,
    format: OutputFormat,
    annotate: bool,
    /// Relative paths of the job files the batch produces (the first Service claiming a path
    /// keeps it, as when writing).
    planned: std::collections::BTreeSet<PathBuf>,
    report: CheckReport,
}

impl Checker {
    pub fn new(against: &Path, format: OutputFormat, annotate: bool) -> Self {
        Checker {
            against: against.to_path_buf(),
            format,
            annotate,
            planned: Default::default(),
            report: CheckReport::default(),
        }
    }

    pub fn compare(&mut self, services: &[ServiceOutcome]) {
        enum Found {
            Same,
            Changed(String),
            Missing,
        }
        let mut todo = Vec::new();
        for s in services.iter().filter(|s| s.ok) {
            let rel = s.output_path(self.format);
            if self.planned.insert(rel.clone()) {
                todo.push((rel, s));
            }
        }
        let (format, annotate, against) = (self.format, self.annotate, &self.against);
        let found: Vec<(PathBuf, Found)> = todo
            .into_par_iter()
            .map(|(rel, s)| {
                let Some(want) = rendered_text(s, format, annotate) else {
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

    /// The report, in path order, with the committed job files no Service produces.
    pub fn finish(mut self) -> CheckReport {
        let suffix = format!(".{}", self.format.extension());
        let mut existing = Vec::new();
        collect_files(&self.against, &self.against, &suffix, &mut existing);
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

/// Counts of a batch for the summary line.
pub fn summary(batch: &Batch) -> String {
    let ok = batch.services.iter().filter(|s| s.ok).count();
    let failed = batch.services.len() - ok;
    let count = |sev| batch.all_findings().filter(|f| f.severity == sev).count();
    format!(
        "{ok} service(s) converted, {failed} failed, from {} file(s); {} error(s), {} warning(s), {} note(s)",
        batch.files_read,
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(i: usize, name: &str) -> Input {
        Input {
            name: Arc::from(format!("svc-{i:04}.yaml")),
            relative_dir: PathBuf::new(),
            text: format!(
                "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      containers:\n        - image: example/{name}:1\n"
            ),
        }
    }

    /// Services reach `emit` in input order, a step at a time, with their text; a duplicate
    /// in a later step loses to the file that came first even though that file was already
    /// emitted, and its text is never emitted.
    #[test]
    fn emits_in_order_and_marks_duplicates_across_steps() {
        let count = STEP_INPUTS * 2 + 10;
        let dup = STEP_INPUTS + 44;
        let inputs: Vec<Input> = (0..count)
            .map(|i| {
                if i == dup {
                    input(i, "svc-0003")
                } else {
                    input(i, &format!("svc-{i:04}"))
                }
            })
            .collect();
        let keep = Keep {
            jobs: false,
            rendered: Some((OutputFormat::Hcl, false)),
        };
        let mut emitted: Vec<(String, bool, bool)> = Vec::new();
        let mut steps = 0;
        let batch = run_inputs_emitting(
            inputs,
            &ConvertOptions::default(),
            keep,
            &ProgressBar::hidden(),
            &mut |services| {
                steps += 1;
                emitted.extend(
                    services
                        .iter()
                        .map(|s| (s.source.to_string(), s.ok, s.rendered.is_some())),
                );
            },
        );
        assert_eq!(steps, 3);
        assert_eq!(emitted.len(), count);
        for (i, (source, ok, has_text)) in emitted.iter().enumerate() {
            assert_eq!(source, &format!("svc-{i:04}.yaml"));
            assert_eq!(*ok, i != dup, "service {i}");
            assert_eq!(*has_text, i != dup, "service {i}");
        }
        let lost = &batch.services[dup];
        assert!(
            lost.converted
                .findings
                .iter()
                .any(|f| f.code == "K2N049"
                    && f.message.contains("already produced by svc-0003.yaml"))
        );
        assert!(batch.services.iter().all(|s| s.rendered.is_none()));
    }
}
