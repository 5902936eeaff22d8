//! `knative2nomad deploy` against the Nomad API double (tests/integration/support/nomad_double.rs), mostly as
//! a user session: job files in a temporary directory, the real binary, NOMAD_ADDR pointing at
//! the double. No timing assertions: behaviour is checked by exit codes, output and the
//! double's request log.

use crate::support::TestPki;
use crate::support::binary;
use crate::support::nomad_double::{
    DoubleConfig, Fault, FaultKind, NomadDouble, SimulatedRunner, TokenPolicy,
};
use assert_cmd::Command;
use knative2nomad::nomad::client::{ConnectionSettings, NomadClient, QueryOptions, TokenSource};
use knative2nomad::nomad::model::Job;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The connection settings of the `nomad` CLI that the live test passes through from the
/// environment (NOMAD_ADDR first).
const NOMAD_VARS: [&str; 10] = [
    "NOMAD_ADDR",
    "NOMAD_TOKEN",
    "NOMAD_NAMESPACE",
    "NOMAD_REGION",
    "NOMAD_CACERT",
    "NOMAD_CLIENT_CERT",
    "NOMAD_CLIENT_KEY",
    "NOMAD_TLS_SERVER_NAME",
    "NOMAD_SKIP_VERIFY",
    "NOMAD_HTTP_AUTH",
];

fn job_json(id: &str) -> Value {
    json!({
        "ID": id, "Name": id, "Type": "service", "Datacenters": ["*"],
        "TaskGroups": [{"Name": "web", "Count": 2,
            "Networks": [{"DynamicPorts": [{"Label": "http", "To": 8080}]}],
            "Tasks": [{"Name": "app", "Driver": "docker",
                       "Config": {"image": "ghcr.io/example/app:1", "ports": ["http"]},
                       "Resources": {"CPU": 100, "MemoryMB": 64}}]}]
    })
}

/// Write each job as `{"Job": ...}` into its own file, as `convert --format json -o` does.
fn write_jobs(dir: &tempfile::TempDir, jobs: &[Value]) -> Vec<PathBuf> {
    jobs.iter()
        .map(|job| {
            let id = job["ID"].as_str().unwrap_or("job");
            let path = dir.path().join(format!("{id}.nomad.json"));
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&json!({"Job": job})).unwrap(),
            )
            .unwrap();
            path
        })
        .collect()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run `deploy` with a clean Nomad environment plus `env`, off the async runtime so the
