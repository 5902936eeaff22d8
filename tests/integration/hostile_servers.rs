//! Servers that misbehave on purpose, each on loopback, against the real binary: a Nomad address
//! that redirects to another host, one that echoes the request's headers (token included) into
//! what it answers, Nomad and Kubernetes addresses that accept a connection and never answer,
//! a Kubernetes API that echoes the bearer token, a register whose answer is lost, and Ctrl-C
//! (or SIGTERM) while `deploy` follows a deployment. Each test asserts the promise (no token
//! anywhere, nothing sent elsewhere, an exit instead of a hang) and bounds every child process
//! with a watchdog instead of timing it.

use crate::support::binary;
use crate::support::nomad_double::{DoubleConfig, Fault, FaultKind, NomadDouble, SimulatedRunner};
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A token shaped like Nomad's (a UUID) that must never be printed.
const TOKEN: &str = "5f0c1d2e-7a8b-4c9d-8e1f-2a3b4c5d6e7f";
/// Longest any child process may run before the test counts it as hung.
const WATCHDOG: Duration = Duration::from_secs(90);

/// What a loopback server answers to one request (its head and body as text): bytes to send,
/// or `None` to say nothing and hold the connection open.
type Answer = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A raw HTTP/1.1 server on 127.0.0.1 that records every request it reads.
struct Loopback {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Loopback {
    async fn start(answer: Answer) -> Loopback {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, answer.clone(), log.clone()));
            }
        });
        Loopback { addr, seen, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(mut stream: TcpStream, answer: Answer, log: Arc<Mutex<Vec<String>>>) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        log.lock().unwrap().push(request.clone());
        match answer(&request) {
            Some(response) => {
                if stream.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
            None => {
                // Silent: keep the connection open and never answer.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
        }
    }
}

async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<String> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                let request = String::from_utf8_lossy(&buffer[..end + 4 + length]).into_owned();
                buffer.drain(..end + 4 + length);
                return Some(request);
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

fn http(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The request's header lines, as a server that echoes them would put them in its answer.
fn headers_of(request: &str) -> String {
    request
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .lines()
        .skip(1)
        .collect::<Vec<_>>()
        .join("\n")
}

fn job_file(dir: &Path, id: &str) -> PathBuf {
    let job = json!({"Job": {
        "ID": id, "Name": id, "Type": "service", "Datacenters": ["*"],
        "TaskGroups": [{"Name": "web", "Count": 1,
            "Tasks": [{"Name": "app", "Driver": "docker",
                       "Config": {"image": "ghcr.io/example/app:1"},
                       "Resources": {"CPU": 100, "MemoryMB": 64}}]}]
    }});
    let path = dir.join(format!("{id}.nomad.json"));
    std::fs::write(&path, job.to_string()).unwrap();
    path
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs the binary off the async runtime (so the servers keep serving) with no Nomad or
/// Kubernetes variables from the environment, killed by the watchdog if it outlives it (the
/// exit code is then `None`).
async fn run(args: Vec<String>) -> Run {
    let mut command = binary::knative2nomad();
    command.args(&args);
    let output = binary::output(command, WATCHDOG).await;
    Run {
        code: output.code,
        stdout: output.stdout,
        stderr: output.stderr,
    }
}

/// Item 4: a Nomad address that answers 307 to another host never gets the token sent there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_host_is_reported_and_not_followed() {
    let elsewhere = Loopback::start(Arc::new(|_: &str| {
        Some(http("200 OK", "application/json", "{}"))
    }))
    .await;
    let location = format!("{}/v1/validate/job?namespace=default", elsewhere.url());
    let redirecting = Loopback::start(Arc::new(move |_: &str| {
        Some(format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
        ))
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(dir.path(), "web");

    let run = run(vec![
        "deploy".into(),
        job.display().to_string(),
        "--address".into(),
        redirecting.url(),
        "--token".into(),
        TOKEN.into(),
    ])
    .await;

    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        elsewhere.requests().is_empty(),
        "the other host was contacted: {:?}",
        elsewhere.requests()
    );
    assert_eq!(redirecting.requests().len(), 1, "a redirect is not retried");
    assert!(
        run.stderr.contains("307")
            && run.stderr.contains("redirects are not followed")
            && run.stderr.contains(&elsewhere.addr.to_string()),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains(TOKEN));
}

/// Item 5: a server that echoes the request's headers — into a successful answer's text and
/// into an error body — never gets the token printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_echoing_the_token_never_gets_it_printed() {
    let echo = Loopback::start(Arc::new(|request: &str| {
        let headers = headers_of(request);
        if request.starts_with("PUT /v1/validate/job") {
            let body = json!({"Warnings": format!("you sent:\n{headers}"), "Error": ""});
            Some(http("200 OK", "application/json", &body.to_string()))
        } else {
            let body = format!("rpc error: request with headers {headers} failed");
            Some(http(
                "500 Internal Server Error",
                "text/plain; charset=utf-8",
                &body,
            ))
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(dir.path(), "web");

    let run = run(vec![
        "deploy".into(),
        job.display().to_string(),
        "--address".into(),
        echo.url(),
        "--token".into(),
        TOKEN.into(),
    ])
    .await;

    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let requests = echo.requests();
    assert!(
        requests.iter().all(|r| r.contains(TOKEN)),
        "the token was sent: {requests:?}"
    );
    assert!(
        run.stderr.contains("<redacted>") && run.stderr.contains("you sent"),
        "the echo should be shown, redacted: {}",
        run.stderr
    );
    assert!(!run.all().contains(TOKEN), "{}", run.all());
}

/// A `user:password@` address is sent as `Authorization: Basic base64(user:password)`; a server
/// echoing that header must not get the password printed in either form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_echoing_basic_auth_never_gets_it_printed() {
    // base64("ops:p@ss word") as RFC 7617 writes it.
    const HEADER_VALUE: &str = "b3BzOnBAc3Mgd29yZA==";
    let echo = Loopback::start(Arc::new(|request: &str| {
        let body = format!(
            "rpc error: request with headers {} failed",
            headers_of(request)
        );
        Some(http(
            "500 Internal Server Error",
            "text/plain; charset=utf-8",
            &body,
        ))
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(dir.path(), "web");
    let address = echo.url().replacen("://", "://ops:p%40ss%20word@", 1);

    let run = run(vec![
        "deploy".into(),
        job.display().to_string(),
        "--address".into(),
        address,
        "--retry-attempts".into(),
        "1".into(),
    ])
    .await;

    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        echo.requests().iter().all(|r| r.contains(HEADER_VALUE)),
        "basic auth was sent: {:?}",
        echo.requests()
    );
    assert!(run.stderr.contains("<redacted>"), "{}", run.stderr);
    for secret in [HEADER_VALUE, "p@ss word", "p%40ss%20word"] {
        assert!(!run.all().contains(secret), "{secret}: {}", run.all());
    }
}

/// Item 8: a Nomad address that takes the connection and never answers gives up after the
/// request timeout with an error naming the address, instead of hanging (and is not retried).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_nomad_address_times_out_with_a_clear_error() {
    let silent = Loopback::start(Arc::new(|_: &str| None)).await;
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(dir.path(), "web");

    let run = run(vec![
        "deploy".into(),
        job.display().to_string(),
        "--address".into(),
        silent.url(),
        "--request-timeout".into(),
        "1s".into(),
    ])
    .await;

    assert_eq!(run.code, Some(1), "watchdog or wrong exit: {}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "Nomad at {} accepted the connection but did not answer within 1s",
            silent.url()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(silent.requests().len(), 1, "a silent server is not retried");
}

fn kubeconfig(dir: &Path, server: &str) -> PathBuf {
    kubeconfig_for_user(dir, server, &format!("token: {TOKEN}"))
}

/// A kubeconfig whose user is `credentials` (YAML at the user's indentation).
fn kubeconfig_for_user(dir: &Path, server: &str, credentials: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1
kind: Config
current-context: hostile
clusters:
- name: hostile
  cluster:
    server: {server}
contexts:
- name: hostile
  context:
    cluster: hostile
    user: someone
users:
- name: someone
  user:
    {credentials}
"
        ),
    )
    .unwrap();
    path
}

/// Item 8, Kubernetes: cluster import from an API server that never answers gives up after
/// `--request-timeout`, naming the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_kubernetes_api_times_out_with_a_clear_error() {
    let silent = Loopback::start(Arc::new(|_: &str| None)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &silent.url());

    let run = run(vec![
        "convert".into(),
        "--from-cluster".into(),
        "--kubeconfig".into(),
        config.display().to_string(),
        "--request-timeout".into(),
        "1s".into(),
    ])
    .await;

    assert_eq!(run.code, Some(1), "watchdog or wrong exit: {}", run.stderr);
    assert!(
        run.stderr.contains(&silent.url()) && run.stderr.contains("gave no answer within 1s"),
        "{}",
        run.stderr
    );
    assert!(!silent.requests().is_empty());
}

/// A Kubernetes API server that refuses every request with a 403 `Status` whose message
/// quotes the request's headers (credentials included).
async fn kubernetes_api_echoing_headers() -> Loopback {
    Loopback::start(Arc::new(|request: &str| {
        let status = json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
            "code": 403,
            "message": format!("forbidden for the request with {}", headers_of(request)),
        });
        Some(http(
            "403 Forbidden",
            "application/json",
            &status.to_string(),
        ))
    }))
    .await
}

/// Item 5, Kubernetes: an API server that echoes the bearer token into its refusal does not
/// get it printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubernetes_api_echoing_the_token_never_gets_it_printed() {
    let echo = kubernetes_api_echoing_headers().await;
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &echo.url());

    let run = run(vec![
        "convert".into(),
        "--from-cluster".into(),
        "--kubeconfig".into(),
        config.display().to_string(),
        "-n".into(),
        "shop".into(),
    ])
    .await;

    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        echo.requests().iter().any(|r| r.contains(TOKEN)),
        "the token was sent as a bearer token"
    );
    assert!(
        run.stderr.contains("forbidden") && run.stderr.contains("<redacted>"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains(TOKEN), "{}", run.all());
}

