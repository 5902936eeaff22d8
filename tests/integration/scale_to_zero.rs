//! Scale to zero end to end, as a user runs it, with real processes on loopback: a Knative
//! Service converted with `convert -o` (routes pointed at the doubles through `--config`),
//! deployed with `deploy OUT/` to the Nomad double (which runs a real `k2n-fn-server` per
//! allocation), and requests sent through the proxy that does what Traefik, the Sablier plugin
//! and the two hops do, with the Sablier double scaling the job through the Nomad API.

use crate::support::activation::ActivationPath;
use crate::support::nomad_double::{DoubleConfig, NomadDouble, SimulatedRunner};
use crate::support::verify_fixtures::ProcessRunner;
use assert_cmd::Command;
use knative2nomad::batch;
use knative2nomad::config::ConvertOptions;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOST: &str = "hello.default.example.com";

/// Runs the CLI off the async runtime (the doubles live on it).
async fn k2n(args: Vec<String>, env: Vec<(&'static str, String)>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::cargo_bin("knative2nomad").unwrap();
        for var in ["NOMAD_ADDR", "NOMAD_TOKEN", "NOMAD_NAMESPACE", "K2N_CONFIG"] {
            command.env_remove(var);
        }
        command.args(&args);
        for (k, v) in env {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

async fn get_json(url: String) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

fn group_count(nomad: &NomadDouble) -> i64 {
    let job = nomad.job("default", "hello").expect("job registered");
    job["TaskGroups"][0]["Count"].as_i64().unwrap()
}

/// Polls until `done` holds, or fails after `within` (a watchdog, not a timing assertion).
async fn eventually(within: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Converts testdata's minimal Service (Knative's defaults: it scales to zero) with the settings
/// in `extra_config`, and deploys the jobs of OUT; returns OUT.
async fn convert_and_deploy(
    nomad: &NomadDouble,
    path: &ActivationPath,
    extra_config: &str,
    dir: &Path,
) -> std::path::PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy("testdata/services/01-minimal.yaml", src.join("hello.yaml")).unwrap();
    let config = dir.join("k2n.yaml");
    std::fs::write(&config, format!("{}{extra_config}", path.settings_yaml())).unwrap();
    let out = dir.join("out");
    let arg = |p: &Path| p.display().to_string();
    let (code, stderr) = k2n(
        vec![
            "convert".into(),
            arg(&src),
            "-o".into(),
            arg(&out),
            "--config".into(),
            arg(&config),
        ],
        vec![],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(out.join("traefik/hello.yml").is_file());
    // `deploy OUT/` deploys the job and skips the route beside it.
    let (code, stderr) = k2n(
        vec!["deploy".into(), arg(&out)],
        vec![("NOMAD_ADDR", nomad.address())],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("hello.yml"), "{stderr}");
    let jobs = get_json(format!("{}/v1/jobs", nomad.address())).await;
    assert_eq!(jobs.as_array().unwrap().len(), 1, "{jobs}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_wakes_the_job_from_zero_and_idleness_puts_it_back_to_zero() {
    let runner = ProcessRunner::new(100);
    let nomad = NomadDouble::start(DoubleConfig {
        runner: Arc::new(runner.clone()),
        ..DoubleConfig::default()
    })
    .await;
    let path = ActivationPath::start(&nomad.address(), "default").await;
    let dir = tempfile::tempdir().unwrap();
    // Idle after 1s instead of Knative's 90s, so the test sees the scale-down.
    let idle = "knative-defaults:\n  stable-window: 1s\n  scale-to-zero-grace-period: 0s\n";
    let out = convert_and_deploy(&nomad, &path, idle, dir.path()).await;

    // Deployed at zero: no allocation, and nothing answers yet.
    assert_eq!(group_count(&nomad), 0);
    let allocs = get_json(format!("{}/v1/job/hello/allocations", nomad.address())).await;
    assert_eq!(allocs, Value::Array(vec![]));
    path.load_routes(&out.join("traefik"));
    path.sablier.scan().await.unwrap();
    assert_eq!(path.sablier.groups()["hello"], ["hello/hello"]);
    let unknown = path.get("nobody.default.example.com", "/").await;
    assert_eq!(unknown.status, 404, "no router, no middleware");

    // The first request starts the job and is answered by the new process.
    let cold = path.get(HOST, "/").await;
    assert_eq!(cold.status, 200, "{}", cold.body);
    assert_eq!(cold.body, "ok");
    let first = cold.instance.clone().expect("answered by k2n-fn-server");
    assert_eq!(group_count(&nomad), 1, "Sablier scaled the group to 1");
    assert_eq!(
        path.sablier.actions(),
        [("hello/hello".to_string(), "scale to 1: 200 OK".to_string())]
    );
    assert_eq!(*runner.started.lock().unwrap(), 1);
    eprintln!(
        "cold start through the proxy (Sablier ready-after 2s, refresh 50ms, process start 100ms): {:.1} ms",
        cold.elapsed.as_secs_f64() * 1000.0
    );

    // Warm: the same instance, no new start.
    let warm = path.get(HOST, "/").await;
    assert_eq!(
        (warm.status, warm.instance.as_deref()),
        (200, Some(first.as_str()))
    );
    eprintln!(
        "warm request through the proxy: {:.1} ms",
        warm.elapsed.as_secs_f64() * 1000.0
    );

    // Idle: the session expires and Sablier scales the group back to 0; the process is gone.
    let allocs = get_json(format!("{}/v1/job/hello/allocations", nomad.address())).await;
    let alloc_id = allocs[0]["ID"].as_str().unwrap().to_string();
    let alloc = get_json(format!("{}/v1/allocation/{alloc_id}", nomad.address())).await;
    let port = alloc["AllocatedResources"]["Shared"]["Ports"][0]["Value"]
        .as_u64()
        .unwrap();
    eventually(Duration::from_secs(20), "scaled back to 0", || {
        group_count(&nomad) == 0
    })
    .await;
    assert!(!path.sablier.has_session("hello/hello"));
    let alloc = get_json(format!("{}/v1/allocation/{alloc_id}", nomad.address())).await;
    assert_eq!(alloc["DesiredStatus"], "stop");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port as u16))
            .await
            .is_err(),
        "the function process still listens"
    );

    // And the next request wakes it again, in a new process.
    let again = path.get(HOST, "/").await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_ne!(again.instance.as_deref(), Some(first.as_str()));
    assert_eq!(*runner.started.lock().unwrap(), 2);
}

/// What Sablier answers besides "ready", as its API does: a request naming both or neither of
/// `names` and `group` is refused, an unknown group is 404 with the groups it knows, and a group
/// that is not healthy before the timeout is 504 without the ready header (so the plugin passes
/// the error on instead of the request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sablier_refuses_bad_requests_and_times_out_without_a_ready_header() {
    let nomad = NomadDouble::start(DoubleConfig {
        runner: Arc::new(SimulatedRunner {
            healthy_after: Duration::from_secs(30),
            ..SimulatedRunner::default()
        }),
        ..DoubleConfig::default()
    })
    .await;
    let path = ActivationPath::start(&nomad.address(), "default").await;
    let dir = tempfile::tempdir().unwrap();
    // A request timeout of 1s bounds the middleware's wait (blocking.timeout).
    let timeout = "knative-defaults:\n  revision-timeout-seconds: 1\n";
    let out = convert_and_deploy(&nomad, &path, timeout, dir.path()).await;
    path.load_routes(&out.join("traefik"));
    path.sablier.scan().await.unwrap();
    let blocking = |query: &str| {
        let url = format!("{}/api/strategies/blocking?{query}", path.sablier.url());
        async move {
            let r = reqwest::get(url).await.unwrap();
            let ready = r.headers().contains_key("x-sablier-session-status");
            let status = r.status().as_u16();
            (status, ready, r.json::<Value>().await.unwrap())
        }
    };
    let (status, ready, body) = blocking("group=hello&names=hello/hello").await;
    assert_eq!((status, ready), (400, false), "{body}");
    let (status, _, body) = blocking("timeout=1s").await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = blocking("group=nobody").await;
    assert_eq!(status, 404);
    assert_eq!(body["availableGroups"], serde_json::json!(["hello"]));

    let started = Instant::now();
    let (status, ready, body) = blocking("group=hello&timeout=300ms&session_duration=1m").await;
    assert_eq!((status, ready), (504, false), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10), "watchdog");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("session was not ready after 300ms"),
        "{body}"
    );
    assert_eq!(group_count(&nomad), 1, "the start was sent");
    // Through the proxy, the plugin passes Sablier's 504 on after the route's 1s.
    let proxied = path.get(HOST, "/").await;
    assert_eq!(proxied.status, 504, "{}", proxied.body);
    assert!(
        proxied.body.contains("session was not ready after 1s"),
        "{}",
        proxied.body
    );
}

/// A cluster-local Service (converted in-process with the doubles' addresses, registered
/// through the API) answers on the internal entry point only: on the public one no router
/// matches and nothing is started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_local_service_wakes_on_the_internal_entry_point_only() {
    let runner = ProcessRunner::new(0);
    let nomad = NomadDouble::start(DoubleConfig {
        runner: Arc::new(runner.clone()),
        ..DoubleConfig::default()
    })
    .await;
    let path = ActivationPath::start(&nomad.address(), "default").await;
    let mut opts = ConvertOptions::default();
    path.configure(&mut opts);
    opts.serverless.ready_after = Duration::ZERO;
    let converted = batch::run(&["testdata/services/29-cluster-local.yaml".into()], &opts);
    let service = &converted.services[0];
    let registered = path.deploy_converted(&nomad.address(), service).await;
    assert!(registered.status().is_success());

    let host = "internal.default.example.com";
    let public = path.get(host, "/").await;
    assert_eq!(public.status, 404);
    assert!(path.sablier.actions().is_empty(), "nothing started");
    let internal = path.get_at(&path.traefik.internal_url(), host, "/").await;
    assert_eq!(internal.status, 200, "{}", internal.body);
    assert_eq!(*runner.started.lock().unwrap(), 1);
}
