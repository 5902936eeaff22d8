//! Property tests of the whole pipeline (load → convert → render → validate).
//!
//! (a) Knative Services generated from strategies — DNS-1035 names, images, env values full of
//! `${`, `%{`, quotes, backslashes, newlines and unicode, ports, resource quantities in every
//! form, annotations, probes, several containers — are written as YAML and converted: whenever a
//! job comes out, its HCL parses back to exactly its API JSON and the offline validator finds
//! nothing. (b) Any text at all never panics the loader and converter.

use knative2nomad::batch;
use knative2nomad::config::ConvertOptions;
use knative2nomad::knative::load::Input;
use knative2nomad::nomad::{hcl, validate};
use knative2nomad::output::OutputFormat;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::sync::Arc;

/// Knative's reserved ports (queue-proxy and friends).
const RESERVED_PORTS: &[u16] = &[8012, 8013, 8022, 8008, 9090, 9091];

/// Runs the pipeline on `text` and checks every job produced; returns how many there were.
fn check_pipeline(text: &str) -> Result<usize, TestCaseError> {
    let input = Input {
        name: Arc::from("prop.yaml"),
        relative_dir: PathBuf::new(),
        text: text.to_string(),
    };
    let batch = batch::run_inputs(vec![input], &ConvertOptions::default());
    let mut jobs = 0;
    for s in &batch.services {
        let Some(job) = s.job() else { continue };
        jobs += 1;
        let json = serde_json::to_value(job).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let hcl_text = knative2nomad::output::render(job, &s.source, OutputFormat::Hcl);
        let parsed = hcl::parse_job(&hcl_text).map_err(|e| {
            TestCaseError::fail(format!("HCL does not parse back: {e}\n{hcl_text}\n{text}"))
        })?;
        prop_assert_eq!(
            &parsed,
            &json,
            "HCL and JSON disagree\n{}\n{}",
            hcl_text,
            text
        );
        let problems = validate::validate_value(&json);
        prop_assert!(
            problems.is_empty(),
            "converted job is invalid: {:?}\n{}\n{}",
            problems,
            hcl_text,
            text
        );
    }
    Ok(jobs)
}

fn dns1035() -> impl Strategy<Value = String> {
    "[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
}

/// Text that is hard to carry through YAML, HCL templates and JSON.
fn tricky_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("${".to_string()),
            Just("%{".to_string()),
            Just("$${".to_string()),
            Just("%%{".to_string()),
            Just("}".to_string()),
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            Just("\t".to_string()),
            Just("$(HOME)".to_string()),
            Just("$$(X)".to_string()),
            Just("é☃𝄞\u{200b}".to_string()),
            Just("NOMAD_ADDR_http".to_string()),
            "\\PC{0,8}",
        ],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

fn image() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9]{1,10}(\\.[a-z]{2,5})?(/[a-z0-9_-]{1,10}){0,2}(:[a-zA-Z0-9._-]{1,10})?",
        1 => "\\PC{1,20}",
    ]
}

fn port() -> impl Strategy<Value = u16> {
    (1u16..=65535).prop_filter("reserved by Knative", |p| !RESERVED_PORTS.contains(p))
}

/// Kubernetes quantities in their many spellings, as strings or YAML numbers.
fn quantity(cpu: bool) -> impl Strategy<Value = Value> {
    let suffixes: &'static [&'static str] = if cpu {
        &["", "m", "m", "", "k", "e-1", "e2m", "n", "u"]
    } else {
        &[
            "", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti", "e3", "E6", "m", "P", "Pi", "Ei",
        ]
    };
    prop_oneof![
        3 => (1u64..5000, 0usize..suffixes.len())
            .prop_map(move |(n, s)| Value::String(format!("{n}{}", suffixes[s]))),
        2 => (0u64..5000, 0u64..1000, 0usize..suffixes.len())
            .prop_map(move |(n, f, s)| Value::String(format!("{n}.{f}{}", suffixes[s]))),
        1 => (0u64..4_000_000_000).prop_map(|n| json!(n)),
        1 => (0.0f64..64.0).prop_map(|f| json!(f)),
        1 => "[+-]?[0-9.]{0,5}[a-zA-Z]{0,2}".prop_map(Value::String),
    ]
}

