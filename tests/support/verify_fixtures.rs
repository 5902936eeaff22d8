//! Fixtures for the verifier's end-to-end tests, all on loopback and all with real processes:
//! - [`FnProcess`]: a running `k2n-fn-server`, killed when dropped;
//! - [`ProcessRunner`]: an `AllocationRunner` for the Nomad double that starts and stops a real
//!   `k2n-fn-server` per allocation, on the group's reserved `http` port;
//! - [`Activator`]: a proxy that, like Knative's activator, holds a request while it starts the
//!   function process, and stops the process after an idle period (scale to zero);
//! - [`PushSink`]: a Pushgateway stand-in that records what was pushed.

#![allow(dead_code)]

use super::nomad_double::{AllocOutcome, AllocationRunner, AllocationSpec, BoxFuture};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
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

/// A running function process; killed (and reaped) on drop.
pub struct FnProcess {
    child: Child,
    pub port: u16,
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
        FnProcess { child, port }
    }

    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait until the port accepts connections; false if the process died or 30 s passed.
    pub async fn wait_ready(port: u16, alive: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return true;
            }
            if !alive() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
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

/// Starts a real `k2n-fn-server` per allocation on its reserved `http` port.
#[derive(Clone)]
pub struct ProcessRunner {
    pub startup_delay_ms: u64,
    procs: Arc<Mutex<HashMap<String, FnProcess>>>,
    pub started: Arc<Mutex<usize>>,
}

impl ProcessRunner {
    pub fn new(startup_delay_ms: u64) -> ProcessRunner {
        ProcessRunner {
            startup_delay_ms,
            procs: Arc::default(),
            started: Arc::default(),
        }
    }

    pub fn running(&self) -> usize {
        self.procs.lock().unwrap().len()
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
        // Killed before the future is returned, so the process is gone as soon as the
        // scheduler has processed the stop.
        let process = self.procs.lock().unwrap().remove(&alloc.id);
        drop(process);
        Box::pin(async {})
    }
}

/// Serve `handler` over HTTP/1.1 on 127.0.0.1:0 until the returned task is aborted.
async fn serve<F, Fut>(handler: F) -> (SocketAddr, tokio::task::JoinHandle<()>)
where
    F: Fn(Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, task)
}

struct ActivatorState {
    process: Option<FnProcess>,
    in_flight: usize,
    last_done: Instant,
    starts: usize,
}

/// A Knative-activator-like proxy: holds each request until the function process is up
/// (starting it when there is none), forwards it, and stops the process after `idle`.
pub struct Activator {
    pub addr: SocketAddr,
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
                    match client
                        .get(format!("http://127.0.0.1:{backend}{path}"))
                        .send()
                        .await
                    {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let instance = r.headers().get("x-k2n-instance").cloned();
                            let body = r.bytes().await.unwrap_or_default();
                            let mut out = Response::new(Full::new(body));
                            *out.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            if let Some(v) = instance {
                                out.headers_mut().insert("x-k2n-instance", v);
                            }
                            out
                        }
                        Err(_) => text(502, "upstream failed"),
                    }
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
                }
            }
        });
        Activator {
            addr,
            state,
            tasks: vec![server, reaper],
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// How many times the function process was started.
    pub fn starts(&self) -> usize {
        self.state.lock().unwrap().starts
    }
}

fn text(status: u16, body: &'static str) -> Response<Full<Bytes>> {
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
