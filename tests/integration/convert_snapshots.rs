//! Every service in testdata/services converted to HCL and JSON, snapshotted under snapshots/,
//! with the findings and, for a Service that scales to zero, its Traefik route. Each output is
//! also parsed back (HCL → JSON must equal the JSON output), checked against Nomad's API field
//! list, and validated with Nomad's register-time rules; each route is read back with unknown
//! keys refused and checked to work while the group is at zero.
//! A file's first line may carry flags: `# k2n-test: --traefik --domain x`.

use clap::Parser;
use knative2nomad::batch;
use knative2nomad::cli::{MappingArgs, PlacementArgs};
use knative2nomad::config::ConvertOptions;
use knative2nomad::nomad::model::Job;
use knative2nomad::nomad::{hcl, validate};
use knative2nomad::output::{OutputFormat, Rendering};
use knative2nomad::traefik::dynamic::DynamicConfig;
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
    let mut routes = 0;
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

            match s.route_file() {
                Some(file) => {
                    let text = file.text.unwrap().into_owned();
                    assert_eq!(
                        file.path,
                        Path::new("traefik").join(format!("{id}.yml")),
                        "{stem}"
                    );
                    settings().bind(|| {
                        insta::assert_snapshot!(format!("{stem}__{id}.traefik.yml"), text)
                    });
                    let route = DynamicConfig::parse(&text)
                        .unwrap_or_else(|e| panic!("{stem}: route does not read back: {e}"));
                    check_scale_to_zero(&stem, job, &route);
                    routes += 1;
                }
                None => {
                    let group = &job.task_groups[0];
                    assert!(group.count.unwrap_or(1) >= 1, "{stem}: always on at 0");
                    assert!(!group.meta.contains_key("sablier.enable"), "{stem}");
                }
            }
        }
    }
    assert!(services >= 30);
    assert!(
        routes >= 20,
        "most testdata Services scale to zero by default"
    );
}

/// What makes the activation path work while the group is at zero, which snapshots alone would
/// not show: everything the first request needs is in the route file (a router whose service is
/// `<name>@nomad` vanishes with the last registration, and Traefik answers 404 without running
/// the middleware); the group starts at 0 and Nomad lets Sablier scale it to 0 again; Sablier
/// finds the group the middleware names; and no service tag publishes the allocation on a public
/// entry point, past the middleware.
fn check_scale_to_zero(stem: &str, job: &Job, route: &DynamicConfig) {
    let group = &job.task_groups[0];
    assert_eq!(group.count, Some(0), "{stem}: count");
    let scaling = group.scaling.as_ref().expect("scaling block");
    assert_eq!(scaling.min, Some(0), "{stem}: scaling.min");
    assert_eq!(scaling.enabled, Some(false), "{stem}: no Autoscaler");
    assert!(scaling.policy.is_empty(), "{stem}: no Autoscaler policy");
    assert_eq!(group.meta["sablier.enable"], "true", "{stem}");
    let sablier_group = &group.meta["sablier.group"];
    assert_eq!(route.http.routers.len(), 1, "{stem}");
    for router in route.http.routers.values() {
        assert!(
            route.http.services.contains_key(&router.service),
            "{stem}: the router's service must be in the file"
        );
        for m in &router.middlewares {
            let middleware = &route.http.middlewares[m];
            assert_eq!(&middleware.plugin.sablier.group, sablier_group, "{stem}");
        }
        assert_eq!(
            router.middlewares.len(),
            1,
            "{stem}: the Sablier middleware"
        );
    }
    for service in route.http.services.values() {
        for server in &service.load_balancer.servers {
            assert!(
                server.url.starts_with("http://127.0.0.1:")
                    || server.url.starts_with("h2c://127.0.0.1:"),
                "{stem}: the hop is loopback: {}",
                server.url
            );
        }
    }
    let tags = &group.services[0].tags;
    for tag in tags.iter().filter(|t| t.contains(".rule=")) {
        let router = tag.split(".rule=").next().unwrap();
        assert!(
            tags.contains(&format!("{router}.entrypoints=hop")),
            "{stem}: {router} is on the hop entry point only"
        );
    }
}
