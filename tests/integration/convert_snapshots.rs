//! Every service in testdata/services converted to HCL and JSON, snapshotted under snapshots/,
//! with the findings. Each output is also parsed back (HCL → JSON must equal the JSON output),
//! checked against Nomad's API field list, and validated with Nomad's register-time rules.
//! A file's first line may carry flags: `# k2n-test: --traefik --domain x`.

use clap::Parser;
use knative2nomad::batch;
use knative2nomad::cli::{MappingArgs, PlacementArgs};
use knative2nomad::config::ConvertOptions;
use knative2nomad::nomad::{hcl, validate};
use knative2nomad::output::{OutputFormat, Rendering};
use std::path::{Path, PathBuf};

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    mapping: MappingArgs,
    #[command(flatten)]
    placement: PlacementArgs,
}

fn options_for(path: &Path) -> ConvertOptions {
    let text = std::fs::read_to_string(path).unwrap();
    let first = text.lines().next().unwrap_or("");
    let mut argv = vec!["test".to_string()];
    if let Some(flags) = first.strip_prefix("# k2n-test:") {
        argv.extend(flags.split_whitespace().map(str::to_string));
    }
    let flags = Flags::try_parse_from(argv).unwrap();
    let mut opts = flags.mapping.convert_options(&flags.placement).unwrap();
    opts.record_provenance = true; // the annotated rendering is checked too
    opts
}

fn service_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("testdata/services")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

/// Secret values present in testdata; none may appear in any output.
const SECRET_VALUES: &[&str] = &[
    "ghp_this_value_must_never_be_printed",
    "c2VjcmV0LXZhbHVlLW5ldmVyLXByaW50ZWQ=",
    "secret-value-never-printed",
    "admin-not-printed",
    "hunter2-not-printed",
];

#[test]
fn snapshots_round_trip_and_validate() {
    let files = service_files();
    assert!(files.len() >= 30, "at least 30 testdata services");
    let mut services = 0;
    for path in files {
        let opts = options_for(&path);
        let batch = batch::run(std::slice::from_ref(&path), &opts);
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        assert!(!batch.services.is_empty(), "{stem}: no service found");
        for s in &batch.services {
            let id = &s.converted.job_id;
            let findings: String = s
                .converted
                .findings
                .iter()
                .map(|f| {
                    format!(
                        "{} {} {}:{} {}\n    {}\n",
                        f.severity, f.code, f.location.line, f.location.column, f.path, f.message
                    )
                })
                .collect();
            let Some(job) = s.job() else {
                // Only services superseded by a later document may have no job here.
                assert!(
                    findings.contains("K2N049"),
                    "{stem}/{id} failed:\n{findings}"
                );
                continue;
            };
            services += 1;
            let hcl_text = knative2nomad::output::render(job, &s.source, OutputFormat::Hcl);
            let json_text = knative2nomad::output::render(job, &s.source, OutputFormat::Json);
            for secret in SECRET_VALUES {
                assert!(
                    !hcl_text.contains(secret)
                        && !json_text.contains(secret)
                        && !findings.contains(secret),
                    "{stem}: secret leaked"
                );
            }
            settings().bind(|| {
                insta::assert_snapshot!(format!("{stem}__{id}.hcl"), hcl_text);
                insta::assert_snapshot!(format!("{stem}__{id}.json"), json_text);
                insta::assert_snapshot!(format!("{stem}__{id}.findings"), findings);
            });

            let job_json = serde_json::to_value(job).unwrap();
            let parsed = hcl::parse_job(&hcl_text)
                .unwrap_or_else(|e| panic!("{stem}: HCL does not parse back: {e}\n{hcl_text}"));
            assert_eq!(parsed, job_json, "{stem}: HCL and JSON disagree");
            // --annotate only adds comments: the file says the same.
            let annotated = s
                .text(Rendering {
                    format: OutputFormat::Hcl,
                    annotate: true,
                })
                .unwrap()
                .into_owned();
            assert!(annotated.contains(" # "), "{stem}: nothing annotated");
            assert_eq!(
                hcl::parse_job(&annotated).unwrap(),
                job_json,
                "{stem}: annotations changed the job"
            );
            if stem == "15-resources" {
                settings().bind(|| {
                    insta::assert_snapshot!(format!("{stem}__{id}.annotated.hcl"), annotated)
                });
            }
            let problems = validate::validate_value(&job_json);
            assert!(problems.is_empty(), "{stem}: {problems:?}");
        }
    }
    assert!(services >= 30);
}
