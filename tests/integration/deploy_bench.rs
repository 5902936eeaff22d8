//! Benchmark of the deployer: 100 jobs deployed with `--parallel 8` against the in-process
//! Nomad API double (support/nomad_double.rs), through the same library path as
//! `knative2nomad deploy` (validate → plan → register → follow eval → follow deployment).
//!
//! Run: `K2N_BENCH_DEPLOY="JOBS PARALLEL RUNS" cargo test --release --test integration
//! deploy_benchmark -- --ignored --nocapture` (defaults 100 8 5). Ignored by a plain
//! `cargo test`: it asserts nothing and only prints one line per run and the median; figures
//! go to BENCHMARKS.md. It lives in the test crate because it drives the test double. It
//! measures the deployer's overhead and request economy, not a real cluster: the double
//! completes evaluations after 20 ms and makes allocations healthy after 50 ms.

use crate::support::nomad_double::{DoubleConfig, NomadDouble};
use knative2nomad::deploy::{PipelineOptions, Stage, batch_exit_code, deploy_batch};
use knative2nomad::nomad::client::{ConnectionSettings, NomadClient};
use knative2nomad::nomad::model::Job;
use serde_json::json;
use std::time::{Duration, Instant};

fn job(id: &str) -> Job {
    let value = json!({
        "ID": id, "Type": "service", "Datacenters": ["*"],
        "TaskGroups": [{"Name": "web", "Count": 2,
            "Networks": [{"DynamicPorts": [{"Label": "http", "To": 8080}]}],
            "Tasks": [{"Name": "app", "Driver": "docker",
                       "Config": {"image": "ghcr.io/example/app:1", "ports": ["http"]},
                       "Resources": {"CPU": 100, "MemoryMB": 64}}]}]
    });
    serde_json::from_value(value).expect("the benchmark's job is a Nomad job")
}

struct RunResult {
    wall: Duration,
    requests: usize,
    blocking: usize,
    exit_code: u8,
}

async fn one_run(jobs: usize, parallel: usize) -> RunResult {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let settings = ConnectionSettings::plain(double.address());
    let client = match NomadClient::new(settings) {
        Ok(client) => client,
        Err(err) => panic!("client: {err}"),
    };
    let batch: Vec<Job> = (0..jobs).map(|i| job(&format!("bench-{i:03}"))).collect();
    let options = PipelineOptions {
        stage: Stage::Follow,
        blocking_wait: Duration::from_secs(60),
        quiet: true,
    };
    let started = Instant::now();
    let reports = deploy_batch(&client, batch, &options, parallel, false).await;
    let wall = started.elapsed();
    let log = double.requests();
    let blocking = log.iter().filter(|r| r.query.contains_key("index")).count();
    RunResult {
        wall,
        requests: log.len(),
        blocking,
        exit_code: batch_exit_code(&reports),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[test]
#[ignore = "a benchmark, not a test: run it with --release -- --ignored --nocapture"]
fn deploy_benchmark() {
    let args: Vec<usize> = std::env::var("K2N_BENCH_DEPLOY")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|a| a.parse().ok())
        .collect();
    let jobs = args.first().copied().unwrap_or(100);
    let parallel = args.get(1).copied().unwrap_or(8);
    let runs = args.get(2).copied().unwrap_or(5).max(1);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => panic!("runtime: {err}"),
    };
    println!("deploying {jobs} jobs (2 allocations each), --parallel {parallel}, {runs} runs");
    let mut walls = Vec::new();
    let mut per_job = Vec::new();
    for run in 1..=runs {
        let result = runtime.block_on(one_run(jobs, parallel));
        let requests_per_job = result.requests as f64 / jobs as f64;
        println!(
            "run {run}: wall {:.3} s, {} requests ({requests_per_job:.2}/job, {} blocking), exit {}",
            result.wall.as_secs_f64(),
            result.requests,
            result.blocking,
            result.exit_code
        );
        // Figures of a failed deploy would measure failing, not deploying.
        assert_eq!(result.exit_code, 0, "run {run}: the deploy failed");
        walls.push(result.wall.as_secs_f64());
        per_job.push(requests_per_job);
    }
    println!(
        "median: wall {:.3} s, {:.2} requests/job, {:.1} jobs/s",
        median(walls.clone()),
        median(per_job),
        jobs as f64 / median(walls)
    );
}