/// double keeps serving.
async fn deploy(args: Vec<String>, env: Vec<(&'static str, String)>) -> Run {
    let mut command = binary::knative2nomad();
    command
        .arg("deploy")
        .args(["--retry-base-delay", "5ms"])
        .args(&args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = binary::output(command, Duration::from_secs(120)).await;
    Run {
        code: output.code.unwrap_or(-1),
        stdout: output.stdout,
        stderr: output.stderr,
    }
}

fn paths(files: &[PathBuf]) -> Vec<String> {
    files.iter().map(|p| p.display().to_string()).collect()
}

fn addr_env(double: &NomadDouble) -> Vec<(&'static str, String)> {
    vec![("NOMAD_ADDR", double.address())]
}

fn register_evals(double: &NomadDouble, id: &str) -> usize {
    // Every accepted register creates exactly one job-register evaluation.
    double
        .evaluations("default", id)
        .iter()
        .filter(|e| e["TriggeredBy"] == "job-register")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_a_job_to_a_successful_deployment_and_exits_0() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_jobs(&dir, &[job_json("web")]);

    let run = deploy(paths(&files), addr_env(&double)).await;

    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("[web] + Job: \"web\""),
        "plan diff shown:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("+ Task Group: \"web\" (2 create)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("web: 2/2 placed, 2 healthy, 0 unhealthy"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Deployment completed successfully"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("web  default"), "{}", run.stdout);
    assert!(run.stdout.contains("deployed"), "{}", run.stdout);
    let job = double.job("default", "web").unwrap();
    assert_eq!(job["Stable"], true);
    assert_eq!(job["Status"], "running");
    // Register used EnforceIndex with the plan's index (0: the job did not exist).
    let register = double
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/jobs")
        .unwrap();
    let body: Value = serde_json::from_str(&register.body).unwrap();
    assert_eq!(body["EnforceIndex"], true);
    assert_eq!(body["JobModifyIndex"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_updated_job_shows_a_diff_and_enforces_the_current_index() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_jobs(&dir, &[job_json("web")]);
    assert_eq!(deploy(paths(&files), addr_env(&double)).await.code, 0);
    let first_index = double.job("default", "web").unwrap()["JobModifyIndex"]
        .as_u64()
        .unwrap();

    let mut changed = job_json("web");
    changed["TaskGroups"][0]["Tasks"][0]["Config"]["image"] = json!("ghcr.io/example/app:2");
    let files = write_jobs(&dir, &[changed]);
    let run = deploy(paths(&files), addr_env(&double)).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("+/- image: \"ghcr.io/example/app:1\" => \"ghcr.io/example/app:2\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("(2 create/destroy update)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("Job Modify Index: {first_index}")),
        "{}",
        run.stderr
    );
    let register = double
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/v1/jobs")
        .unwrap();
    let body: Value = serde_json::from_str(&register.body).unwrap();
    assert_eq!(body["JobModifyIndex"], first_index);
    assert_eq!(double.job("default", "web").unwrap()["Version"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploying_the_same_job_again_changes_nothing_and_exits_0() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_jobs(&dir, &[job_json("web")]);
    assert_eq!(deploy(paths(&files), addr_env(&double)).await.code, 0);

    let again = deploy(paths(&files), addr_env(&double)).await;

    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("Task Group: \"web\" (2 ignore)"),
        "{}",
        again.stderr
    );
    assert!(
        again.stdout.contains("no deployment needed"),
        "{}",
        again.stdout
    );
    assert_eq!(
        double.job("default", "web").unwrap()["Version"],
        0,
        "no new version"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_periodic_job_is_registered_without_following() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut nightly = job_json("nightly");
    nightly["Type"] = json!("batch");
    nightly["Periodic"] = json!({"Enabled": true, "Spec": "@daily", "SpecType": "cron"});
    let files = write_jobs(&dir, &[nightly]);

    let run = deploy(paths(&files), addr_env(&double)).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("registered"), "{}", run.stdout);
    assert!(double.evaluations("default", "nightly").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_job_is_refused_with_the_clusters_own_errors() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut job = job_json("broken");
    job["TaskGroups"][0]["Tasks"][0]["Driver"] = json!("");
    job["TaskGroups"][0]["Tasks"][0]["Resources"]["MemoryMB"] = json!(5);
    let files = write_jobs(&dir, &[job]);

    let run = deploy(paths(&files), addr_env(&double)).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("Task group web validation failed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Missing task driver"), "{}", run.stderr);
    assert!(
        run.stderr.contains("minimum MemoryMB value is 10; got 5"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("failed"), "{}", run.stdout);
    assert_eq!(double.count("PUT", "/v1/jobs"), 0, "nothing registered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_denial_names_the_token_source_and_never_the_token() {
    let secret = "9f1c2d3e-4b5a-6789-abcd-ef0123456789";
    let config = DoubleConfig {
        acl: Some(HashMap::from([(
            secret.to_string(),
            TokenPolicy::read_only(),
        )])),
        ..DoubleConfig::default()
    };
    let double = NomadDouble::start(config).await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_jobs(&dir, &[job_json("web")]);

    let mut env = addr_env(&double);
    env.push(("NOMAD_TOKEN", secret.to_string()));
    let from_env = deploy(paths(&files), env).await;
    let mut flag_args = paths(&files);
    flag_args.extend(["--token".to_string(), secret.to_string()]);
    let from_flag = deploy(flag_args, addr_env(&double)).await;
    let anonymous = deploy(paths(&files), addr_env(&double)).await;

    assert_eq!(from_env.code, 1);
    assert!(
        from_env.stderr.contains("403 Permission denied"),
        "{}",
        from_env.stderr
    );
    assert!(
        from_env.stderr.contains("environment variable NOMAD_TOKEN"),
        "{}",
        from_env.stderr
    );
    assert_eq!(from_flag.code, 1);
    assert!(
        from_flag.stderr.contains("the token from --token"),
        "{}",
        from_flag.stderr
    );
    assert_eq!(anonymous.code, 1);
    assert!(
        anonymous.stderr.contains("no token was given"),
        "{}",
        anonymous.stderr
    );
    for run in [&from_env, &from_flag, &anonymous] {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    }
    // The token did reach the server, in the header.
    let sent: HashSet<String> = double
        .requests()
        .iter()
        .filter_map(|r| r.headers.get("x-nomad-token").cloned())
        .collect();
    assert_eq!(sent, HashSet::from([secret.to_string()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_absent_from_all_output_of_a_successful_deploy() {
    let secret = "0a1b2c3d-secret-token-value";
    let config = DoubleConfig {
        acl: Some(HashMap::from([(
            secret.to_string(),
            TokenPolicy::management(),
        )])),
        ..DoubleConfig::default()
    };
    let double = NomadDouble::start(config).await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_jobs(&dir, &[job_json("web")]);
    let mut env = addr_env(&double);
    env.push(("NOMAD_TOKEN", secret.to_string()));

    let run = deploy(paths(&files), env).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    let help = tokio::task::spawn_blocking(move || {
        let mut command = Command::cargo_bin("knative2nomad").unwrap();
        command
            .env("NOMAD_TOKEN", secret)
            .args(["deploy", "--help"]);
        String::from_utf8_lossy(&command.output().unwrap().stdout).into_owned()
    })
    .await
    .unwrap();
    assert!(help.contains("--token") && !help.contains(secret), "{help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_failure_exits_2() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut job = job_json("lost");
    job["Datacenters"] = json!(["mars"]);
    let files = write_jobs(&dir, &[job]);

    let run = deploy(paths(&files), addr_env(&double)).await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("Failed to place all allocations"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("waiting for additional capacity"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("placement failed"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deployment_exits_1() {
    let config = DoubleConfig {
        runner: Arc::new(SimulatedRunner {
            healthy_after: Duration::from_millis(20),
            unhealthy_jobs: HashSet::from(["crashy".to_string()]),
        }),
        ..DoubleConfig::default()
    };
    let double = NomadDouble::start(config).await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_jobs(&dir, &[job_json("crashy")]);

    let run = deploy(paths(&files), addr_env(&double)).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("Failed due to unhealthy allocations"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("deployment") && run.stdout.contains("failed"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_change_is_never_clobbered() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_jobs(&dir, &[job_json("web")]);
    assert_eq!(deploy(paths(&files), addr_env(&double)).await.code, 0);

    let mut mine = job_json("web");
    mine["TaskGroups"][0]["Count"] = json!(3);
    let files = write_jobs(&dir, &[mine]);
    double.inject(Fault::new(
        "PUT",
        "/v1/jobs",
        FaultKind::ConcurrentJobChange {
            namespace: "default".into(),
            job_id: "web".into(),
        },
        1,
    ));
    let run = deploy(paths(&files), addr_env(&double)).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("job exists with conflicting job modify index"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("someone else's change was kept"),
        "{}",
        run.stderr
    );
    let stored = double.job("default", "web").unwrap();
    assert_eq!(stored["Meta"]["changed-by"], "someone else");
    assert_eq!(
        stored["TaskGroups"][0]["Count"], 2,
        "our count was not written"
    );
    assert_eq!(
        double.count("PUT", "/v1/jobs"),
        2,
        "one register per run, no retry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaderless_500s_are_retried_and_the_job_registered_once() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    double.inject(Fault::no_leader("PUT", "/v1/validate/job", 2));
    double.inject(Fault::no_leader("PUT", "/v1/job/web/plan", 1));
    double.inject(Fault::no_leader("PUT", "/v1/jobs", 3));
    double.inject(Fault::new(
        "PUT",
        "/v1/jobs",
        FaultKind::Respond(429, "Too many requests".into()),
        1,
    ));
    let dir = tempfile::tempdir().unwrap();
    let files = write_jobs(&dir, &[job_json("web")]);

    let run = deploy(paths(&files), addr_env(&double)).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(double.count("PUT", "/v1/validate/job"), 3);
    assert_eq!(double.count("PUT", "/v1/job/web/plan"), 2);
    assert_eq!(double.count("PUT", "/v1/jobs"), 5, "4 refused + 1 accepted");
    assert_eq!(register_evals(&double, "web"), 1);
    assert_eq!(double.job("default", "web").unwrap()["Version"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_whose_answer_was_lost_is_read_back_not_repeated() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    double.inject(Fault::new(
        "PUT",
        "/v1/jobs",
        FaultKind::DropAfterHandling,
        1,
    ));
    let dir = tempfile::tempdir().unwrap();
    let files = write_jobs(&dir, &[job_json("web")]);

    let run = deploy(paths(&files), addr_env(&double)).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("reading the job back"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("first attempt had landed"),
        "{}",
        run.stderr
    );
    assert_eq!(
        double.count("PUT", "/v1/jobs"),
        1,
        "registered exactly once"
    );
    assert_eq!(double.count("GET", "/v1/job/web"), 1, "read back once");
    assert_eq!(double.job("default", "web").unwrap()["Version"], 0);
    assert!(
        run.stderr.contains("Deployment completed successfully"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_dropped_before_the_server_handled_it_is_sent_again_once() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    double.inject(Fault::new(
        "PUT",
        "/v1/jobs",
        FaultKind::DropBeforeHandling,
        1,
    ));
    let dir = tempfile::tempdir().unwrap();
    let files = write_jobs(&dir, &[job_json("web")]);

    let run = deploy(paths(&files), addr_env(&double)).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        double.count("PUT", "/v1/jobs"),
        2,
        "dropped one + one registration"
    );
    assert_eq!(register_evals(&double, "web"), 1);
    assert_eq!(double.job("default", "web").unwrap()["Version"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_retried_then_reported() {
    // A port that was free a moment ago: connection refused on every attempt.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let files = write_jobs(&dir, &[job_json("web")]);
    let mut args = paths(&files);
    args.extend(["--retry-attempts".into(), "3".into()]);

    let run = deploy(
        args,
        vec![("NOMAD_ADDR", format!("http://127.0.0.1:{port}"))],
    )
    .await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("validate"), "{}", run.stderr);
}

/// Requests one deploy makes, and how many of them were blocking (index + wait).
async fn requests_for_one_deploy(healthy_after: Duration) -> (usize, usize) {
    let config = DoubleConfig {
        runner: Arc::new(SimulatedRunner {
            healthy_after,
            unhealthy_jobs: HashSet::new(),
        }),
        ..DoubleConfig::default()
    };
    let double = NomadDouble::start(config).await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_jobs(&dir, &[job_json("web")]);
    let run = deploy(paths(&files), addr_env(&double)).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = double.requests();
    let blocking = requests
        .iter()
        .filter(|r| r.query.contains_key("index") && r.query.contains_key("wait"))
        .count();
    (requests.len(), blocking)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_uses_blocking_queries_so_requests_do_not_grow_with_the_wait() {
    let (quick, quick_blocking) = requests_for_one_deploy(Duration::from_millis(10)).await;
    let (slow, slow_blocking) = requests_for_one_deploy(Duration::from_millis(1500)).await;

    // validate + plan + register + eval (1–2) + deployment reads (one per change: 2 allocs
    // placed, each healthy) — a handful, whether the allocations take 10 ms or 1.5 s.
    assert!(quick <= 10 && slow <= 10, "quick {quick}, slow {slow}");
    assert!(
        slow <= quick + 2,
        "quick {quick}, slow {slow}: polling would grow with the wait"
    );
    assert!(slow_blocking >= 1 && quick_blocking <= slow_blocking + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_test_ca_and_client_certificates() {
    let pki = TestPki::generate(true);
    let config = DoubleConfig {
        tls: Some(pki.server_config.clone()),
        ..DoubleConfig::default()
    };
    let double = NomadDouble::start(config).await;
    assert!(double.address().starts_with("https://127.0.0.1:"));
    let dir = tempfile::tempdir().unwrap();
    let files = write_jobs(&dir, &[job_json("web")]);
    let tls_env = |with_client_cert: bool| {
        let mut env = addr_env(&double);
        env.push(("NOMAD_CACERT", pki.ca_cert.display().to_string()));
        if with_client_cert {
            env.push(("NOMAD_CLIENT_CERT", pki.client_cert.display().to_string()));
            env.push(("NOMAD_CLIENT_KEY", pki.client_key.display().to_string()));
        }
        env
    };

    let trusted = deploy(paths(&files), tls_env(true)).await;
    assert_eq!(trusted.code, 0, "{}", trusted.stderr);

    // Certificate failures are not transient: reported at once, not retried.
    let unknown_ca = deploy(paths(&files), addr_env(&double)).await;
    assert_eq!(
        unknown_ca.code, 1,
        "a server signed by an unknown CA is refused"
    );
    assert!(
        unknown_ca.stderr.contains("UnknownIssuer"),
        "{}",
        unknown_ca.stderr
    );
    let no_client_cert = deploy(paths(&files), tls_env(false)).await;
    assert_eq!(
        no_client_cert.code, 1,
        "the server requires a client certificate"
    );
    assert!(
        no_client_cert.stderr.contains("CertificateRequired"),
        "{}",
        no_client_cert.stderr
    );

    // NOMAD_SKIP_VERIFY: no CA given, certificate not checked (the client cert is still sent).
    let mut skip = addr_env(&double);
    skip.push(("NOMAD_SKIP_VERIFY", "true".into()));
    skip.push(("NOMAD_CLIENT_CERT", pki.client_cert.display().to_string()));
    skip.push(("NOMAD_CLIENT_KEY", pki.client_key.display().to_string()));
    let skipped = deploy(paths(&files), skip).await;
    assert_eq!(skipped.code, 0, "{}", skipped.stderr);

    // NOMAD_TLS_SERVER_NAME: verify the certificate as `localhost` while dialing 127.0.0.1.
    let mut named = tls_env(true);
    named.push(("NOMAD_TLS_SERVER_NAME", "localhost".into()));
    assert_eq!(deploy(paths(&files), named).await.code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_deploys_every_good_job_and_summarises() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut bad = job_json("bad");
    bad["TaskGroups"][0]["Tasks"] = json!([]);
    let files = write_jobs(&dir, &[job_json("alpha"), bad, job_json("gamma")]);
    let mut args = paths(&files);
    args.extend(["--parallel".into(), "2".into()]);

    let run = deploy(args, addr_env(&double)).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("JOB"), "{}", run.stdout);
    assert!(
        lines[1].starts_with("alpha") && lines[1].contains("deployed"),
        "{}",
        run.stdout
    );
    assert!(
        lines[2].starts_with("bad") && lines[2].contains("failed"),
        "{}",
        run.stdout
    );
    assert!(
        lines[2].contains("Missing tasks for task group"),
        "{}",
        run.stdout
    );
    assert!(
        lines[3].starts_with("gamma") && lines[3].contains("deployed"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("3 jobs, 2 deployed, 1 failed"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_skips_the_jobs_after_a_failure() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut bad = job_json("a-bad");
    bad["TaskGroups"][0]["Tasks"] = json!([]);
    let files = write_jobs(&dir, &[bad, job_json("b-good")]);
    let mut args = paths(&files);
    args.push("--fail-fast".into());

    let run = deploy(args, addr_env(&double)).await;

    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("skipped"), "{}", run.stdout);
    assert!(double.job("default", "b-good").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_registers_nothing_and_detach_does_not_follow() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_jobs(&dir, &[job_json("web")]);

    let mut plan_args = paths(&files);
    plan_args.push("--plan".into());
    let planned = deploy(plan_args, addr_env(&double)).await;
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    assert!(planned.stdout.contains("planned"), "{}", planned.stdout);
    assert_eq!(double.count("PUT", "/v1/jobs"), 0);

    let mut detach_args = paths(&files);
    detach_args.push("--detach".into());
    let detached = deploy(detach_args, addr_env(&double)).await;
    assert_eq!(detached.code, 0, "{}", detached.stderr);
    assert!(
        detached.stdout.contains("registered"),
        "{}",
        detached.stdout
    );
    assert_eq!(double.count("PUT", "/v1/jobs"), 1);
    assert_eq!(double.count_prefix("/v1/deployment/"), 0, "not followed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_flag_overrides_the_job_and_unknown_inputs_are_refused() {
    let config = DoubleConfig {
        namespaces: vec!["default".into(), "prod".into()],
        ..DoubleConfig::default()
    };
    let double = NomadDouble::start(config).await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_jobs(&dir, &[job_json("web")]);
    let mut args = paths(&files);
    args.extend(["--nomad-namespace".into(), "prod".into()]);
    let run = deploy(args, addr_env(&double)).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(double.job("prod", "web").is_some());
    assert!(double.job("default", "web").is_none());

    // HCL written by convert, and a Knative source converted in-process, deploy too.
    let hcl = dir.path().join("api.nomad.hcl");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_knative2nomad"))
        .args(["convert", "testdata/services/03-port.yaml", "-o"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(hcl.exists());
    let run = deploy(
        vec![
            hcl.display().to_string(),
            "testdata/services/15-resources.yaml".to_string(),
        ],
        addr_env(&double),
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(double.job("default", "api").is_some());
    assert!(double.job("default", "sized").is_some());

    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not a job\n").unwrap();
    let run = deploy(vec![notes.display().to_string()], addr_env(&double)).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("not Nomad API JSON"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_scoped_token_deploys_into_its_namespace_only() {
    let token = "prod-deployer-token";
    let policy = TokenPolicy {
        namespaces: vec!["prod".into()],
        write: true,
    };
    let config = DoubleConfig {
        acl: Some(HashMap::from([(token.to_string(), policy)])),
        namespaces: vec!["default".into(), "prod".into()],
        ..DoubleConfig::default()
    };
    let double = NomadDouble::start(config).await;
    let dir = tempfile::tempdir().unwrap();
    let mut in_prod = job_json("api");
    in_prod["Namespace"] = json!("prod");
    let files = write_jobs(&dir, &[in_prod, job_json("web")]);
    let mut env = addr_env(&double);
    env.push(("NOMAD_TOKEN", token.to_string()));

    let run = deploy(paths(&files), env).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[1].starts_with("api") && lines[1].contains("deployed"),
        "{}",
        run.stdout
    );
    assert!(
        lines[2].starts_with("web") && lines[2].contains("failed"),
        "{}",
        run.stdout
    );
    assert!(double.job("prod", "api").is_some());
    assert!(!run.stderr.contains(token) && !run.stdout.contains(token));
}

/// The double's endpoints the verifier relies on, through the library client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_supports_scaling_allocations_and_stop_for_the_verifier() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let settings = ConnectionSettings::plain(double.address());
    let client = NomadClient::new(settings).unwrap();
    let job: Job = serde_json::from_value(job_json("web")).unwrap();
    let registered = client.register_once(&job, Some(0)).await.unwrap();
    let eval_id = registered.value.eval_id;
    let mut eval = client
        .evaluation(&eval_id, QueryOptions::default())
        .await
        .unwrap();
    while !eval.value.is_terminal() {
        let options = QueryOptions {
            index: eval.index,
            wait: Some(Duration::from_secs(5)),
        };
        eval = client.evaluation(&eval_id, options).await.unwrap();
    }
    // Scaling is refused while the deployment runs, as Nomad does.
    let mut deployment = client
        .deployment(&eval.value.deployment_id, QueryOptions::default())
        .await
        .unwrap();
    if !deployment.value.is_terminal() {
        let blocked = client
            .scale("default", "web", "web", Some(1), "less")
            .await
            .unwrap_err();
        assert_eq!(
            blocked.body(),
            Some("job scaling blocked due to active deployment")
        );
    }
    while !deployment.value.is_terminal() {
        let options = QueryOptions {
            index: deployment.index,
            wait: Some(Duration::from_secs(5)),
        };
        deployment = client
            .deployment(&eval.value.deployment_id, options)
            .await
            .unwrap();
    }
    assert_eq!(deployment.value.status, "successful");
    let allocs = client
        .allocations("default", "web", QueryOptions::default())
        .await
        .unwrap();
    assert_eq!(allocs.value.len(), 2);
    let alloc = client.allocation(&allocs.value[0].id).await.unwrap();
    assert!(
        alloc.value["AllocatedResources"]["Shared"]["Ports"][0]["Value"]
            .as_u64()
            .is_some()
    );

    let err = client
        .scale("default", "web", "nope", Some(1), "x")
        .await
        .unwrap_err();
    assert_eq!(
        err.body(),
        Some("task group \"nope\" specified for scaling does not exist in job")
    );
    let err = client
        .scale("default", "web", "web", Some(-1), "x")
        .await
        .unwrap_err();
    assert_eq!(err.body(), Some("scaling action count can't be negative"));
    let scaled = client
        .scale("default", "web", "web", Some(0), "to zero")
        .await
        .unwrap();
    assert!(!scaled.value.eval_id.is_empty());
    // Blocking allocation query: wait until both allocations are stopped.
    let mut allocs = client
        .allocations("default", "web", QueryOptions::default())
        .await
        .unwrap();
    while allocs.value.iter().any(|a| a.desired_status == "run") {
        let options = QueryOptions {
            index: allocs.index,
            wait: Some(Duration::from_secs(5)),
        };
        allocs = client.allocations("default", "web", options).await.unwrap();
    }
    let status = client.scale_status("default", "web").await.unwrap();
    assert_eq!(status.value.task_groups["web"].desired, 0);
    assert_eq!(
        status.value.task_groups["web"].events[0]["Message"],
        "to zero"
    );

    let stopped = client.deregister("default", "web", false).await.unwrap();
    assert!(!stopped.value.eval_id.is_empty());
    assert_eq!(double.job("default", "web").unwrap()["Status"], "dead");
    let unknown = client.deregister("default", "nope", true).await.unwrap();
    assert_eq!(
        unknown.value.eval_id, "",
        "unknown job: 200 with an empty EvalID"
    );
    let missing = client.job("default", "nope").await.unwrap_err();
    assert_eq!(
        (missing.status(), missing.body()),
        (Some(404), Some("job not found"))
    );
}

/// Live test against a real Nomad agent: runs only when NOMAD_ADDR is set (and a docker-capable
/// client exists). Deploys a tiny job, then purges it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_deploy_against_a_real_agent() {
    let Ok(address) = std::env::var("NOMAD_ADDR") else {
        eprintln!("skipped: NOMAD_ADDR is not set");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let id = format!("k2n-live-{}", std::process::id());
    let mut job = job_json(&id);
    job["TaskGroups"][0]["Count"] = json!(1);
    job["TaskGroups"][0]["Tasks"][0]["Config"] = json!({"image": "busybox:1.36",
        "command": "httpd", "args": ["-f", "-p", "8080"], "ports": ["http"]});
    let files = write_jobs(&dir, &[job]);
    let mut env: Vec<(&'static str, String)> = vec![("NOMAD_ADDR", address)];
    for var in NOMAD_VARS.iter().skip(1) {
        if let Ok(value) = std::env::var(var) {
            env.push((var, value));
        }
    }
    let run = deploy(paths(&files), env.clone()).await;
    let token = std::env::var("NOMAD_TOKEN").unwrap_or_default();
    assert!(token.is_empty() || !run.stderr.contains(&token));
    let settings = ConnectionSettings {
        token: std::env::var("NOMAD_TOKEN")
            .ok()
            .map(knative2nomad::nomad::client::Secret::new),
        token_source: TokenSource::Environment,
        namespace: std::env::var("NOMAD_NAMESPACE").ok(),
        region: std::env::var("NOMAD_REGION").ok(),
        ca_cert: std::env::var("NOMAD_CACERT").ok().map(PathBuf::from),
        client_cert: std::env::var("NOMAD_CLIENT_CERT").ok().map(PathBuf::from),
        client_key: std::env::var("NOMAD_CLIENT_KEY").ok().map(PathBuf::from),
        tls_server_name: std::env::var("NOMAD_TLS_SERVER_NAME").ok(),
        tls_skip_verify: std::env::var("NOMAD_SKIP_VERIFY").is_ok_and(|v| v == "1" || v == "true"),
        ..ConnectionSettings::plain(env[0].1.clone())
    };
    let client = NomadClient::new(settings).unwrap();
    let namespace = client.namespace_for(None);
    let _ = client.deregister(&namespace, &id, true).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// The double's HTTP dialect: headers, plain-text errors and their exact codes and words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_speaks_nomads_http_dialect() {
    knative2nomad::crypto::install_crypto_provider();
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", double.address());

    let missing = http.get(url("/v1/job/nope")).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert!(missing.headers().contains_key("x-nomad-index"));
    assert_eq!(missing.headers()["x-nomad-knownleader"], "true");
    assert!(missing.headers().contains_key("x-nomad-lastcontact"));
    assert_eq!(missing.text().await.unwrap(), "job not found");

    let bad_index = http
        .get(url("/v1/job/web/allocations?index=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_index.status().as_u16(), 400);
    assert_eq!(bad_index.text().await.unwrap(), "Invalid index");
    let bad_wait = http
        .get(url("/v1/job/web/allocations?index=1&wait=soon"))
        .send()
        .await;
    assert_eq!(bad_wait.unwrap().text().await.unwrap(), "Invalid wait time");
    let unknown_job_allocs = http
        .get(url("/v1/job/nope/allocations"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_job_allocs.text().await.unwrap(), "[]");
    let no_deployment = http
        .get(url("/v1/job/nope/deployment"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_deployment.text().await.unwrap(), "null");

    let empty = http.put(url("/v1/jobs")).send().await.unwrap();
    assert_eq!(
        (empty.status().as_u16(), empty.text().await.unwrap()),
        (400, "Request body is empty".to_string())
    );
    let no_job = http.put(url("/v1/jobs")).body("{}").send().await.unwrap();
    assert_eq!(no_job.text().await.unwrap(), "Job must be specified");
    let no_id = http
        .put(url("/v1/jobs"))
        .body(r#"{"Job": {"Name": "x"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(no_id.text().await.unwrap(), "Job ID hasn't been provided");
    let invalid = http
        .put(url("/v1/jobs"))
        .body(r#"{"Job": {"ID": "x", "TaskGroups": []}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status().as_u16(), 500);
    assert_eq!(
        invalid.text().await.unwrap(),
        "1 error occurred:\n\t* Missing job task groups\n\n"
    );
    let validate = http
        .put(url("/v1/validate/job"))
        .body(r#"{"Job": {"ID": "x", "TaskGroups": []}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(validate.status().as_u16(), 200);
    let body: Value = validate.json().await.unwrap();
    assert_eq!(body["ValidationErrors"], json!(["Missing job task groups"]));
    let wrong_method = http.get(url("/v1/validate/job")).send().await.unwrap();
    assert_eq!(wrong_method.status().as_u16(), 405);
    assert_eq!(double.count("PUT", "/v1/jobs"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_also_asks_the_cluster_when_an_address_is_given() {
    let token = "validator-token";
    let config = DoubleConfig {
        acl: Some(HashMap::from([(
            token.to_string(),
            TokenPolicy {
                namespaces: vec!["default".into()],
                write: false,
            },
        )])),
        ..DoubleConfig::default()
    };
    let double = NomadDouble::start(config).await;
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_knative2nomad"))
        .args(["convert", "testdata/services/03-port.yaml", "-o"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let job = dir.path().join("api.nomad.hcl");
    let address = double.address();
    let run = |token: Option<&'static str>| {
        let job = job.clone();
        let address = address.clone();
        tokio::task::spawn_blocking(move || {
            let mut command = binary::knative2nomad();
            command.arg("validate").arg(&job).env("NOMAD_ADDR", address);
            if let Some(t) = token {
                command.env("NOMAD_TOKEN", t);
            }
            command.output().unwrap()
        })
    };
    let ok = run(Some(token)).await.unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(double.count("PUT", "/v1/validate/job"), 1);

    let denied = run(None).await.unwrap();
    assert_eq!(denied.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.contains("cluster validation failed") && stderr.contains("Permission denied"),
        "{stderr}"
    );
    assert!(!stderr.contains(token));
}
