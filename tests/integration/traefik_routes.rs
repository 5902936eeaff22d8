//! Every Traefik route `convert` writes is checked against SchemaStore's published file-provider
//! schema (data/schemastore/, Traefik v2: no registry publishes v3's; see its PROVENANCE.md), with
//! python3's `jsonschema` as the validator, and against the typed model in `traefik::dynamic`,
//! which refuses unknown keys. The schema check skips, with a notice, where python3 or its
//! jsonschema module is missing.

use knative2nomad::batch;
use knative2nomad::config::{ConvertOptions, ServiceProvider};
use knative2nomad::traefik::dynamic::DynamicConfig;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/schemastore/traefik-v2-file-provider.json"
);

/// Validates each document against the schema; one list of error messages per document, or
/// `None` when python3 with jsonschema is not available.
fn schema_errors(documents: &[Value]) -> Option<Vec<Vec<String>>> {
    let script = r#"
import json, sys
try:
    import jsonschema
except ImportError:
    sys.exit(3)
schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft4Validator(schema)
for line in sys.stdin:
    errors = [e.message for e in validator.iter_errors(json.loads(line))]
    print(json.dumps(errors))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script, SCHEMA])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take().unwrap();
    for doc in documents {
        writeln!(stdin, "{doc}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    if out.status.code() == Some(3) {
        return None;
    }
    assert!(out.status.success(), "validator failed");
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    )
}

/// The route files of every testdata Service, under a few settings that change them.
fn routes() -> Vec<(String, String)> {
    let consul = ConvertOptions {
        service_provider: ServiceProvider::Consul,
        ..ConvertOptions::default()
    };
    let mut elsewhere = ConvertOptions::default();
    elsewhere.serverless.sablier_url = "https://sablier.service.consul:10000".into();
    elsewhere.serverless.hop_address = "127.0.0.1:18080".into();
    elsewhere.domain_template = "{name}-{namespace}.{domain}".into();
    let mut out = Vec::new();
    for opts in [ConvertOptions::default(), consul, elsewhere] {
        let batch = batch::run(&[PathBuf::from("testdata/services")], &opts);
        for s in &batch.services {
            if let Some(file) = s.route_file() {
                out.push((
                    file.path.display().to_string(),
                    file.text.unwrap().into_owned(),
                ));
            }
        }
    }
    out
}

fn as_json(yaml: &str) -> Value {
    serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(yaml).unwrap()).unwrap()
}

#[test]
fn every_route_passes_the_published_schema_and_the_typed_model() {
    let routes = routes();
    assert!(routes.len() >= 60, "{} routes", routes.len());
    for (path, text) in &routes {
        DynamicConfig::parse(text).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    // The control cases show the check can fail: a router without its service, a key in the
    // wrong case, a load balancer without servers, and a v3-only key.
    let good = as_json(&routes[0].1);
    let mut no_service = good.clone();
    for router in no_service["http"]["routers"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        router.as_object_mut().unwrap().remove("service");
    }
    let wrong_case: Value =
        serde_json::from_str(&good.to_string().replace("entryPoints", "entrypoints")).unwrap();
    let mut no_servers = good.clone();
    for service in no_servers["http"]["services"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        service["loadBalancer"]["servers"] = Value::Array(vec![]);
    }
    let mut v3_only = good.clone();
    for router in v3_only["http"]["routers"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        router["ruleSyntax"] = "v3".into();
    }
    let controls = [no_service, wrong_case, no_servers, v3_only];
    let mut documents: Vec<Value> = routes.iter().map(|(_, text)| as_json(text)).collect();
    documents.extend(controls.iter().cloned());
    let Some(results) = schema_errors(&documents) else {
        eprintln!("notice: python3 with jsonschema not found; schema check skipped");
        return;
    };
    let (checked, control_results) = results.split_at(routes.len());
    for ((path, _), errors) in routes.iter().zip(checked) {
        assert!(errors.is_empty(), "{path}: {errors:?}");
    }
    for (i, errors) in control_results.iter().enumerate() {
        assert!(!errors.is_empty(), "control case {i} passed the schema");
    }
}
