//! Fixtures for the verifier's end-to-end tests, all on loopback and all with real processes:
//! - [`FnProcess`]: a running `k2n-fn-server`, killed when dropped;
//! - [`ProcessRunner`]: an `AllocationRunner` for the Nomad double that starts and stops a real
//!   `k2n-fn-server` per allocation, on the group's reserved `http` port;
//! - [`Activator`]: a proxy that, like Knative's activator, holds a request while it starts the
//!   function process, and stops the process after an idle period (scale to zero);
//! - [`PushSink`]: a Pushgateway stand-in that records what was pushed;
//! - [`run_cli`]: one `knative2nomad` run with a controlled environment;
//! - [`register`] and [`plain_job`]: a job registered with the Nomad double.
//!
//! The router in front of Nomad allocations is in `nomad_router.rs`.

use super::loopback_http::{bind, serve_on};
use super::nomad_double::{AllocOutcome, AllocationRunner, AllocationSpec, BoxFuture, NomadDouble};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn fn_server_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_k2n-fn-server"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Run `knative2nomad ARGS` to its end (at most 110 s) with `KUBECONFIG` set to `kubeconfig`
/// (removed when None) and no Nomad setting from the environment; returns (exit code, stdout,
/// stderr).
pub async fn run_cli(args: Vec<String>, kubeconfig: Option<PathBuf>) -> (i32, String, String) {
    let mut command = super::binary::knative2nomad();
    if let Some(path) = kubeconfig {
        command.env("KUBECONFIG", path);
    }
    command.args(&args);
    let out = super::binary::output(command, Duration::from_secs(110)).await;
    (out.code.unwrap_or(-1), out.stdout, out.stderr)
}

/// Register `body` (a `{"Job": …}` register body) with the Nomad double; panics unless it
/// accepted it.
pub async fn register(double: &NomadDouble, body: &Value) {
    let resp = reqwest::Client::new()
        .put(format!("{}/v1/jobs", double.address()))
        .json(body)
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "register: {}",
        resp.text().await.unwrap()
    );
}

/// A hand-written job whose group has a dynamic `http` port and an optional scaling block.
pub fn plain_job(id: &str, count: i64, scaling: Option<Value>) -> Value {
    let mut group = json!({"Name": id, "Count": count,
        "Networks": [{"DynamicPorts": [{"Label": "http"}]}],
        "Tasks": [{"Name": id, "Driver": "docker", "Config": {"image": "example/fn:1"},
                   "Resources": {"CPU": 100, "MemoryMB": 64}}]});
    if let Some(s) = scaling {
        group["Scaling"] = s;
    }
    json!({"Job": {"ID": id, "Name": id, "Type": "service", "Datacenters": ["*"],
                   "TaskGroups": [group]}})
}

/// A running function process; killed (and reaped) on drop.
pub struct FnProcess {
    child: Child,
}

impl FnProcess {
    pub fn spawn(port: u16, startup_delay_ms: u64) -> FnProcess {
        let child = Command::new(fn_server_bin())
            .args([
                "--port",
                &port.to_string(),
                "--startup-delay-ms",
                &startup_delay_ms.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn k2n-fn-server");
        FnProcess { child }
    }

    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait until the port accepts connections; false if the process died or 30 s passed.
    /// Connects are tried every 200 µs from a blocking thread (tokio's timer would space them
    /// 1-2 ms apart), so a proxy built on this adds little of its own to a cold start.
    pub async fn wait_ready(port: u16, alive: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let attempt = tokio::task::spawn_blocking(move || {
                let until = Instant::now() + Duration::from_millis(50);
                while Instant::now() < until {
                    if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                        return true;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                false
            });
            if attempt.await.unwrap_or(false) {
                return true;
            }
            if !alive() {
                return false;
            }
        }
        false
    }
}

impl Drop for FnProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a real `k2n-fn-server` per allocation on its `http` port (reserved or dynamic).
#[derive(Clone)]
pub struct ProcessRunner {
    pub startup_delay_ms: u64,
    /// How long a stopped allocation keeps serving before its process is killed (Nomad's
    /// `shutdown_delay` and kill timeout); the double reports it `complete` only then.
    pub stop_delay: Duration,
    procs: Arc<Mutex<HashMap<String, FnProcess>>>,
    pub started: Arc<Mutex<usize>>,
}

impl ProcessRunner {
    pub fn new(startup_delay_ms: u64) -> ProcessRunner {
        ProcessRunner {
            startup_delay_ms,
            stop_delay: Duration::ZERO,
            procs: Arc::default(),
            started: Arc::default(),
        }
    }

    pub fn with_stop_delay(mut self, delay: Duration) -> ProcessRunner {
        self.stop_delay = delay;
        self
    }
}

impl AllocationRunner for ProcessRunner {
    fn start(&self, alloc: AllocationSpec) -> BoxFuture<AllocOutcome> {
        let port = *alloc.ports.get("http").expect("group has an http port");
        let process = FnProcess::spawn(port, self.startup_delay_ms);
        self.procs.lock().unwrap().insert(alloc.id.clone(), process);
        *self.started.lock().unwrap() += 1;
        let procs = self.procs.clone();
        Box::pin(async move {
            let id = alloc.id.clone();
            let alive = || {
                procs
                    .lock()
                    .unwrap()
                    .get_mut(&id)
                    .is_some_and(|p| !p.exited())
            };
            if FnProcess::wait_ready(port, alive).await {
                AllocOutcome::Healthy
            } else {
                AllocOutcome::Unhealthy("Task failed to start".to_string())
            }
        })
    }

    fn stop(&self, alloc: AllocationSpec) -> BoxFuture<()> {
        let process = self.procs.lock().unwrap().remove(&alloc.id);
        if self.stop_delay.is_zero() {
            // Killed before the future is returned, so the process is gone as soon as the
            // scheduler has processed the stop.
            drop(process);
            return Box::pin(async {});
        }
        let delay = self.stop_delay;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            drop(process);
        })
    }
}

