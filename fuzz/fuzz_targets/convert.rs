//! Fuzz target over the whole pipeline: load → convert → render → validate → diagnostics.
//!
//! Arbitrary bytes are one input file. Any panic is a bug, and so is a converted job whose HCL
//! does not parse back to exactly its API JSON, or that the offline validator rejects: a job
//! this tool writes must always be one Nomad accepts. The diagnostics are rendered as people
//! read them (with Secret values redacted), and a Secret's value that appears nowhere else in
//! the input must not appear in them (docs/security.md, "Secrets").

#![no_main]

use knative2nomad::batch::{self, HumanDiagnostics};
use knative2nomad::config::ConvertOptions;
use knative2nomad::knative::load::{self, DocumentKind, Input};
use knative2nomad::knative::redact;
use knative2nomad::nomad::{hcl, validate};
use knative2nomad::output::OutputFormat;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    // Files that are not UTF-8 are refused before loading (K2N001); nothing to fuzz there.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let input = Input {
        name: Arc::from("fuzz.yaml"),
        relative_dir: PathBuf::new(),
        text: text.to_string(),
    };
    let secret_values = secret_values(&input);
    let batch = batch::run_inputs(vec![input], &ConvertOptions::default());
    let mut human = HumanDiagnostics::new(&batch);
    let shown: String = batch.all_findings().map(|f| human.render(f)).collect();
    if !secret_values.is_empty() {
        // The input with every redacted span blanked: a value found there may be shown.
        let mut blanked = text.to_string();
        for span in redact::secret_spans(text).iter().rev() {
            blanked.replace_range(span.clone(), " ");
        }
        for value in &secret_values {
            assert!(
                !shown.contains(value.as_str()) || blanked.contains(value.as_str()),
                "Secret value {value:?} shown:\n{shown}"
            );
        }
    }
    for s in &batch.services {
        let Some(job) = s.job() else { continue };
        let json = serde_json::to_value(job).expect("a job serializes to JSON");
        let hcl_text = knative2nomad::output::render(job, &s.source, OutputFormat::Hcl);
        let parsed = hcl::parse_job(&hcl_text)
            .unwrap_or_else(|e| panic!("HCL does not parse back: {e}\n{hcl_text}"));
        assert_eq!(parsed, json, "HCL and JSON disagree\n{hcl_text}");
        let problems = validate::validate_value(&json);
        assert!(
            problems.is_empty(),
            "converted job is invalid: {problems:?}\n{hcl_text}"
        );
        // The JSON output must be what the API JSON is.
        let json_text = knative2nomad::output::render(job, &s.source, OutputFormat::Json);
        let reread: serde_json::Value =
            serde_json::from_str(&json_text).expect("JSON output parses");
        assert_eq!(reread["Job"], json, "JSON output differs from the job");
    }
});

/// The string values of the Secrets' `data`/`stringData` that a person would recognise as a
/// value (eight characters or more, with a digit and an upper-case letter, so that words of
/// the tool's own messages are not taken for one).
fn secret_values(input: &Input) -> Vec<String> {
    let (docs, _) = load::split_documents(input);
    let mut values = Vec::new();
    for doc in docs.iter().filter(|d| load::classify(d) == DocumentKind::Secret) {
        for field in ["data", "stringData"] {
            let Some(map) = doc.value.get(field).and_then(|m| m.as_mapping()) else {
                continue;
            };
            for value in map.values().filter_map(|v| v.as_str()) {
                let distinctive = value.chars().count() >= 8
                    && value.chars().any(|c| c.is_ascii_digit())
                    && value.chars().any(|c| c.is_ascii_uppercase());
                if distinctive {
                    values.push(value.to_string());
                }
            }
        }
    }
    values
}
