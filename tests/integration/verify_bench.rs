//! Benchmarks of `knative2nomad verify`'s verdict itself, on loopback with real processes:
//!
//! - **A/A**: the same server on both sides, many runs; a sound test FAILs such a pair no more
//!   often than its confidence level allows (with the default 10 % tolerance, practically never).
//!   Warm: both URLs at one `k2n-fn-server`, `--cold-starts 0 --warm-duration 2s
//!   --warm-rate 200` (issue 14's settings), and `--warm-duration 5s` (enough for p99). Cold: two identical activator-style proxies, each
//!   starting its own `k2n-fn-server` with a 100 ms start-up delay on the first request, both
//!   sides in idle-wait mode (one held request per cold start), `--cold-starts 10`.
//! - **bias**: both sides made ready after the same start-up delay (100 ms, 300 ms), but
//!   measured the two different ways: Knative through an activator-style proxy with its pods
//!   watched through the (fake) Kubernetes API — one held request; Nomad scaled through the API
//!   of the Nomad double (no evaluation delay) with a Traefik stand-in in front — polled. The
//!   difference of the medians is what the measurement adds to one side.
//!
//! Run (release build; ignored by a plain `cargo test`; it prints one line per run and a summary,
//! asserts nothing; figures go to BENCHMARKS.md):
//! `K2N_BENCH_RUNS=40 cargo test --release --test integration verify_aa_benchmark -- --ignored --nocapture`
//! `K2N_BENCH_RUNS=10 cargo test --release --test integration verify_bias_benchmark -- --ignored --nocapture`
//! `K2N_BENCH_AA="warm2 warm5 cold"` chooses the A/A parts (default all three).
//! `K2N_VERIFY_BIN=/path/to/knative2nomad` runs another build of the verifier (e.g. an older one)
//! against the same fixtures. bench/verify.sh runs both.

use crate::support::nomad_double::{DoubleConfig, NomadDouble};
use crate::support::nomad_router::Router;
use crate::support::verify_fixtures::{
    Activator, FnProcess, ProcessRunner, free_port, plain_job, register,
};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

