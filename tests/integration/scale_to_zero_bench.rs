//! Benchmark of a request-driven cold start through the scale-to-zero path on loopback: a
//! request to a converted Service whose group is at 0 goes through the Traefik stand-in, the
//! Sablier double (which scales the group through the Nomad double) and the hop to a freshly
//! started `k2n-fn-server`; the figure is the request's time from sending to the last byte.
//!
//! Run: `K2N_BENCH_COLD=RUNS cargo test --release --test integration
//! cold_start_through_the_proxy_benchmark -- --ignored --nocapture` (default 10 runs per
//! setting). Ignored by a plain `cargo test`: it asserts only that every request was answered by
//! a new process, and prints each sample and the median per `sablier.ready-after`; figures go to
//! BENCHMARKS.md. What it measures is the path's own cost (Sablier's refresh ticks, the Nomad
//! double's 20 ms evaluation delay, a real process start) plus ready-after, not Nomad's or
//! Docker's start-up on a real node.

use crate::support::activation::ActivationPath;
use crate::support::nomad_double::{DoubleConfig, NomadDouble};
use crate::support::verify_fixtures::ProcessRunner;
use knative2nomad::batch;
use knative2nomad::config::ConvertOptions;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn cold_starts(ready_after: Duration, runs: usize) -> Vec<Duration> {
    let runner = ProcessRunner::new(0);
    let nomad = NomadDouble::start(DoubleConfig {
        runner: Arc::new(runner.clone()),
        ..DoubleConfig::default()
    })
    .await;
    let path = ActivationPath::start(&nomad.address(), "default").await;
    let mut opts = ConvertOptions::default();
    path.configure(&mut opts);
    opts.serverless.ready_after = ready_after;
    opts.knative_defaults.stable_window = Duration::from_millis(300);
    opts.knative_defaults.scale_to_zero_grace_period = Duration::ZERO;
    let converted = batch::run(&["testdata/services/01-minimal.yaml".into()], &opts);
    path.deploy_converted(&nomad.address(), &converted.services[0])
        .await;
    let count = || {
        nomad.job("default", "hello").unwrap()["TaskGroups"][0]["Count"]
            .as_i64()
            .unwrap()
    };
    let mut samples = Vec::new();
    let mut last_instance = None;
    for run in 0..runs {
        let deadline = Instant::now() + Duration::from_secs(30);
        while count() != 0 || *runner.started.lock().unwrap() != run {
            assert!(Instant::now() < deadline, "not back at 0");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Let the stopped process go and Sablier's store forget the session.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let answer = path.get("hello.default.example.com", "/").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_ne!(answer.instance, last_instance, "a new process answered");
        last_instance = answer.instance;
        println!(
            "ready-after {:?}: cold start {:.1} ms",
            ready_after,
            answer.elapsed.as_secs_f64() * 1000.0
        );
        samples.push(answer.elapsed);
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn cold_start_through_the_proxy_benchmark() {
    let runs: usize = std::env::var("K2N_BENCH_COLD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    for ready_after in [Duration::ZERO, Duration::from_secs(2)] {
        let mut samples = cold_starts(ready_after, runs).await;
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "ready-after {:?}: {} cold starts, median {:.1} ms, min {:.1} ms, max {:.1} ms",
            ready_after,
            samples.len(),
            ms(samples[samples.len() / 2]),
            ms(samples[0]),
            ms(samples[samples.len() - 1])
        );
    }
}
