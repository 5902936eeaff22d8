//! Nomad's own example jobs, which a Nomad server accepts (../shared/reference/nomad-examples,
//! see its SOURCES.md): our `validate` must find nothing wrong with them, read from the HCL by
//! our parser where it can and from the JSON Nomad's parser (jobspec2json) makes of them. A
//! false error here is a rule applied before Nomad's canonicalization, or one Nomad lacks.
//!
//! Skips with a notice when ../shared is absent.

use crate::support::jobspec2::{decode, tools_dir};
use knative2nomad::nomad::validate::validate_file;
use std::path::Path;

/// What each file is, as our parser sees it.
#[derive(Debug, PartialEq)]
enum Form {
    /// Plain HCL: our parser reads it.
    PlainHcl,
    /// HCL with variables or functions: our parser refuses with the `-output` hint, and the
    /// JSON from Nomad's parser is validated instead.
    ComputedHcl,
    /// The server's own JSON of the job.
    ServerJson,
}

const EXAMPLES: &[(&str, Form)] = &[
    (
        "hashicorp-education__learn-nomad-getting-started__jobs__pytechco-redis.nomad.hcl",
        Form::PlainHcl,
    ),
    (
        "hashicorp-education__learn-nomad-getting-started__jobs__pytechco-web.nomad.hcl",
        Form::PlainHcl,
    ),
    // Three groups whose only task is a prestart task; top-level variables.
    (
        "hashicorp__learn-nomad-sd__hashicups.hcl",
        Form::ComputedHcl,
    ),
    (
        "hashicorp__nomad-autoscaler-demos__vagrant__horizontal-app-scaling__jobs__autoscaler.nomad",
        Form::PlainHcl,
    ),
    (
        "hashicorp__nomad-autoscaler-demos__vagrant__horizontal-app-scaling__jobs__webapp.nomad",
        Form::PlainHcl,
    ),
    // The server's JSON of full-scaling.hcl (structs.Job, with Count 2 filled in).
    (
        "hashicorp__nomad-autoscaler__policy__nomad__test-fixtures__full-scaling.json.golden",
        Form::ServerJson,
    ),
    // No count, scaling { min = 2 }: Nomad runs 2.
    (
        "hashicorp__nomad-autoscaler__policy__nomad__test-fixtures__src__full-scaling.hcl",
        Form::PlainHcl,
    ),
    // Checks with no port and no task of their own: they inherit the service's.
    (
        "hashicorp__nomad__demo__csi__nfs__jobs__web.nomad.hcl",
        Form::PlainHcl,
    ),
];

#[test]
fn nomads_example_jobs_are_valid() {
    let Some(tools) = tools_dir("nomads_example_jobs_are_valid") else {
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/nomad-examples");
    let on_disk = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != "SOURCES.md")
        .count();
    assert_eq!(on_disk, EXAMPLES.len(), "a new example needs a row here");
    let tmp = tempfile::tempdir().unwrap();
    let mut false_errors = Vec::new();
    let mut validated = 0;
    for (name, form) in EXAMPLES {
        let file = dir.join(name);
        let ours = validate_file(&file);
        let verdict_ok = match form {
            Form::PlainHcl | Form::ServerJson => ours.is_empty(),
            Form::ComputedHcl => ours.len() == 1 && ours[0].contains("nomad job run -output"),
        };
        if !verdict_ok {
            false_errors.push(format!("{name} ({form:?}): {ours:?}"));
        }
        validated += 1;
        if *form == Form::ServerJson {
            continue;
        }
        let job = decode(&tools, "jobspec2json", &file).expect("Nomad's parser reads it");
        let json_file = tmp.path().join(format!("{name}.json"));
        std::fs::write(&json_file, serde_json::json!({ "Job": job }).to_string()).unwrap();
        let ours = validate_file(&json_file);
        if !ours.is_empty() {
            false_errors.push(format!("{name} as jobspec2json writes it: {ours:?}"));
        }
        validated += 1;
    }
    println!(
        "Nomad's example jobs: {} files, {validated} validations, {} false errors",
        EXAMPLES.len(),
        false_errors.len()
    );
    assert!(false_errors.is_empty(), "{}", false_errors.join("\n"));
}