/// Serve `handler` over HTTP/1.1 on 127.0.0.1:0 until the returned task is aborted
/// (`loopback_http`'s server, on a listener bound here).
pub async fn serve<F, Fut>(handler: F) -> (SocketAddr, tokio::task::JoinHandle<()>)
where
    F: Fn(Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let (listener, addr) = bind().await;
    (addr, serve_on(listener, handler))
}

/// Forward a GET of `path` to 127.0.0.1:`port` (what the activator and the router do); the
/// answer's status, body and `x-k2n-instance` header come back. Err when the upstream could
/// not be reached or read: each caller answers that in its own words.
pub async fn forward(
    client: &reqwest::Client,
    port: u16,
    path: &str,
) -> reqwest::Result<Response<Full<Bytes>>> {
    let r = client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await?;
    let status = r.status().as_u16();
    let instance = r.headers().get("x-k2n-instance").cloned();
    let body = r.bytes().await.unwrap_or_default();
    let mut out = Response::new(Full::new(body));
    *out.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    if let Some(v) = instance {
        out.headers_mut().insert("x-k2n-instance", v);
    }
    Ok(out)
}

struct ActivatorState {
    process: Option<FnProcess>,
    in_flight: usize,
    last_done: Instant,
    starts: usize,
    pods: PodEvents,
}

/// The revision's pods as a Kubernetes API would show them: one pod while the process runs.
/// Every change is logged with its resourceVersion so a watch can replay what it missed.
#[derive(Default)]
struct PodEvents {
    rv: u64,
    current: Option<Value>,
    log: Vec<(u64, String)>,
    subscribers: Vec<tokio::sync::mpsc::UnboundedSender<String>>,
}

impl PodEvents {
    fn publish(&mut self, kind: &str, pod: &Value) {
        let line = json!({"type": kind, "object": pod}).to_string();
        self.log.push((self.rv, line.clone()));
        self.subscribers.retain(|tx| tx.send(line.clone()).is_ok());
    }

    fn pod_started(&mut self, n: usize) {
        self.rv += 1;
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("fn-00001-deployment-{n}"), "namespace": "default",
                "resourceVersion": self.rv.to_string(),
                "labels": {"serving.knative.dev/service": "fn"}},
            "status": {"phase": "Running",
                "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                               {"type": "Ready", "status": "True", "lastTransitionTime": now}],
                "containerStatuses": [{"name": "user-container", "image": "example/fn:1",
                    "imageID": "", "ready": true, "restartCount": 0,
                    "state": {"running": {"startedAt": now}}}]}});
        self.publish("ADDED", &pod);
        self.current = Some(pod);
    }

    fn pod_stopped(&mut self) {
        if let Some(mut pod) = self.current.take() {
            self.rv += 1;
            pod["metadata"]["resourceVersion"] = json!(self.rv.to_string());
            self.publish("DELETED", &pod);
        }
    }
}

/// A Knative-activator-like proxy: holds each request until the function process is up
/// (starting it when there is none), forwards it, and stops the process after `idle`.
pub struct Activator {
    pub addr: SocketAddr,
    pub kube_addr: SocketAddr,
    state: Arc<Mutex<ActivatorState>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Activator {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.state.lock().unwrap().process.take();
    }
}

