//! `knative2nomad verify` against jobs exactly as `convert` writes them, deployed to the Nomad
//! double with a real `k2n-fn-server` per allocation behind a Traefik stand-in: cold starts that
//! Nomad accepts (stop and run when `scaling { min }` forbids 0), the job left as it was found on
//! every exit — normal, error, SIGTERM — and the request-driven mode through the scale-to-zero
//! doubles (Sablier and Traefik, support/activation.rs) with a job converted for Sablier.
//! Assertions are on what was sent to Nomad, the job's state and the report, never on durations.

use crate::support::activation::ActivationPath;
use crate::support::nomad_double::{DoubleConfig, Fault, FaultKind, NomadDouble};
use crate::support::nomad_router::Router;
use crate::support::verify_fixtures::{Activator, ProcessRunner, plain_job, register, run_cli};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The job `convert --format json --scale-to-zero none` writes for `file` (the `{"Job": …}`
/// register body): a Service that scales to zero in Knative keeps one instance, `scaling { min
/// = 1 }` (the default, Sablier, is tested at the end).
fn converted(file: &std::path::Path) -> Value {
    let out = assert_cmd::Command::cargo_bin("knative2nomad")
        .unwrap()
        .args(["convert", "--format", "json", "--scale-to-zero", "none"])
        .arg(file)
        .env_remove("K2N_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn minimal_service() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/services/01-minimal.yaml")
}

struct Cluster {
    double: NomadDouble,
    runner: ProcessRunner,
}

async fn cluster(runner: ProcessRunner) -> Cluster {
    let double = NomadDouble::start(DoubleConfig {
        runner: Arc::new(runner.clone()),
        eval_delay: Duration::from_millis(2),
        ..DoubleConfig::default()
    })
    .await;
    Cluster { double, runner }
}

impl Cluster {
    async fn register(&self, body: &Value) {
        register(&self.double, body).await;
    }

    /// Wait (at most 30 s) until the group has `n` healthy allocations.
    async fn wait_running(&self, job: &str, n: usize) {
        let ports = self.double.service_ports("default", job, job, "http");
        wait_for(&format!("{n} running allocation(s) of {job}"), || {
            ports().len() == n
        })
        .await;
    }

    fn job(&self, id: &str) -> Value {
        self.double.job("default", id).unwrap()
    }

    /// Scale request bodies sent to a job, in order.
    fn scale_requests(&self, id: &str) -> Vec<Value> {
        self.double
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == format!("/v1/job/{id}/scale"))
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect()
    }
}

async fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The user's part of a stored job: what must be the same after the run.
fn spec(job: &Value) -> Value {
    let mut spec = job.clone();
    for server_field in [
        "Version",
        "ModifyIndex",
        "JobModifyIndex",
        "SubmitTime",
        "Status",
        "StatusDescription",
        "Stable",
    ] {
        spec.as_object_mut().unwrap().remove(server_field);
    }
    spec
}