fn runs(default: usize) -> usize {
    std::env::var("K2N_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .max(1)
}

fn verifier() -> std::path::PathBuf {
    std::env::var_os("K2N_VERIFY_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| assert_cmd::cargo::cargo_bin("knative2nomad"))
}

/// One verify run with a report; the parsed verify.json (Null when none was written) and the
/// exit code.
async fn verify(args: Vec<String>, kubeconfig: Option<std::path::PathBuf>) -> (i32, Value) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r");
    let out = tokio::task::spawn_blocking({
        let report = report.clone();
        move || {
            let mut cmd = std::process::Command::new(verifier());
            match kubeconfig {
                Some(path) => cmd.env("KUBECONFIG", path),
                None => cmd.env_remove("KUBECONFIG"),
            };
            cmd.args(&args)
                .arg("--report-dir")
                .arg(&report)
                .env_remove("NOMAD_TOKEN")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let json = std::fs::read_to_string(report.join("verify.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    if json.is_null() {
        eprintln!(
            "no report (exit {code}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (code, json)
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The median (NaN when empty): the verifier's own quantile, type 7, at 0.5.
fn median(v: &[f64]) -> f64 {
    knative2nomad::verify::stats::quantile(v, 0.5)
}

/// Verdicts by metric over the runs: (metric, FAIL, INCONCLUSIVE, PASS, ratios).
#[derive(Default)]
struct Tally(Vec<(String, [usize; 3], Vec<f64>)>);

impl Tally {
    fn add(&mut self, report: &Value) {
        for c in report["comparisons"].as_array().into_iter().flatten() {
            let metric = c["metric"].as_str().unwrap_or("?").to_string();
            let slot = match self.0.iter().position(|(m, _, _)| *m == metric) {
                Some(i) => i,
                None => {
                    self.0.push((metric, [0; 3], Vec::new()));
                    self.0.len() - 1
                }
            };
            let which = match c["verdict"].as_str() {
                Some("FAIL") => 0,
                Some("INCONCLUSIVE") => 1,
                _ => 2,
            };
            self.0[slot].1[which] += 1;
            if let Some(r) = c["ratio"]["estimate"].as_f64() {
                self.0[slot].2.push(r);
            }
        }
    }

    fn print(&self, what: &str, runs: usize) {
        println!("{what}: {runs} runs");
        println!("| metric | FAIL | INCONCLUSIVE | PASS | median ratio | ratio range |");
        println!("|---|---|---|---|---|---|");
        for (metric, [fail, inc, pass], ratios) in &self.0 {
            let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            println!(
                "| {metric} | {fail} | {inc} | {pass} | {:.3} | {lo:.3}–{hi:.3} |",
                median(ratios)
            );
        }
    }
}

/// Every judged metric of a report: verdict, both quantiles and the ratio with its interval.
fn verdicts(report: &Value) -> String {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    report["comparisons"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{} {} ({:.3} vs {:.3} ms, ratio {:.3} [{:.3}, {:.3}])",
                c["metric"].as_str().unwrap_or("?"),
                c["verdict"].as_str().unwrap_or("-"),
                f(&c["knative"]["estimate"]),
                f(&c["nomad"]["estimate"]),
                f(&c["ratio"]["estimate"]),
                f(&c["ratio"]["lo"]),
                f(&c["ratio"]["hi"]),
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn comparison<'a>(report: &'a Value, metric: &str) -> &'a Value {
    report["comparisons"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["metric"] == metric))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark, not a test: run it with --release -- --ignored --nocapture"]
async fn verify_aa_benchmark() {
    // The activators' HTTP client needs the process's TLS provider, even for http:// URLs.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runs = runs(40);
    // Warm A/A: both URLs at one server.
    let port = free_port();
    let _server = FnProcess::spawn(port, 0);
    assert!(FnProcess::wait_ready(port, || true).await);
    let url = format!("http://127.0.0.1:{port}/");
    // The issue's settings (400 requests per side: p50 and p90 judged), and long enough for
    // p99 to be judged (1,000 per side).
    let parts = std::env::var("K2N_BENCH_AA").unwrap_or_else(|_| "warm2 warm5 cold".into());
    let mut warm = Vec::new();
    for duration in ["2s", "5s"] {
        if !parts.contains(&format!("warm{}", duration.trim_end_matches('s'))) {
            continue;
        }
        let mut tally = Tally::default();
        for run in 1..=runs {
            let (code, report) = verify(
                strings(&[
                    "verify",
                    "--knative-url",
                    &url,
                    "--nomad-url",
                    &url,
                    "--cold-starts",
                    "0",
                    "--warm-duration",
                    duration,
                    "--warm-rate",
                    "200",
                    "--seed",
                    &run.to_string(),
                ]),
                None,
            )
            .await;
            println!(
                "warm A/A {duration} run {run}: exit {code}, {}",
                verdicts(&report)
            );
            tally.add(&report);
        }
        warm.push((duration, tally));
    }

    // Cold A/A: two identical activators, one held request per cold start on each side.
    let mut cold = Tally::default();
    let cold_runs = if parts.contains("cold") { runs } else { 0 };
    for run in 1..=cold_runs {
        let k = Activator::start(100, Duration::from_millis(150)).await;
        let n = Activator::start(100, Duration::from_millis(150)).await;
        let (code, report) = verify(
            strings(&[
                "verify",
                "--knative-url",
                &k.url(),
                "--nomad-url",
                &n.url(),
                "--knative-idle-wait",
                "400ms",
                "--nomad-idle-wait",
                "400ms",
                "--instance-header",
                "x-k2n-instance",
                "--cold-starts",
                "10",
                "--warm-duration",
                "0s",
                "--seed",
                &run.to_string(),
            ]),
            None,
        )
        .await;
        println!("cold A/A run {run}: exit {code}, {}", verdicts(&report));
        cold.add(&report);
    }
    for (duration, tally) in &warm {
        tally.print(
            &format!("warm A/A, --warm-duration {duration} --warm-rate 200"),
            runs,
        );
    }
    if cold_runs > 0 {
        cold.print("cold A/A, --cold-starts 10", runs);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark, not a test: run it with --release -- --ignored --nocapture"]
async fn verify_bias_benchmark() {
    let runs = runs(10);
    for delay in [100u64, 300] {
        let mut tally = Tally::default();
        let mut diffs = Vec::new();
        let mut resolutions = Vec::new();
        let mut schedulings = Vec::new();
        for run in 1..=runs {
            let runner = ProcessRunner::new(delay);
            let double = NomadDouble::start(DoubleConfig {
                runner: Arc::new(runner),
                eval_delay: Duration::ZERO,
                ..DoubleConfig::default()
            })
            .await;
            register(&double, &plain_job("fn", 1, None)).await;
            let router = Router::start(double.service_ports("default", "fn", "fn", "http")).await;
            let activator = Activator::start(delay, Duration::from_millis(150)).await;
            let dir = tempfile::tempdir().unwrap();
            let kubeconfig = activator.kubeconfig(dir.path());
            let (code, report) = verify(
                strings(&[
                    "verify",
                    "--knative-url",
                    &activator.url(),
                    "--knative-service",
                    "default/fn",
                    "--nomad-url",
                    &router.url(),
                    "--nomad-job",
                    "fn",
                    "--address",
                    &double.address(),
                    "--instance-header",
                    "x-k2n-instance",
                    "--cold-starts",
                    "10",
                    "--warm-duration",
                    "0s",
                    "--seed",
                    &run.to_string(),
                ]),
                Some(kubeconfig),
            )
            .await;
            let p50 = comparison(&report, "cold p50");
            let (k, n) = (
                p50["knative"]["estimate"].as_f64().unwrap_or(f64::NAN),
                p50["nomad"]["estimate"].as_f64().unwrap_or(f64::NAN),
            );
            let diff = (n - k) / k * 100.0;
            // The double's own part: from the clock's start to the task's StartedAt (the
            // scale request, the evaluation, the placement), before the process even starts.
            let scheduling = median(
                &report["cold_samples"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["platform"] == "nomad" && s["valid"] == true)
                    .filter_map(|s| s["started_ms"].as_f64())
                    .collect::<Vec<f64>>(),
            );
            let resolution = report["cold_timing"]
                .as_array()
                .and_then(|t| t.iter().find(|t| t["platform"] == "nomad"))
                .and_then(|t| t["resolution_max_ms"].as_f64());
            println!(
                "delay {delay} ms run {run}: exit {code}, median knative {k:.2} ms, nomad {n:.2} ms, \
                 difference {diff:+.2} %, cold p50 {}, nomad task started {scheduling:.2} ms, \
                 nomad resolution max {}",
                p50["verdict"].as_str().unwrap_or("-"),
                resolution.map_or("-".to_string(), |r| format!("{r:.3} ms")),
            );
            if diff.is_finite() {
                diffs.push(diff);
            }
            if scheduling.is_finite() {
                schedulings.push(scheduling);
            }
            resolutions.extend(resolution);
            tally.add(&report);
        }
        tally.print(&format!("bias, start-up delay {delay} ms"), runs);
        let worst = diffs.iter().copied().fold(0.0f64, |a, d| a.max(d.abs()));
        println!(
            "delay {delay} ms: difference of medians, median over runs {:+.2} % (largest |difference| {worst:.2} %); \
             nomad task started after {:.2} ms (median over runs); nomad resolution max over runs {:.3} ms",
            median(&diffs),
            median(&schedulings),
            resolutions.iter().copied().fold(0.0f64, f64::max)
        );
    }
}