impl Activator {
    pub async fn start(startup_delay_ms: u64, idle: Duration) -> Activator {
        let backend = free_port();
        let state = Arc::new(Mutex::new(ActivatorState {
            process: None,
            in_flight: 0,
            last_done: Instant::now(),
            starts: 0,
            pods: PodEvents::default(),
        }));
        let client = reqwest::Client::new();
        let st = state.clone();
        let (addr, server) = serve(move |req: Request<hyper::body::Incoming>| {
            let st = st.clone();
            let client = client.clone();
            async move {
                {
                    let mut s = st.lock().unwrap();
                    s.in_flight += 1;
                    let dead = s.process.as_mut().is_none_or(|p| p.exited());
                    if dead {
                        s.process = Some(FnProcess::spawn(backend, startup_delay_ms));
                        s.starts += 1;
                        let n = s.starts;
                        s.pods.pod_stopped();
                        s.pods.pod_started(n);
                    }
                }
                let alive = || {
                    st.lock()
                        .unwrap()
                        .process
                        .as_mut()
                        .is_some_and(|p| !p.exited())
                };
                let resp = if FnProcess::wait_ready(backend, alive).await {
                    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
                    forward(&client, backend, path)
                        .await
                        .unwrap_or_else(|_| text(502, "upstream failed"))
                } else {
                    text(503, "revision failed to start")
                };
                let mut s = st.lock().unwrap();
                s.in_flight -= 1;
                s.last_done = Instant::now();
                resp
            }
        })
        .await;
        // Scale to zero: stop the process once nothing was in flight for `idle`.
        let st = state.clone();
        let reaper = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let mut s = st.lock().unwrap();
                if s.process.is_some() && s.in_flight == 0 && s.last_done.elapsed() >= idle {
                    s.process.take();
                    s.pods.pod_stopped();
                }
            }
        });
        let (kube_addr, kube) = serve_fake_kube(state.clone()).await;
        Activator {
            addr,
            kube_addr,
            state,
            tasks: vec![server, reaper, kube],
        }
    }

    /// A kubeconfig pointing at this activator's fake Kubernetes API (pods of Service
    /// `default/fn` only), written into `dir`.
    pub fn kubeconfig(&self, dir: &std::path::Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n\
             current-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.kube_addr
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// How many times the function process was started.
    pub fn starts(&self) -> usize {
        self.state.lock().unwrap().starts
    }
}

pub fn text(status: u16, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    r
}

/// A pushed request: method, path, content type, body.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub method: String,
    pub path: String,
    pub content_type: String,
    pub body: String,
}

/// A Pushgateway stand-in on loopback that records each push and answers 200.
pub struct PushSink {
    pub addr: SocketAddr,
    pub pushed: Arc<Mutex<Vec<Pushed>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PushSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PushSink {
    pub async fn start() -> PushSink {
        let pushed: Arc<Mutex<Vec<Pushed>>> = Arc::default();
        let p = pushed.clone();
        let (addr, task) = serve(move |req: Request<hyper::body::Incoming>| {
            let p = p.clone();
            async move {
                let method = req.method().to_string();
                let path = req.uri().path().to_string();
                let content_type = req
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let body = req.into_body().collect().await.unwrap().to_bytes();
                p.lock().unwrap().push(Pushed {
                    method,
                    path,
                    content_type,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                text(200, "")
            }
        })
        .await;
        PushSink { addr, pushed, task }
    }
}

/// Just enough of the Kubernetes API for a pod list and a pod watch (what kube's watcher and
/// `Api::list` send): `GET /api/v1/namespaces/default/pods[?watch=true&resourceVersion=N]`.
/// Raw HTTP/1.1 because a watch is an endless chunked stream of JSON lines.
async fn serve_fake_kube(
    state: Arc<Mutex<ActivatorState>>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                if path != "/api/v1/namespaces/default/pods" {
                    let _ = stream
                        .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                    return;
                }
                let param = |name: &str| {
                    query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                        .map(str::to_string)
                };
                if param("watch").as_deref() == Some("true") {
                    let since: u64 = param("resourceVersion")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                    {
                        // Replay and subscribe under one lock: no event falls in between.
                        let mut s = state.lock().unwrap();
                        for (rv, line) in &s.pods.log {
                            if *rv > since {
                                let _ = tx.send(line.clone());
                            }
                        }
                        s.pods.subscribers.push(tx);
                    }
                    if stream
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    while let Some(line) = rx.recv().await {
                        let chunk = format!("{:x}\r\n{line}\n\r\n", line.len() + 1);
                        if stream.write_all(chunk.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                } else {
                    let body = {
                        let s = state.lock().unwrap();
                        json!({"apiVersion": "v1", "kind": "PodList",
                               "metadata": {"resourceVersion": s.pods.rv.to_string()},
                               "items": s.pods.current.iter().collect::<Vec<_>>()})
                        .to_string()
                    };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(resp.as_bytes()).await;
                }
            });
        }
    });
    (addr, task)
}

/// A function that answers at once, except request number `stall_at` (0-based), which it holds
/// for `stall` first: the shape of a GC pause or a CPU-throttled container.
pub struct StallServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StallServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StallServer {
    pub async fn start(stall_at: usize, stall: Duration) -> StallServer {
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (addr, task) = serve(move |_req: Request<hyper::body::Incoming>| {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if n == stall_at {
                    tokio::time::sleep(stall).await;
                }
                text(200, "ok")
            }
        })
        .await;
        StallServer { addr, task }
    }
}
