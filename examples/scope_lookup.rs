//! The cost of scoped ConfigMap/Secret resolution alone (BENCHMARKS.md), on the layout of
//! `gen_corpus --shared-config`: 10,000 Services in 100 folders under `/bench/corpus`, each
//! folder defining `group-config`, the root `platform-config`, every fifth Service its own
//! ConfigMap in its own file. Times building the index and resolving what those Services
//! reference (every other one `group-config`, every third `platform-config`, every fifth its
//! own), each Service with a fresh scope as the converter makes it, and prints medians.
//! `cargo run --release --example scope_lookup -- [ROUNDS]` (default 21).

use knative2nomad::knative::load::{Input, classify, split_documents};
use knative2nomad::knative::resources::{Resolution, ResourceKind, Resources};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVICES: usize = 10_000;

fn config_map(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  K: {value}\n")
}

fn service_file(i: usize) -> String {
    format!("/bench/corpus/group-{:03}/svc-{i:05}.yaml", i / 100)
}

/// The ConfigMap documents of the corpus, as (file, text).
fn definitions() -> Vec<(String, String)> {
    let mut files = vec![(
        "/bench/corpus/platform.yaml".to_string(),
        config_map("platform-config", "p"),
    )];
    for group in 0..SERVICES / 100 {
        files.push((
            format!("/bench/corpus/group-{group:03}/config.yaml"),
            config_map("group-config", &format!("g{group}")),
        ));
    }
    for i in (0..SERVICES).step_by(5) {
        files.push((
            service_file(i),
            config_map(&format!("svc-{i:05}-config"), "x"),
        ));
    }
    files
}

fn build(files: &[(String, String)]) -> Resources {
    let mut resources = Resources::new();
    for (name, text) in files {
        let input = Input {
            name: Arc::from(name.as_str()),
            relative_dir: PathBuf::new(),
            text: text.clone(),
        };
        for doc in split_documents(&input).0 {
            let kind = classify(&doc);
            resources.add(&doc, kind);
        }
    }
    resources
}

/// Resolves every reference of the corpus; returns how many were found.
fn resolve_all(resources: &Resources, files: &[String]) -> usize {
    let mut found = 0;
    let cm = ResourceKind::ConfigMap;
    for (i, file) in files.iter().enumerate() {
        let scope = resources.scope(file);
        let mut names = Vec::new();
        if i % 2 == 0 {
            names.push("group-config".to_string());
        }
        if i % 3 == 0 {
            names.push("platform-config".to_string());
        }
        if i % 5 == 0 {
            names.push(format!("svc-{i:05}-config"));
        }
        for name in names {
            if matches!(scope.resolve(cm, "default", &name), Resolution::Found(_)) {
                found += 1;
            }
        }
    }
    found
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(21);
    let files = definitions();
    let services: Vec<String> = (0..SERVICES).map(service_file).collect();
    let references: usize = (0..SERVICES)
        .map(|i| usize::from(i % 2 == 0) + usize::from(i % 3 == 0) + usize::from(i % 5 == 0))
        .sum();
    let (mut index_times, mut resolve_times) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // Building includes parsing the definitions' YAML, as pass 1 of a batch does.
        let started = Instant::now();
        let resources = build(&files);
        index_times.push(started.elapsed());
        let started = Instant::now();
        let found = resolve_all(&resources, &services);
        resolve_times.push(started.elapsed());
        assert_eq!(found, references, "every reference of the corpus resolves");
    }
    let resolve = median(resolve_times);
    println!(
        "{} definitions indexed (YAML parse included): median {:.2} ms; {references} references of {SERVICES} Services resolved: median {:.2} ms, {:.0} ns per reference ({rounds} rounds, one thread)",
        files.len(),
        median(index_times).as_secs_f64() * 1e3,
        resolve.as_secs_f64() * 1e3,
        resolve.as_nanos() as f64 / references as f64
    );
}
