//! `verify`'s warm load alternates the platforms in short blocks instead of loading one after
//! the other: seen from two servers that record when each request arrives, and in the report's
//! blocks. (Whether an A/A comparison then FAILs no more often than it should is measured in
//! BENCHMARKS.md, not asserted here: it is a rate over many runs.)

use crate::support::verify_fixtures::{serve, text};
use hyper::Request;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A server answering `200 ok` that records when each request arrived.
async fn recording_server() -> (
    String,
    Arc<Mutex<Vec<Instant>>>,
    tokio::task::JoinHandle<()>,
) {
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let log = seen.clone();
    let (addr, task) = serve(move |_req: Request<hyper::body::Incoming>| {
        log.lock().unwrap().push(Instant::now());
        async { text(200, "ok") }
    })
    .await;
    (format!("http://{addr}/"), seen, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_load_alternates_the_platforms_in_blocks() {
    let (knative_url, knative_seen, k_task) = recording_server().await;
    let (nomad_url, nomad_seen, n_task) = recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "verify",
        "--knative-url",
        &knative_url,
        "--nomad-url",
        &nomad_url,
        "--cold-starts",
        "0",
        "--warm-duration",
        "1s",
        "--warm-rate",
        "100",
        "--warm-connections",
        "2",
        "--report-dir",
        dir.path().to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("knative2nomad")
            .unwrap()
            .args(&args)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        [0, 1, 3].contains(&out.status.code().unwrap_or(-1)),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("warm load: 10 blocks per platform, alternating"),
        "{stdout}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("verify.json")).unwrap())
            .unwrap();
    for w in report["warm"].as_array().unwrap() {
        let sizes: Vec<u64> = w["block_sizes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .collect();
        assert_eq!(sizes, vec![10; 10], "{w}");
        assert_eq!(w["raw_ms"].as_array().unwrap().len(), 100);
    }
    // Seen from the servers: after the warm-up, the platforms take turns, block by block.
    let mut arrivals: Vec<(Instant, char)> = knative_seen
        .lock()
        .unwrap()
        .iter()
        .map(|t| (*t, 'k'))
        .chain(nomad_seen.lock().unwrap().iter().map(|t| (*t, 'n')))
        .collect();
    arrivals.sort();
    let turns = arrivals.windows(2).filter(|w| w[0].1 != w[1].1).count();
    // 20 blocks strictly alternating are 19 hand-overs (plus the warm-up's); loading one
    // platform after the other would be one.
    assert!(turns >= 19, "{turns} turns in {} requests", arrivals.len());
    k_task.abort();
    n_task.abort();
}