fn resources() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(
        (
            prop::option::of(quantity(true)),
            prop::option::of(quantity(false)),
            prop::option::of(quantity(true)),
            prop::option::of(quantity(false)),
            prop::option::of(quantity(false)),
        )
            .prop_map(|(rc, rm, lc, lm, eph)| {
                let mut requests = Map::new();
                let mut limits = Map::new();
                if let Some(v) = rc {
                    requests.insert("cpu".into(), v);
                }
                if let Some(v) = rm {
                    requests.insert("memory".into(), v);
                }
                if let Some(v) = eph {
                    requests.insert("ephemeral-storage".into(), v);
                }
                if let Some(v) = lc {
                    limits.insert("cpu".into(), v);
                }
                if let Some(v) = lm {
                    limits.insert("memory".into(), v);
                }
                json!({"requests": requests, "limits": limits})
            }),
    )
}

fn probe(port: Option<u16>) -> impl Strategy<Value = Value> {
    let handler = prop_oneof![
        ("\\PC{0,20}", any::<bool>()).prop_map(move |(path, with_port)| {
            let mut get = json!({ "path": format!("/{path}") });
            if let (true, Some(p)) = (with_port, port) {
                get["port"] = json!(p);
            }
            json!({ "httpGet": get })
        }),
        Just(json!({"tcpSocket": {}})),
        Just(json!({"grpc": {}})),
        prop::collection::vec(tricky_text(), 1..4)
            .prop_map(|cmd| json!({"exec": {"command": cmd}})),
    ];
    (
        handler,
        prop::option::of(0i64..120),
        prop::option::of(0i64..120),
        prop::option::of(0i64..60),
        prop::option::of(0i64..10),
    )
        .prop_map(|(mut p, delay, period, timeout, failures)| {
            for (key, v) in [
                ("initialDelaySeconds", delay),
                ("periodSeconds", period),
                ("timeoutSeconds", timeout),
                ("failureThreshold", failures),
            ] {
                if let Some(v) = v {
                    p[key] = json!(v);
                }
            }
            p
        })
}

fn env() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(
        ("[A-Za-z_][A-Za-z0-9_]{0,15}", tricky_text())
            .prop_map(|(name, value)| json!({"name": name, "value": value})),
        0..5,
    )
}

/// One container; `port` is set on the serving container only.
fn container(port: Option<u16>) -> impl Strategy<Value = Value> {
    (
        image(),
        env(),
        resources(),
        prop::option::of(probe(port)),
        prop::option::of(probe(port)),
        prop::option::of(prop::collection::vec(tricky_text(), 0..3)),
        prop_oneof![Just(None), Just(Some("h2c")), Just(Some("http1"))],
    )
        .prop_map(move |(image, env, res, ready, live, args, port_name)| {
            let mut c = json!({ "image": image });
            if !env.is_empty() {
                c["env"] = json!(env);
            }
            if let Some(r) = res {
                c["resources"] = r;
            }
            if let Some(p) = port {
                let mut spec = json!({ "containerPort": p });
                if let Some(n) = port_name {
                    spec["name"] = json!(n);
                }
                c["ports"] = json!([spec]);
            }
            if let Some(p) = ready {
                c["readinessProbe"] = p;
            }
            if let Some(p) = live {
                c["livenessProbe"] = p;
            }
            if let Some(a) = args {
                c["args"] = json!(a);
            }
            c
        })
}

fn annotations() -> impl Strategy<Value = Map<String, Value>> {
    // Mostly values Knative accepts for the key, sometimes anything.
    let valid = prop_oneof![
        (1u32..30).prop_map(|n| ("autoscaling.knative.dev/min-scale", n.to_string())),
        (10u32..60).prop_map(|n| ("autoscaling.knative.dev/max-scale", n.to_string())),
        (1u32..5).prop_map(|n| ("autoscaling.knative.dev/initial-scale", n.to_string())),
        (1u32..500).prop_map(|n| ("autoscaling.knative.dev/target", n.to_string())),
        prop::sample::select(vec!["concurrency", "rps", "cpu", "memory"])
            .prop_map(|m| ("autoscaling.knative.dev/metric", m.to_string())),
        (1u32..100).prop_map(|n| (
            "autoscaling.knative.dev/target-utilization-percentage",
            n.to_string()
        )),
        "[1-9][0-9]?(s|m)".prop_map(|d| ("autoscaling.knative.dev/scale-down-delay", d)),
        "[1-5][0-9](s)".prop_map(|d| ("autoscaling.knative.dev/window", d)),
        tricky_text().prop_map(|v| ("example.com/note", v)),
    ];
    let any_value = (
        prop::sample::select(vec![
            "autoscaling.knative.dev/min-scale",
            "autoscaling.knative.dev/max-scale",
            "autoscaling.knative.dev/target",
            "autoscaling.knative.dev/class",
            "autoscaling.knative.dev/window",
            "networking.knative.dev/visibility",
        ]),
        prop_oneof!["\\PC{0,6}", tricky_text()],
    );
    prop::collection::vec(prop_oneof![6 => valid, 1 => any_value], 0..4).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v)))
            .collect()
    })
}