/// kube sends basic auth as `Authorization: Basic base64(user:password)`: an API server echoing
/// it must not get the password printed in either form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubernetes_api_echoing_basic_auth_never_gets_it_printed() {
    // base64("admin:kube-pass-7"), RFC 7617.
    const HEADER_VALUE: &str = "YWRtaW46a3ViZS1wYXNzLTc=";
    let echo = kubernetes_api_echoing_headers().await;
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig_for_user(
        dir.path(),
        &echo.url(),
        "username: admin\n    password: kube-pass-7",
    );

    let run = run(vec![
        "convert".into(),
        "--from-cluster".into(),
        "--kubeconfig".into(),
        config.display().to_string(),
        "-n".into(),
        "shop".into(),
    ])
    .await;

    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        echo.requests().iter().any(|r| r.contains(HEADER_VALUE)),
        "basic auth was sent: {:?}",
        echo.requests()
    );
    assert!(
        run.stderr.contains("forbidden") && run.stderr.contains("<redacted>"),
        "{}",
        run.stderr
    );
    for secret in [HEADER_VALUE, "kube-pass-7"] {
        assert!(!run.all().contains(secret), "{secret}: {}", run.all());
    }
}

/// Item 9: with `--retry-attempts 1`, a register whose answer is lost is read back: found, the
/// deploy goes on (no second register).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_register_answer_is_read_back_even_without_retries() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    double.inject(Fault::new(
        "PUT",
        "/v1/jobs",
        FaultKind::DropAfterHandling,
        1,
    ));
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(dir.path(), "web");

    let run = run(vec![
        "deploy".into(),
        job.display().to_string(),
        "--address".into(),
        double.address(),
        "--retry-attempts".into(),
        "1".into(),
    ])
    .await;

    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("first attempt had landed"),
        "{}",
        run.stderr
    );
    assert_eq!(double.count("PUT", "/v1/jobs"), 1);
}

