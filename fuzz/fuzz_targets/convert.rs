//! Fuzz target over the whole pipeline: load → convert → render → validate.
//!
//! Arbitrary bytes are one input file. Any panic is a bug, and so is a converted job whose HCL
//! does not parse back to exactly its API JSON, or that the offline validator rejects: a job
//! this tool writes must always be one Nomad accepts.

#![no_main]

use knative2nomad::batch;
use knative2nomad::config::ConvertOptions;
use knative2nomad::knative::load::Input;
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
    let batch = batch::run_inputs(vec![input], &ConvertOptions::default());
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