/// The verify arguments every test shares.
fn verify_args(knative_url: &str, nomad_url: &str, job: &str, address: &str) -> Vec<String> {
    [
        "verify",
        "--knative-url",
        knative_url,
        "--nomad-url",
        nomad_url,
        "--nomad-job",
        job,
        "--address",
        address,
        "--knative-idle-wait",
        "400ms",
        "--instance-header",
        "x-k2n-instance",
        "--expect-body",
        "ok",
        "--cold-timeout",
        "30s",
        "--scale-timeout",
        "30s",
        "--retry-base-delay",
        "10ms",
        "--warm-duration",
        "0s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Run verify to its end, without kube access; (exit code, stdout, stderr).
async fn run(args: Vec<String>) -> (i32, String, String) {
    run_cli(args, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converted_job_with_min_1_is_stopped_and_run_again_never_scaled_below_min() {
    let c = cluster(ProcessRunner::new(60)).await;
    let body = converted(&minimal_service());
    assert_eq!(body["Job"]["TaskGroups"][0]["Scaling"]["Min"], 1);
    c.register(&body).await;
    c.wait_running("hello", 1).await;
    let router = Router::start(c.double.service_ports("default", "hello", "hello", "http")).await;
    let activator = Activator::start(60, Duration::from_millis(150)).await;
    let before = c.job("hello");
    let dir = tempfile::tempdir().unwrap();
    let mut args = verify_args(
        &activator.url(),
        &router.url(),
        "hello",
        &c.double.address(),
    );
    args.extend(
        [
            "--cold-starts",
            "5",
            "--tolerance",
            "1.0",
            "--report-dir",
            dir.path().to_str().unwrap(),
        ]
        .map(String::from),
    );
    let (code, stdout, stderr) = run(args).await;
    // A verdict (0, 1 or 3), not "could not measure" (4): which one depends on the machine.
    assert!(
        [0, 1, 3].contains(&code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("scaling { min = 1, max = 10 }") && stderr.contains("stops the job"),
        "{stderr}"
    );
    // Nomad never got a scale request, and each cold start was one stop and one register.
    assert!(c.scale_requests("hello").is_empty());
    assert_eq!(c.double.count("DELETE", "/v1/job/hello"), 5);
    assert_eq!(c.double.count("PUT", "/v1/jobs"), 1 + 5);
    // The job is as it was: same spec, count and scaling policy; only the version moved on.
    let after = c.job("hello");
    assert_eq!(spec(&after), spec(&before));
    assert_eq!(after["Stop"], false);
    assert_eq!(after["TaskGroups"][0]["Scaling"]["Enabled"], true);
    assert!(after["Version"].as_u64() > before["Version"].as_u64());
    assert!(
        stderr.contains("restored hello group hello to count 1"),
        "{stderr}"
    );
    c.wait_running("hello", 1).await;

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("verify.json")).unwrap())
            .unwrap();
    assert_eq!(report["settings"]["nomad_cold_start"], "stop-and-run");
    let nomad: Vec<&Value> = report["cold_samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["platform"] == "nomad")
        .collect();
    assert_eq!(nomad.len(), 5);
    for s in &nomad {
        assert_eq!(
            (s["valid"].as_bool(), s["evidence"].as_str()),
            (Some(true), Some("nomad-api")),
            "{s}"
        );
        assert_eq!(s["timing"], "poll");
    }
    // The measurement's resolution is stated for the polled side; Knative's request is held.
    let timing = report["cold_timing"].as_array().unwrap();
    let of = |p: &str| timing.iter().find(|t| t["platform"] == p).unwrap();
    assert_eq!(of("knative")["method"], "held");
    assert!(of("knative")["resolution_max_ms"].is_null());
    assert_eq!(of("nomad")["method"], "poll");
    assert!(of("nomad")["resolution_max_ms"].is_number(), "{report:#}");
    assert!(stdout.contains("cold-start timing nomad: poll"), "{stdout}");
    assert!(c.runner.started.lock().unwrap().to_owned() >= 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_at_count_2_is_put_back_at_2_by_either_method() {
    // Converted with min-scale 2: count 2, scaling { min = 2 }, so stop and run.
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("two.yaml");
    std::fs::write(
        &yaml,
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: two\nspec:\n  \
         template:\n    metadata:\n      annotations:\n        autoscaling.knative.dev/min-scale: \"2\"\n    \
         spec:\n      containers:\n        - image: ghcr.io/example/two:1\n",
    )
    .unwrap();
    let c = cluster(ProcessRunner::new(30)).await;
    let body = converted(&yaml);
    assert_eq!(body["Job"]["TaskGroups"][0]["Count"], 2);
    c.register(&body).await;
    c.wait_running("two", 2).await;
    let router = Router::start(c.double.service_ports("default", "two", "two", "http")).await;
    let activator = Activator::start(30, Duration::from_millis(150)).await;
    let mut args = verify_args(&activator.url(), &router.url(), "two", &c.double.address());
    args.extend(["--cold-starts", "3", "--tolerance", "1.0"].map(String::from));
    let (code, stdout, stderr) = run(args).await;
    assert!(
        [0, 1, 3].contains(&code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("restored two group two to count 2"),
        "{stderr}"
    );
    assert_eq!(c.job("two")["TaskGroups"][0]["Count"], 2);
    c.wait_running("two", 2).await;

    // No scaling block: scaled to 0 and 1, then back to 2 (the group was never scaled before,
    // so Nomad's scale status had `"Events": null` for it).
    c.register(&plain_job("fn", 2, None)).await;
    c.wait_running("fn", 2).await;
    let router = Router::start(c.double.service_ports("default", "fn", "fn", "http")).await;
    let mut args = verify_args(&activator.url(), &router.url(), "fn", &c.double.address());
    args.extend(["--cold-starts", "3", "--tolerance", "1.0"].map(String::from));
    let (code, stdout, stderr) = run(args).await;
    assert!(
        [0, 1, 3].contains(&code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("restored fn group fn to count 2"),
        "{stderr}"
    );
    assert_eq!(c.job("fn")["TaskGroups"][0]["Count"], 2);
    let counts: Vec<Value> = c
        .scale_requests("fn")
        .iter()
        .map(|b| b["Count"].clone())
        .collect();
    assert_eq!(counts.last(), Some(&json!(2)), "{counts:?}");
    assert!(
        counts
            .iter()
            .all(|n| [0, 1, 2].contains(&n.as_i64().unwrap()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_nomad_refuses_is_not_retried_and_names_the_policy() {
    let c = cluster(ProcessRunner::new(10)).await;
    let scaling = json!({"Min": 0, "Max": 3, "Enabled": true});
    c.register(&plain_job("fn", 1, Some(scaling))).await;
    c.wait_running("fn", 1).await;
    let router = Router::start(c.double.service_ports("default", "fn", "fn", "http")).await;
    // As if the policy's minimum had been raised to 1 after the verifier read it.
    c.double.inject(Fault::new(
        "POST",
        "/v1/job/fn/scale",
        FaultKind::Respond(
            400,
            "group count was less than scaling policy minimum: 0 < 1".into(),
        ),
        1,
    ));
    let activator = Activator::start(10, Duration::from_millis(150)).await;
    let mut args = verify_args(&activator.url(), &router.url(), "fn", &c.double.address());
    args.extend(["--cold-starts", "5"].map(String::from));
    let (code, stdout, stderr) = run(args).await;
    assert_eq!(code, 4, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("scaling { min = 0, max = 3 }"), "{stderr}");
    assert!(stderr.contains("Not retried"), "{stderr}");
    // One scale request: the refused one. The group never left count 1, so nothing to undo.
    assert_eq!(c.scale_requests("fn").len(), 1);
    assert!(
        stderr.contains("restored fn group fn to count 1"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_that_cannot_happen_is_an_error_not_silence() {
    let c = cluster(ProcessRunner::new(10)).await;
    c.register(&converted(&minimal_service())).await;
    c.wait_running("hello", 1).await;
    let router = Router::start(c.double.service_ports("default", "hello", "hello", "http")).await;
    // Someone else changes the job just before the verifier registers it again.
    c.double.inject(Fault::new(
        "PUT",
        "/v1/jobs",
        FaultKind::ConcurrentJobChange {
            namespace: "default".into(),
            job_id: "hello".into(),
        },
        1,
    ));
    let activator = Activator::start(10, Duration::from_millis(150)).await;
    let mut args = verify_args(
        &activator.url(),
        &router.url(),
        "hello",
        &c.double.address(),
    );
    args.extend(["--cold-starts", "5"].map(String::from));
    let (code, stdout, stderr) = run(args).await;
    assert_eq!(code, 4, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("error: could not restore job hello group hello to count 1"),
        "{stderr}"
    );
    assert!(stderr.contains("changed"), "{stderr}");
    // Their change stands: not overwritten, and the run stopped at the first conflict.
    assert_eq!(c.job("hello")["Meta"]["changed-by"], "someone else");
    assert_eq!(c.double.count("DELETE", "/v1/job/hello"), 1);
}

/// Start verify as a child process, wait until `at_zero` holds for the double, send SIGTERM.
async fn sigterm_when(args: Vec<String>, at_zero: impl Fn() -> bool) -> (i32, String) {
    use std::io::Read;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("knative2nomad"))
        .args(&args)
        .env_remove("KUBECONFIG")
        .env_remove("NOMAD_TOKEN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the group to be at zero", &at_zero).await;
    // SAFETY: kill(2) with a child's pid and a signal number has no memory effects.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0);
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut stderr = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                return (status.code().unwrap_or(-1), stderr);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("verify did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_a_converted_job_is_stopped_runs_it_again() {
    // Stopped allocations keep serving 1.5 s (a shutdown delay): the window for the signal.
    let c = cluster(ProcessRunner::new(10).with_stop_delay(Duration::from_millis(1500))).await;
    c.register(&converted(&minimal_service())).await;
    c.wait_running("hello", 1).await;
    let before = c.job("hello");
    let router = Router::start(c.double.service_ports("default", "hello", "hello", "http")).await;
    let activator = Activator::start(10, Duration::from_millis(150)).await;
    let mut args = verify_args(
        &activator.url(),
        &router.url(),
        "hello",
        &c.double.address(),
    );
    args.extend(["--cold-starts", "20"].map(String::from));
    let double = &c.double;
    let (code, stderr) = sigterm_when(args, || {
        double
            .job("default", "hello")
            .is_some_and(|j| j["Stop"] == true)
    })
    .await;
    assert_eq!(code, 143, "{stderr}");
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
    assert!(
        stderr.contains("restored hello group hello to count 1"),
        "{stderr}"
    );
    let after = c.job("hello");
    assert_eq!(after["Stop"], false);
    assert_eq!(spec(&after), spec(&before));
    c.wait_running("hello", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_a_group_is_scaled_to_zero_scales_it_back() {
    let c = cluster(ProcessRunner::new(10).with_stop_delay(Duration::from_millis(1500))).await;
    c.register(&plain_job("fn", 2, None)).await;
    c.wait_running("fn", 2).await;
    let router = Router::start(c.double.service_ports("default", "fn", "fn", "http")).await;
    let activator = Activator::start(10, Duration::from_millis(150)).await;
    let mut args = verify_args(&activator.url(), &router.url(), "fn", &c.double.address());
    args.extend(["--cold-starts", "20"].map(String::from));
    let double = &c.double;
    let (code, stderr) = sigterm_when(args, || {
        double
            .job("default", "fn")
            .is_some_and(|j| j["TaskGroups"][0]["Count"] == 0)
    })
    .await;
    assert_eq!(code, 143, "{stderr}");
    assert!(
        stderr.contains("restored fn group fn to count 2"),
        "{stderr}"
    );
    assert_eq!(c.job("fn")["TaskGroups"][0]["Count"], 2);
    c.wait_running("fn", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_driven_cold_starts_need_a_group_allowed_at_zero() {
    let c = cluster(ProcessRunner::new(10)).await;
    c.register(&converted(&minimal_service())).await;
    let mut args = verify_args(
        "http://127.0.0.1:1/",
        "http://127.0.0.1:1/",
        "hello",
        &c.double.address(),
    );
    args.extend(["--nomad-cold-start", "request", "--cold-starts", "3"].map(String::from));
    let (code, _, stderr) = run(args).await;
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("scaling { min = 1, max = 10 } forbids"),
        "{stderr}"
    );
    assert!(c.scale_requests("hello").is_empty());
    assert_eq!(c.double.count("DELETE", "/v1/job/hello"), 0);
}

/// Converts testdata's minimal Service with the scale-to-zero default (Sablier: count 0,
/// `scaling { min = 0 }`), its routes pointed at `path`'s doubles, short idle settings (a
/// session of 1 s) and Sablier's ready-after at 100 ms; registers it and loads its route.
async fn converted_with_sablier(c: &Cluster, path: &ActivationPath, dir: &std::path::Path) {
    let config = dir.join("k2n.yaml");
    std::fs::write(
        &config,
        format!(
            "{}  ready-after: 100ms\nknative-defaults:\n  stable-window: 1s\n  scale-to-zero-grace-period: 0s\n",
            path.settings_yaml()
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let convert = |extra: &[&str]| {
        let out = assert_cmd::Command::cargo_bin("knative2nomad")
            .unwrap()
            .arg("convert")
            .args(extra)
            .arg("--config")
            .arg(&config)
            .arg(minimal_service())
            .env_remove("K2N_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    convert(&["-o", out.to_str().unwrap()]);
    let body: Value = serde_json::from_slice(&convert(&["--format", "json"])).unwrap();
    assert_eq!(body["Job"]["TaskGroups"][0]["Count"], 0);
    assert_eq!(body["Job"]["TaskGroups"][0]["Scaling"]["Min"], 0);
    c.register(&body).await;
    path.load_routes(&out.join("traefik"));
    path.sablier.scan().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_driven_cold_starts_through_sablier_wait_for_it_to_scale_down() {
    let c = cluster(ProcessRunner::new(40)).await;
    let path = ActivationPath::start(&c.double.address(), "default").await;
    let dir = tempfile::tempdir().unwrap();
    converted_with_sablier(&c, &path, dir.path()).await;
    let activator = Activator::start(40, Duration::from_millis(150)).await;
    let reports = dir.path().join("r");
    let mut args = verify_args(&activator.url(), &path.url(), "hello", &c.double.address());
    args.extend(
        [
            "--nomad-host",
            "hello.default.example.com",
            "--nomad-cold-start",
            "request",
            "--cold-starts",
            "3",
            "--tolerance",
            "1.0",
            "--report-dir",
            reports.to_str().unwrap(),
        ]
        .map(String::from),
    );
    let (code, stdout, stderr) = run(args).await;
    assert!(
        [0, 1, 3].contains(&code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("verify.json")).unwrap())
            .unwrap();
    assert_eq!(report["settings"]["nomad_cold_start"], "request");
    let nomad: Vec<&Value> = report["cold_samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["platform"] == "nomad")
        .collect();
    assert_eq!(nomad.len(), 3);
    for s in &nomad {
        // One held request each, through Traefik and Sablier, served by an allocation the API
        // had not shown before.
        assert_eq!(s["valid"], true, "{s}");
        assert_eq!(s["evidence"], "nomad-api");
        assert_eq!(
            (s["timing"].as_str(), s["attempts"].as_u64()),
            (Some("held"), Some(1))
        );
    }
    // Sablier started the group each time and scaled it down when its session ended; the
    // verifier wrote nothing to Nomad.
    let actions = path.sablier.actions();
    let starts = actions
        .iter()
        .filter(|(_, a)| a.starts_with("scale to 1"))
        .count();
    assert_eq!(starts, 3, "{actions:?}");
    assert!(
        c.scale_requests("hello").iter().all(|b| !b["Message"]
            .as_str()
            .unwrap_or("")
            .starts_with("knative2nomad verify")),
        "{:?}",
        c.scale_requests("hello")
    );
    assert!(
        stderr.contains("job hello group hello was not changed (count 0)"),
        "{stderr}"
    );
}
