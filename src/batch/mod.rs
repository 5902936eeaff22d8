//! Running the pipeline over many inputs: walk paths, read and split documents, index the
//! ConfigMaps/Secrets of all inputs by folder (pass 1; each Service sees the nearest definition,
//! see `knative::resources`), convert Services in parallel a step of inputs
//! at a time (pass 2), mark duplicate job IDs, render as it goes and hand each step to the
//! caller's `emit` (which prints, writes or compares).
//!
//! What it is not: output. Printing and writing are the caller's (`main`, through `output`),
//! so this module stays testable; it only renders text when asked ([`Keep::rendered`]).

mod diagnostics;
mod duplicates;
mod empty_inputs;

use crate::config::ConvertOptions;
use crate::convert::{Converted, convert_service};
use crate::findings::{Finding, Location, Severity};
use crate::knative::load::{self, Document, DocumentKind, Input};
use crate::knative::resources::Resources;
use crate::nomad::model::Job;
use crate::output::{
    JobFile, OutputFormat, ROUTE_EXTENSION, ROUTES_DIR, Rendering, render_route, render_with,
};
pub use diagnostics::HumanDiagnostics;
use duplicates::mark_duplicates;
use indicatif::ProgressBar;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
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
    /// Render each job this way as it is converted; the text lives until the Service has been
    /// emitted.
    pub rendered: Option<Rendering>,
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

    /// The job file's text: the one rendered during the batch, or rendered now. `None` when
    /// no job was produced.
    pub fn text(&self, rendering: Rendering) -> Option<Cow<'_, str>> {
        if !self.ok {
            return None;
        }
        if let Some(text) = &self.rendered {
            return Some(Cow::Borrowed(text));
        }
        let job = self.job()?;
        Some(Cow::Owned(render_with(
            job,
            &self.source,
            rendering,
            &self.converted.provenance,
        )))
    }

    /// The job file this Service gives, when it produced a job.
    pub fn job_file(&self, rendering: Rendering) -> Option<JobFile<'_>> {
        self.ok.then(|| JobFile {
            path: self.output_path(rendering.format),
            source: &self.source,
            text: self.text(rendering),
        })
    }

    /// Whether the Service scales to zero (through Sablier) rather than staying up.
    pub fn scales_to_zero(&self) -> bool {
        self.ok && self.converted.route.is_some()
    }

    /// Path of the Service's Traefik route relative to the output directory, when it scales
    /// to zero: `traefik/<input's relative directory>/<job id>.yml`.
    pub fn route_path(&self) -> Option<PathBuf> {
        self.scales_to_zero().then(|| {
            PathBuf::from(ROUTES_DIR)
                .join(&self.relative_dir)
                .join(format!("{}.{ROUTE_EXTENSION}", self.converted.job_id))
        })
    }

    /// The Traefik route file this Service gives, when it scales to zero.
    pub fn route_file(&self) -> Option<JobFile<'_>> {
        let path = self.route_path()?;
        let route = self.converted.route.as_ref()?;
        Some(JobFile {
            path,
            source: &self.source,
            text: Some(Cow::Owned(render_route(
                route,
                &self.source,
                &self.nomad_namespace,
                &self.converted.job_id,
            ))),
        })
    }

    /// The files this Service gives under `-o`: its job file, then its route file if any.
    pub fn files(&self, rendering: Rendering) -> impl Iterator<Item = JobFile<'_>> {
        self.job_file(rendering)
            .into_iter()
            .chain(self.route_file())
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
    // Each path on its own, to know which inputs it gave (see `empty_inputs`).
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut roots = Vec::new();
    for path in paths {
        match load::expand_paths(std::slice::from_ref(path)) {
            Ok(found) => {
                roots.push(empty_inputs::Root {
                    path: path.clone(),
                    inputs: found
                        .inputs
                        .iter()
                        .map(|i| load::input_name(&i.path))
                        .collect(),
                });
                files.extend(found.inputs);
                skipped.extend(found.skipped);
            }
            // A directory that cannot be walked is its own error; the other inputs still
            // convert.
            Err(f) => skipped.push(*f),
        }
    }
    let read: Vec<Result<Input, Box<Finding>>> =
        files.par_iter().map(load::read_input_path).collect();
    let mut inputs = Vec::new();
    let mut unreadable = Vec::new();
    for r in read {
        match r {
            Ok(input) => inputs.push(input),
            Err(f) => unreadable.push(*f),
        }
    }
    let mut batch = run_inputs_emitting(inputs, opts, keep, progress, emit);
    batch.files_read = files.len();
    batch
        .other_findings
        .splice(0..0, skipped.into_iter().chain(unreadable));
    let empty = empty_inputs::report(&roots, &batch);
    batch.other_findings.extend(empty);
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
    // Pass 1: ConfigMaps and Secrets from every input, indexed by folder, so a Service
    // resolves references to the nearest definition in its own file, folder or a parent.
    let resources = collect_resources(&inputs);
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

/// Every ConfigMap and Secret (key names only) in `inputs`, in input order, for every Service of
/// the batch to resolve its references against (see [`Resources`] for which definition it
/// sees). Only inputs that can hold one are parsed here.
fn collect_resources(inputs: &[Input]) -> Resources {
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
    let mut resources = Resources::new();
    for (doc, kind) in resources_found.iter().flatten() {
        resources.add(doc, *kind);
    }
    resources
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
                        if let Some(rendering) = keep.rendered {
                            outcome.rendered = outcome.text(rendering).map(Cow::into_owned);
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

/// Counts of a batch for the summary line, saying how many converted Services scale to zero and
/// how many stay up.
pub fn summary(batch: &Batch) -> String {
    let ok = batch.services.iter().filter(|s| s.ok).count();
    let to_zero = batch.services.iter().filter(|s| s.scales_to_zero()).count();
    let failed = batch.services.len() - ok;
    let count = |sev| batch.all_findings().filter(|f| f.severity == sev).count();
    format!(
        "{ok} service(s) converted: {to_zero} scale to zero (Sablier), {} always on; {failed} failed, from {} file(s); {} error(s), {} warning(s), {} note(s)",
        ok - to_zero,
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
            rendered: Some(Rendering {
                format: OutputFormat::Hcl,
                annotate: false,
            }),
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