/// A whole Knative Service, as YAML text.
fn service_yaml() -> impl Strategy<Value = String> {
    (
        dns1035(),
        prop::option::of(dns1035()),
        annotations(),
        annotations(),
        port(),
        any::<bool>(),
        prop::collection::vec(container(None), 0..3),
        container(None),
        prop::option::of(0i64..3600),
        prop::option::of(0i64..1000),
    )
        .prop_flat_map(
            |(name, ns, meta_ann, tmpl_ann, port, explicit, sidecars, _, timeout, cc)| {
                let serving = container((explicit || !sidecars.is_empty()).then_some(port));
                (
                    Just((name, ns, meta_ann, tmpl_ann, sidecars, timeout, cc)),
                    serving,
                )
            },
        )
        .prop_map(
            |((name, ns, meta_ann, tmpl_ann, sidecars, timeout, cc), serving)| {
                let mut containers = vec![serving];
                containers.extend(sidecars);
                for (i, c) in containers.iter_mut().enumerate() {
                    c["name"] = json!(format!("c{i}"));
                }
                let mut metadata = json!({ "name": name, "annotations": meta_ann });
                if let Some(ns) = ns {
                    metadata["namespace"] = json!(ns);
                }
                let mut spec = json!({ "containers": containers });
                if let Some(t) = timeout {
                    spec["timeoutSeconds"] = json!(t);
                }
                if let Some(cc) = cc {
                    spec["containerConcurrency"] = json!(cc);
                }
                let svc = json!({
                    "apiVersion": "serving.knative.dev/v1",
                    "kind": "Service",
                    "metadata": metadata,
                    "spec": { "template": {
                        "metadata": { "annotations": tmpl_ann },
                        "spec": spec,
                    } },
                });
                serde_yaml::to_string(&svc).unwrap_or_default()
            },
        )
}

const CASES: u32 = 256;

/// Runs `test` on `CASES` values of the strategy `make` builds, on a thread with a large stack:
/// the Service strategy nests deeply, and in debug builds its generation alone overflows the
/// default 2 MiB test thread.
fn property<S, F>(make: fn() -> S, test: F) -> usize
where
    S: Strategy + 'static,
    F: Fn(S::Value) -> Result<usize, TestCaseError> + Send + 'static,
{
    let handle = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let jobs = std::cell::Cell::new(0);
            let mut runner = TestRunner::new(ProptestConfig {
                cases: CASES,
                failure_persistence: None,
                ..ProptestConfig::default()
            });
            let result = runner.run(&make(), |v| {
                jobs.set(jobs.get() + test(v)?);
                Ok(())
            });
            if let Err(e) = result {
                panic!("{e}");
            }
            jobs.get()
        })
        .expect("spawn test thread");
    match handle.join() {
        Ok(jobs) => jobs,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// (a) Generated Services: HCL and JSON agree, and every converted job is valid.
#[test]
fn generated_services_convert_to_valid_jobs() {
    let jobs = property(service_yaml, |yaml| check_pipeline(&yaml));
    eprintln!("{jobs} of {CASES} generated Services converted");
    // Not vacuous: most generated Services convert (the rest have e.g. a bad quantity).
    assert!(jobs >= CASES as usize / 4, "only {jobs} jobs converted");
}

/// (b) Any text never panics the loader and converter.
#[test]
fn any_text_never_panics() {
    property(|| "\\PC{0,200}", |text| check_pipeline(&text));
}

/// (b) Any text after a Service's opening lines: reaches deeper into the converter.
#[test]
fn any_text_inside_a_service_never_panics() {
    property(
        || "(\\PC|\n| ){0,200}",
        |tail| {
            check_pipeline(&format!(
                "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: fuzzed\nspec:\n  template:\n    spec:\n      containers:\n        - image: x\n{tail}"
            ))
        },
    );
}

/// The generator is not vacuous: a plain generated Service converts.
#[test]
fn a_plain_generated_service_converts() {
    let yaml = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  template:\n    spec:\n      containers:\n        - image: x\n";
    assert_eq!(check_pipeline(yaml).ok(), Some(1));
}

/// Found by (a): `$${$${` in an env value came back from the HCL as `$${${`.
#[test]
fn escaped_interpolation_twice_round_trips() {
    let yaml = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  template:\n    spec:\n      containers:\n      - image: a\n        env:\n        - name: _\n          value: $${$${\n        - name: B\n          value: $%{x} %${y}\n";
    assert_eq!(check_pipeline(yaml).ok(), Some(1));
}