/// Item 9: when the answer is lost and the read-back fails too, the job is reported as maybe
/// registered, with how to find out — not as failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_register_answer_that_cannot_be_read_back_says_may_have_been_registered() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    double.inject(Fault::new(
        "PUT",
        "/v1/jobs",
        FaultKind::DropAfterHandling,
        1,
    ));
    double.inject(Fault::new(
        "GET",
        "/v1/job/web",
        FaultKind::DropBeforeHandling,
        1,
    ));
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(dir.path(), "web");

    let run = run(vec![
        "deploy".into(),
        job.display().to_string(),
        "--address".into(),
        double.address(),
        "--retry-attempts".into(),
        "1".into(),
    ])
    .await;

    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("may have been registered")
            && run.stderr.contains("nomad job status")
            && run.stderr.contains("-namespace=default web"),
        "{}",
        run.stderr
    );
    let result = run
        .stdout
        .lines()
        .find(|l| l.starts_with("web "))
        .and_then(|l| l.split_whitespace().nth(2));
    assert_eq!(result, Some("unconfirmed"), "{}", run.stdout);
    assert!(double.job("default", "web").is_some(), "it was registered");
    assert_eq!(double.count("PUT", "/v1/jobs"), 1, "and not sent again");
}

/// Runs `deploy` as a child process, waits until the double has been asked about a
/// deployment (the deploy is following it), sends `signal`, and returns the exit code and
/// output. The waits are bounded by the watchdog.
async fn deploy_then_signal(double: &NomadDouble, files: Vec<PathBuf>, signal: i32) -> Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_knative2nomad"));
    for (name, _) in std::env::vars() {
        if name.starts_with("NOMAD_") {
            command.env_remove(name);
        }
    }
    command
        .arg("deploy")
        .args(&files)
        .args(["--address", &double.address(), "--parallel", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();
    let pid = child.id() as i32;
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let started = Instant::now();
    while !double
        .requests()
        .iter()
        .any(|r| r.path.starts_with("/v1/deployment/"))
    {
        assert!(
            started.elapsed() < WATCHDOG,
            "the deploy never followed a deployment"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SAFETY: kill(2) on the pid of our own child, which has not been waited for yet.
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(sent, 0, "kill failed");
    let output = tokio::task::spawn_blocking(move || finished.recv_timeout(WATCHDOG))
        .await
        .unwrap();
    let Ok(Ok(output)) = output else {
        // SAFETY: as above; the child outlived the watchdog, so end it before failing.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        panic!("the deploy did not exit after the signal (watchdog)");
    };
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn never_healthy() -> DoubleConfig {
    DoubleConfig {
        runner: Arc::new(SimulatedRunner {
            healthy_after: Duration::from_secs(3600),
            ..SimulatedRunner::default()
        }),
        ..DoubleConfig::default()
    }
}

/// Item 9: Ctrl-C while following a deployment stops, prints how far each job got and exits
/// 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_while_following_prints_the_state_table_and_exits_130() {
    let double = NomadDouble::start(never_healthy()).await;
    let dir = tempfile::tempdir().unwrap();
    let files = vec![
        job_file(dir.path(), "first"),
        job_file(dir.path(), "second"),
    ];

    let run = deploy_then_signal(&double, files, libc::SIGINT).await;

    assert_eq!(run.code, Some(130), "{}", run.stderr);
    assert!(
        run.stderr.contains("interrupted (SIGINT)"),
        "{}",
        run.stderr
    );
    let first = run.stdout.lines().find(|l| l.starts_with("first"));
    let second = run.stdout.lines().find(|l| l.starts_with("second"));
    assert!(
        first.is_some_and(|l| l.contains("deploying (deployment")),
        "{}",
        run.stdout
    );
    assert!(
        second.is_some_and(|l| l.contains("not started")),
        "{}",
        run.stdout
    );
    assert!(double.job("default", "first").is_some());
    assert!(double.job("default", "second").is_none());
}

/// Item 9: SIGTERM does the same and exits 143 (128 + 15).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_following_prints_the_state_table_and_exits_143() {
    let double = NomadDouble::start(never_healthy()).await;
    let dir = tempfile::tempdir().unwrap();
    let files = vec![job_file(dir.path(), "only")];

    let run = deploy_then_signal(&double, files, libc::SIGTERM).await;

    assert_eq!(run.code, Some(143), "{}", run.stderr);
    assert!(
        run.stdout.contains("deploying (deployment"),
        "{}",
        run.stdout
    );
}
