//! Where a batch's time goes, phase by phase, on one thread: read, split (YAML parse and the
//! location index), convert (including the register-time validation), render (HCL text).
//! `cargo run --release --example batch_phases -- DIR`
use knative2nomad::config::{ConvertOptions, OutputFormat};
use knative2nomad::convert::convert_service;
use knative2nomad::knative::load::{self, DocumentKind, Resources};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: batch_phases DIR"));
    let files = load::expand_paths(&[dir]).expect("walking the corpus");
    let opts = ConvertOptions::default();
    let mut resources = Resources::default();
    let (mut read, mut split, mut convert, mut render) = (
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
    );
    let mut inputs = Vec::new();
    for (path, rel) in &files {
        let t = Instant::now();
        let input = load::read_input(path, rel.clone()).expect("reading");
        read += t.elapsed();
        inputs.push(input);
    }
    for input in &inputs {
        for doc in load::split_documents(input).0 {
            let kind = load::classify(&doc);
            if matches!(kind, DocumentKind::ConfigMap | DocumentKind::Secret) {
                resources.add(&doc, kind);
            }
        }
    }
    let mut bytes = 0usize;
    let mut index = Duration::ZERO;
    let mut to_value = Duration::ZERO;
    let mut services = 0usize;
    for input in &inputs {
        let t = Instant::now();
        let _ = knative2nomad::knative::locate::LocationIndex::build(&input.text, 1);
        index += t.elapsed();
        let t = Instant::now();
        let (docs, _) = load::split_documents(input);
        split += t.elapsed();
        for doc in &docs {
            if load::classify(doc) != DocumentKind::KnativeService {
                continue;
            }
            let t = Instant::now();
            let converted = convert_service(doc, &resources, &opts);
            convert += t.elapsed();
            if let Some(job) = &converted.job {
                let t = Instant::now();
                let v = serde_json::to_value(job).unwrap();
                to_value += t.elapsed();
                drop(v);
            }
            let t = Instant::now();
            if let Some(job) = &converted.job {
                bytes += knative2nomad::migrate::render(job, &doc.file, OutputFormat::Hcl).len();
            }
            render += t.elapsed();
            services += 1;
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / services as f64;
    println!(
        "{services} services, {bytes} bytes of HCL; per service: read {:.1} µs, split {:.1} µs, convert {:.1} µs, render {:.1} µs; index alone {:.1} µs, to_value alone {:.1} µs",
        per(read),
        per(split),
        per(convert),
        per(render),
        per(index),
        per(to_value)
    );
}
