//! A faithful, in-process double of the Nomad HTTP API, for tests of the deployer and the
//! verifier. It is not a scheduler: it places every allocation on one simulated node and leaves
//! running them to a pluggable [`AllocationRunner`].
//!
//! What it reproduces (Nomad 2.0.6; summarised in §3–5 of the team's shared reference
//! `../shared/reference/nomad-api.md`, beside the checkout, with the Nomad source files each rule
//! comes from): exact status codes, plain-text
//! error bodies (`text/plain; charset=utf-8`), `X-Nomad-Index` / `X-Nomad-KnownLeader` /
//! `X-Nomad-LastContact` headers, blocking queries (`index` + `wait`, wait capped at 300 s plus up
//! to wait/16 jitter), namespaces (`?namespace=` > body `Namespace` > `Job.Namespace` > default),
//! ACL (403 `Permission denied` / `ACL token not found`), register-time validation as a
//! go-multierror text (500 on register and plan, 200 with `ValidationErrors` on validate),
//! `EnforceIndex` conflicts, evaluation → deployment progression, placement failures
//! (`FailedTGAllocs` + a blocked eval), scaling (incl. `job scaling blocked due to active
//! deployment`), stop/purge, and injected faults.
//!
//! # Public API
//!
//! ```ignore
//! let double = NomadDouble::start(DoubleConfig::default()).await;   // http://127.0.0.1:<random>
//! double.address();                        // "http://127.0.0.1:PORT" (or https:// with TLS)
//! double.inject(Fault::no_leader("PUT", "/v1/jobs", 2));            // next 2 matching → 500
//! double.inject(Fault::new("PUT", "/v1/jobs", FaultKind::DropAfterHandling, 1));
//! double.requests();                       // Vec<RequestRecord> in arrival order
//! double.count("PUT", "/v1/jobs");         // requests per method + exact path
//! double.job("default", "web");            // stored job as JSON (server form)
//! double.evaluations("default", "web");    // its evaluations, oldest first
//! ```
//!
//! [`DoubleConfig`] fields: `acl` (token → [`TokenPolicy`]; `None` = ACL disabled), `tls`
//! (`rustls::ServerConfig`, see `support::TestPki`), `runner` (allocation lifecycle; default
//! [`SimulatedRunner`], healthy after `healthy_after`), `eval_delay` (pending → complete),
//! `namespaces` (existing namespaces; "default" always), `datacenter` (the node's; jobs whose
//! `Datacenters` do not match it or `*` fail placement), `unplaceable_jobs` (job IDs that always
//! fail placement).
//!
//! Plug in a real allocation lifecycle by implementing [`AllocationRunner`]: `start` resolves
//! when the allocation is healthy or failed, `stop` when it is stopped. Just before `start` is
//! called, the allocation's `TaskStates` record each task as running with its `StartedAt`. `stop` is spawned as
//! soon as the scheduler stops an allocation (job update, scale down, `DELETE /v1/job/:id`), and
//! may run while that allocation's `start` is still pending; a late `start` result for a
//! stopped allocation is ignored. Each allocation gets
//! dynamic ports on 127.0.0.1 for the group's `DynamicPorts` (see [`AllocationSpec::ports`]),
//! also reported in `GET /v1/allocation/:id` under `AllocatedResources.Shared.Ports`.
//!
//! Endpoints: `PUT|POST /v1/jobs`, `PUT|POST /v1/job/:id` (register), `GET /v1/jobs`,
//! `GET|DELETE /v1/job/:id`, `PUT|POST /v1/validate/job`, `PUT|POST /v1/job/:id/plan`,
//! `GET /v1/job/:id/allocations`, `GET /v1/job/:id/evaluations`, `GET /v1/job/:id/deployment`, `GET /v1/job/:id/deployments`,
//! `GET|PUT|POST /v1/job/:id/scale`, `GET /v1/evaluation/:id`, `GET /v1/deployment/:id`,
//! `GET /v1/allocation/:id`, `GET /v1/status/leader`, `GET /v1/agent/self`,
//! `PUT|POST /v1/jobs/parse` (answered by Nomad's own parser when `../shared` has it: see
//! [`parse`]), and Nomad's service catalog as Traefik's Nomad provider reads it:
//! `GET /v1/services`, `GET /v1/service/:name` (see [`service_registrations`]).

pub mod parse;

use super::loopback_http::{decode_query, percent_decode};

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What an allocation runner is told about the allocation it must run.
#[derive(Debug, Clone)]
pub struct AllocationSpec {
    pub id: String,
    pub job_id: String,
    pub task_group: String,
    /// The task group as stored on the server (API JSON), with tasks and their driver config.
    pub group: Value,
    /// Dynamic port label → host port on 127.0.0.1, reserved for this allocation.
    pub ports: BTreeMap<String, u16>,
}

/// How an allocation ended its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocOutcome {
    Healthy,
    /// Failed, with the client description Nomad would show.
    Unhealthy(String),
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The allocation lifecycle on the simulated node. The verifier plugs in a runner that starts
/// and stops a real process.
pub trait AllocationRunner: Send + Sync + 'static {
    /// Start the allocation; resolve once it is healthy or has failed.
    fn start(&self, alloc: AllocationSpec) -> BoxFuture<AllocOutcome>;
    /// Stop the allocation; resolve once it is stopped.
    fn stop(&self, alloc: AllocationSpec) -> BoxFuture<()>;
}

/// Default runner: every allocation becomes healthy after `healthy_after`, except those of jobs
/// in `unhealthy_jobs`, which fail after the same delay.
#[derive(Debug, Clone, Default)]
pub struct SimulatedRunner {
    pub healthy_after: Duration,
    pub unhealthy_jobs: HashSet<String>,
}

impl AllocationRunner for SimulatedRunner {
    fn start(&self, alloc: AllocationSpec) -> BoxFuture<AllocOutcome> {
        let delay = self.healthy_after;
        let fails = self.unhealthy_jobs.contains(&alloc.job_id);
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            if fails {
                AllocOutcome::Unhealthy("Unhealthy because of failed task".to_string())
            } else {
                AllocOutcome::Healthy
            }
        })
    }
    fn stop(&self, _alloc: AllocationSpec) -> BoxFuture<()> {
        Box::pin(async {})
    }
}

/// What a token may do. `namespaces` holds namespace names or `*`.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    pub namespaces: Vec<String>,
    /// submit-job / scale-job; read-only tokens may only read and validate.
    pub write: bool,
}

impl TokenPolicy {
    pub fn management() -> Self {
        TokenPolicy {
            namespaces: vec!["*".to_string()],
            write: true,
        }
    }
    pub fn read_only() -> Self {
        TokenPolicy {
            namespaces: vec!["*".to_string()],
            write: false,
        }
    }
    fn allows(&self, namespace: &str, write: bool) -> bool {
        (self.write || !write) && self.namespaces.iter().any(|n| n == "*" || n == namespace)
    }
}

/// Settings of a double; `Default` is an ACL-free, plain-HTTP cluster with healthy allocations.
#[derive(Clone)]
pub struct DoubleConfig {
    pub acl: Option<HashMap<String, TokenPolicy>>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub runner: Arc<dyn AllocationRunner>,
    pub eval_delay: Duration,
    pub namespaces: Vec<String>,
    pub datacenter: String,
    pub unplaceable_jobs: HashSet<String>,
}

impl Default for DoubleConfig {
    fn default() -> Self {
        DoubleConfig {
            acl: None,
            tls: None,
            runner: Arc::new(SimulatedRunner {
                healthy_after: Duration::from_millis(50),
                unhealthy_jobs: HashSet::new(),
            }),
            eval_delay: Duration::from_millis(20),
            namespaces: vec!["default".to_string()],
            datacenter: "dc1".to_string(),
            unplaceable_jobs: HashSet::new(),
        }
    }
}

/// An injected fault, applied to the next `times` requests matching method and exact path.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: String,
    pub path: String,
    pub kind: FaultKind,
    pub times: usize,
}

#[derive(Debug, Clone)]
pub enum FaultKind {
    /// Respond with this status and plain-text body without handling the request.
    Respond(u16, String),
    /// Read the request, then close the connection without handling it or answering.
    DropBeforeHandling,
    /// Handle the request (state changes happen), then close the connection without answering.
    DropAfterHandling,
    /// Someone else writes this job (new version and JobModifyIndex) just before the request
    /// is handled — a concurrent change between a plan and a register.
    ConcurrentJobChange { namespace: String, job_id: String },
}

impl Fault {
    pub fn new(method: &str, path: &str, kind: FaultKind, times: usize) -> Self {
        Fault {
            method: method.to_string(),
            path: path.to_string(),
            kind,
            times,
        }
    }
    /// `500 No cluster leader`, as a server without a leader answers.
    pub fn no_leader(method: &str, path: &str, times: usize) -> Self {
        Fault::new(
            method,
            path,
            FaultKind::Respond(500, "No cluster leader".to_string()),
            times,
        )
    }
}

/// One request as the double saw it.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    /// Status answered; 0 when the connection was dropped.
    pub status: u16,
}

#[derive(Default)]
struct State {
    index: u64,
    table_index: HashMap<&'static str, u64>,
    /// (namespace, id) → server job.
    jobs: BTreeMap<(String, String), Value>,
    /// (namespace, id) → user spec of the stored version (to detect unchanged submissions).
    specs: HashMap<(String, String), Value>,
    evals: BTreeMap<String, Value>,
    deployments: BTreeMap<String, Value>,
    allocs: BTreeMap<String, Value>,
    alloc_specs: HashMap<String, AllocationSpec>,
    scale_events: HashMap<(String, String), BTreeMap<String, Vec<Value>>>,
    faults: VecDeque<Fault>,
    log: Vec<RequestRecord>,
    id_counter: u64,
}

impl State {
    fn bump(&mut self, table: &'static str) -> u64 {
        self.index += 1;
        self.table_index.insert(table, self.index);
        self.index
    }
    fn new_id(&mut self) -> String {
        self.id_counter += 1;
        let random = fastrand::u64(..);
        let n = self.id_counter;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (random >> 32) as u32,
            (random >> 16) as u16,
            random as u16,
            n as u16,
            n
        )
    }
}

struct Shared {
    config: DoubleConfig,
    state: Mutex<State>,
    changed: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
    fn notify(&self, index: u64) {
        self.changed.send_replace(index);
    }
}

/// A running double. Dropping it stops the server.
pub struct NomadDouble {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for NomadDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl NomadDouble {
    /// Bind 127.0.0.1 on a random port and serve until dropped.
    pub async fn start(config: DoubleConfig) -> NomadDouble {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let tls = config.tls.clone();
        let (changed, _) = watch::channel(0);
        let mut state = State {
            index: 10,
            ..State::default()
        };
        state.id_counter = fastrand::u64(1..1000);
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(state),
            changed,
        });
        let server_shared = shared.clone();
        let server = tokio::spawn(async move {
            let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let shared = server_shared.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(tls_stream) = acceptor.accept(stream).await {
                                serve_connection(tls_stream, shared).await;
                            }
                        }
                        None => serve_connection(stream, shared).await,
                    }
                });
            }
        });
        NomadDouble {
            addr,
            tls: shared.config.tls.is_some(),
            shared,
            server,
        }
    }

    /// Base address, e.g. `http://127.0.0.1:41234`.
    pub fn address(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push_back(fault);
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().log.clone()
    }

    /// Requests with this method and exact path (query ignored).
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    /// Requests whose path starts with `prefix`, any method.
    pub fn count_prefix(&self, prefix: &str) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .count()
    }

    pub fn job(&self, namespace: &str, id: &str) -> Option<Value> {
        self.shared
            .lock()
            .jobs
            .get(&(namespace.to_string(), id.to_string()))
            .cloned()
    }

    /// What a service-discovery router (Traefik's Nomad provider) would route to: a function
    /// giving, when called, the `label` port of each allocation of the group that should run
    /// and runs (healthy), as the Nomad service registrations of those allocations would show.
    pub fn service_ports(
        &self,
        namespace: &str,
        job: &str,
        group: &str,
        label: &str,
    ) -> Arc<dyn Fn() -> Vec<u16> + Send + Sync> {
        let shared = self.shared.clone();
        let (namespace, job, group, label) = (
            namespace.to_string(),
            job.to_string(),
            group.to_string(),
            label.to_string(),
        );
        Arc::new(move || {
            let state = shared.lock();
            state
                .allocs
                .values()
                .filter(|a| a["Namespace"] == namespace.as_str() && a["JobID"] == job.as_str())
                .filter(|a| a["TaskGroup"] == group.as_str())
                .filter(|a| a["DesiredStatus"] == "run" && a["ClientStatus"] == "running")
                .filter_map(|a| {
                    state
                        .alloc_specs
                        .get(a["ID"].as_str()?)?
                        .ports
                        .get(&label)
                        .copied()
                })
                .collect()
        })
    }

    /// Evaluations of a job, oldest first.
    pub fn evaluations(&self, namespace: &str, job_id: &str) -> Vec<Value> {
        let state = self.shared.lock();
        let mut evals: Vec<Value> = state
            .evals
            .values()
            .filter(|e| e["Namespace"] == namespace && e["JobID"] == job_id)
            .cloned()
            .collect();
        evals.sort_by_key(|e| e["CreateIndex"].as_u64());
        evals
    }
}

fn bump_job(shared: &Shared, namespace: &str, id: &str) -> Option<u64> {
    {
        let mut state = shared.lock();
        let key = (namespace.to_string(), id.to_string());
        state.jobs.get(&key)?;
        let index = state.bump("jobs");
        let job = state.jobs.get_mut(&key)?;
        job["JobModifyIndex"] = json!(index);
        job["ModifyIndex"] = json!(index);
        job["Version"] = json!(job["Version"].as_u64().unwrap_or(0) + 1);
        job["Meta"]["changed-by"] = json!("someone else");
        if let Some(spec) = state.specs.get_mut(&key) {
            spec["Meta"]["changed-by"] = json!("someone else");
        }
        drop(state);
        shared.notify(index);
        Some(index)
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 transport

struct Request {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

struct Response {
    status: u16,
    body: String,
    json: bool,
    index: Option<u64>,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            body: body.into(),
            json: false,
            index: None,
        }
    }
    fn json(value: &Value, index: u64) -> Response {
        Response {
            status: 200,
            body: value.to_string(),
            json: true,
            index: Some(index),
        }
    }
}

async fn read_request<S: AsyncRead + Unpin>(reader: &mut BufReader<S>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.trim_end().split(' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await.ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.ok()?;
    let (path, query_text) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let query = decode_query(query_text).into_iter().collect();
    Some(Request {
        method,
        path: percent_decode(path),
        query,
        headers,
        body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        501 => "Not Implemented",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(stream: S, shared: Arc<Shared>) {
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader).await {
        let fault = take_fault(&shared, &request);
        let mut record = RequestRecord {
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query.clone(),
            headers: request.headers.clone(),
            body: String::from_utf8_lossy(&request.body).into_owned(),
            status: 0,
        };
        let response = match fault {
            Some(FaultKind::DropBeforeHandling) => {
                shared.lock().log.push(record);
                return;
            }
            Some(FaultKind::DropAfterHandling) => {
                let _ = handle(&shared, &request).await;
                shared.lock().log.push(record);
                return;
            }
            Some(FaultKind::Respond(status, body)) => Response::text(status, body),
            Some(FaultKind::ConcurrentJobChange { namespace, job_id }) => {
                bump_job(&shared, &namespace, &job_id);
                handle(&shared, &request).await
            }
            None => handle(&shared, &request).await,
        };
        record.status = response.status;
        let index = response.index.unwrap_or_else(|| shared.lock().index);
        shared.lock().log.push(record);
        let content_type = if response.json {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             X-Nomad-Index: {index}\r\nX-Nomad-KnownLeader: true\r\nX-Nomad-LastContact: 0\r\n\
             Vary: Accept-Encoding\r\n\r\n",
            response.status,
            reason(response.status),
            response.body.len()
        );
        // One write per response: a separate body write would meet Nagle + delayed ACK.
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(response.body.as_bytes());
        let stream = reader.get_mut();
        if stream.write_all(&bytes).await.is_err() || stream.flush().await.is_err() {
            return;
        }
        if request
            .headers
            .get("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
        {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

fn take_fault(shared: &Shared, request: &Request) -> Option<FaultKind> {
    let mut state = shared.lock();
    let position = state
        .faults
        .iter()
        .position(|f| f.method == request.method && f.path == request.path && f.times > 0)?;
    let fault = &mut state.faults[position];
    fault.times -= 1;
    let kind = fault.kind.clone();
    if fault.times == 0 {
        state.faults.remove(position);
    }
    Some(kind)
}

// ---------------------------------------------------------------------------------------------
// Routing, query parameters, ACL

struct Query {
    namespace: Option<String>,
    index: u64,
    wait: Duration,
}

fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" if number == 0.0 => 0.0,
            _ => return None,
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_secs_f64(total))
}

fn parse_query(request: &Request) -> Result<Query, Response> {
    if let Some(stale) = request.query.get("stale")
        && !matches!(stale.as_str(), "" | "true" | "false")
    {
        return Err(Response::text(
            400,
            "Expect `true` or `false` for `stale` query string parameter",
        ));
    }
    let index = match request.query.get("index") {
        Some(text) => text
            .parse()
            .map_err(|_| Response::text(400, "Invalid index"))?,
        None => 0,
    };
    let max_wait = Duration::from_secs(300);
    let wait = match request.query.get("wait") {
        Some(text) => {
            parse_go_duration(text).ok_or_else(|| Response::text(400, "Invalid wait time"))?
        }
        None => max_wait,
    };
    Ok(Query {
        namespace: request.query.get("namespace").cloned(),
        index,
        wait: wait.min(max_wait),
    })
}

/// Go's `strconv.ParseBool`: `1 t T TRUE true True` and `0 f F FALSE false False`, nothing else.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn token_of(request: &Request) -> Option<String> {
    if let Some(token) = request.headers.get("x-nomad-token") {
        return Some(token.clone());
    }
    request
        .headers
        .get("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
}

fn authorize(
    shared: &Shared,
    request: &Request,
    namespace: &str,
    write: bool,
) -> Result<(), Response> {
    let Some(tokens) = &shared.config.acl else {
        return Ok(());
    };
    match token_of(request) {
        None => Err(Response::text(403, "Permission denied")),
        Some(token) => match tokens.get(&token) {
            None => Err(Response::text(403, "ACL token not found")),
            Some(policy) if policy.allows(namespace, write) => Ok(()),
            Some(_) => Err(Response::text(403, "Permission denied")),
        },
    }
}

async fn handle(shared: &Arc<Shared>, request: &Request) -> Response {
    let query = match parse_query(request) {
        Ok(q) => q,
        Err(response) => return response,
    };
    let segments: Vec<&str> = request
        .path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = request.method.as_str();
    let write = matches!(method, "PUT" | "POST");
    let namespace_for_read = query
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    match (method, segments.as_slice()) {
        ("PUT" | "POST", ["v1", "jobs", "parse"]) => parse::parse(shared, request, &query).await,
        (_, ["v1", "jobs", "parse"]) => Response::text(405, "Invalid method"),
        ("PUT" | "POST", ["v1", "jobs"]) => register(shared, request, &query, None),
        ("GET", ["v1", "jobs"]) => guard(shared, request, &namespace_for_read, false, || {
            list_jobs(shared, &namespace_for_read)
        }),
        ("PUT" | "POST", ["v1", "validate", "job"]) => validate_endpoint(shared, request, &query),
        ("PUT" | "POST", ["v1", "job", id]) => register(shared, request, &query, Some(id)),
        ("PUT" | "POST", ["v1", "job", id, "plan"]) => plan(shared, request, &query, id),
        ("PUT" | "POST", ["v1", "job", id, "scale"]) => {
            scale(shared, request, &namespace_for_read, id)
        }
        ("DELETE", ["v1", "job", id]) => {
            // command/agent/job_endpoint.go jobDelete: each flag through strconv.ParseBool when
            // present and non-empty; a bad value is a plain error, hence 500. How long stopping
            // takes (shutdown delays included or not) is the runner's to decide.
            let mut flags = [false; 2];
            for (flag, name) in flags.iter_mut().zip(["purge", "no_shutdown_delay"]) {
                match request.query.get(name).map(String::as_str) {
                    None | Some("") => {}
                    Some(text) => match parse_go_bool(text) {
                        Some(value) => *flag = value,
                        None => {
                            return Response::text(
                                500,
                                format!(
                                    "Failed to parse value of {name:?} ({text}) as a bool: \
                                     strconv.ParseBool: parsing {text:?}: invalid syntax"
                                ),
                            );
                        }
                    },
                }
            }
            if let Err(denied) = authorize(shared, request, &namespace_for_read, true) {
                return denied;
            }
            deregister(shared, &namespace_for_read, id, flags[0])
        }
        ("GET", ["v1", ..]) => {
            // Reads by object ID are authorized against the object's own namespace (Nomad's
            // Eval.GetEval, Deployment.GetDeployment, Alloc.GetAlloc), not the query's.
            let auth_namespace =
                object_namespace(shared, &segments).unwrap_or_else(|| namespace_for_read.clone());
            if let Err(denied) = authorize(shared, request, &auth_namespace, false) {
                return denied;
            }
            let key = segments.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            blocking_read(shared, &query, move |state| {
                read(state, &key, &namespace_for_read)
            })
            .await
        }
        // A known read endpoint written to, or an unknown method: Nomad answers 405.
        (_, ["v1", "evaluation" | "deployment" | "allocation", _])
        | (
            _,
            [
                "v1",
                "job",
                _,
                "allocations" | "evaluations" | "deployment" | "deployments",
            ],
        )
        | (_, ["v1", "status", "leader"] | ["v1", "agent", "self"]) => {
            Response::text(405, "Invalid method")
        }
        _ if write || method == "DELETE" || method == "GET" => {
            Response::text(404, format!("Invalid URL path: {}", request.path))
        }
        _ => Response::text(405, "Invalid method"),
    }
}

fn object_namespace(shared: &Shared, segments: &[&str]) -> Option<String> {
    let state = shared.lock();
    let object = match segments {
        ["v1", "evaluation", id] => state.evals.get(*id),
        ["v1", "deployment", id] => state.deployments.get(*id),
        ["v1", "allocation", id] => state.allocs.get(*id),
        _ => None,
    }?;
    object["Namespace"].as_str().map(str::to_string)
}

fn guard(
    shared: &Shared,
    request: &Request,
    namespace: &str,
    write: bool,
    then: impl FnOnce() -> Response,
) -> Response {
    match authorize(shared, request, namespace, write) {
        Ok(()) => then(),
        Err(denied) => denied,
    }
}

/// What a read returns: the body and the index of the watched object(s), or an error response.
type ReadResult = Result<(Value, u64), Response>;

async fn blocking_read(
    shared: &Arc<Shared>,
    query: &Query,
    reader: impl Fn(&State) -> ReadResult,
) -> Response {
    let mut changes = shared.changed.subscribe();
    let jitter = if query.wait.is_zero() {
        Duration::ZERO
    } else {
        query.wait.mul_f64(fastrand::f64() / 16.0)
    };
    let deadline = tokio::time::Instant::now() + query.wait + jitter;
    loop {
        let result = reader(&shared.lock());
        match result {
            Err(response) => return response,
            Ok((body, index)) => {
                if query.index == 0 || index > query.index {
                    return Response::json(&body, index.max(1));
                }
                tokio::select! {
                    _ = changes.changed() => {}
                    _ = tokio::time::sleep_until(deadline) => {
                        return Response::json(&body, index.max(1));
                    }
                }
            }
        }
    }
}

fn read(state: &State, segments: &[String], namespace: &str) -> ReadResult {
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let table = |t: &str| state.table_index.get(t).copied().unwrap_or(1);
    let key = |id: &str| (namespace.to_string(), id.to_string());
    match segs.as_slice() {
        ["v1", "job", id] => match state.jobs.get(&key(id)) {
            Some(job) => Ok((job.clone(), job["ModifyIndex"].as_u64().unwrap_or(1))),
            None => Err(Response::text(404, "job not found")),
        },
        ["v1", "job", id, "allocations"] => {
            let allocs: Vec<&Value> = state
                .allocs
                .values()
                .filter(|a| a["Namespace"] == namespace && a["JobID"] == *id)
                .collect();
            let index = allocs
                .iter()
                .filter_map(|a| a["ModifyIndex"].as_u64())
                .max();
            let stubs: Vec<Value> = allocs.iter().map(|a| alloc_stub(a)).collect();
            Ok((
                Value::Array(stubs),
                index.unwrap_or_else(|| table("allocs")),
            ))
        }
        ["v1", "job", id, "deployment"] => {
            let latest = state
                .deployments
                .values()
                .filter(|d| d["Namespace"] == namespace && d["JobID"] == *id)
                .max_by_key(|d| d["CreateIndex"].as_u64());
            match latest {
                Some(d) => Ok((d.clone(), d["ModifyIndex"].as_u64().unwrap_or(1))),
                None => Ok((Value::Null, table("deployment"))),
            }
        }
        ["v1", "job", id, "deployments"] => {
            let mut list: Vec<Value> = state
                .deployments
                .values()
                .filter(|d| d["Namespace"] == namespace && d["JobID"] == *id)
                .cloned()
                .collect();
            list.sort_by_key(|d| std::cmp::Reverse(d["CreateIndex"].as_u64()));
            let index = list.iter().filter_map(|d| d["ModifyIndex"].as_u64()).max();
            Ok((
                Value::Array(list),
                index.unwrap_or_else(|| table("deployment")),
            ))
        }
        ["v1", "job", id, "scale"] => scale_status(state, namespace, id),
        ["v1", "services"] => service_list(state, namespace),
        ["v1", "service", name] => Ok((
            Value::Array(service_registrations(state, namespace, Some(name))),
            table("allocs"),
        )),
        ["v1", "job", id, "evaluations"] => {
            let mut list: Vec<Value> = state
                .evals
                .values()
                .filter(|e| e["Namespace"] == namespace && e["JobID"] == *id)
                .cloned()
                .collect();
            list.sort_by_key(|e| std::cmp::Reverse(e["CreateIndex"].as_u64()));
            let index = list.iter().filter_map(|e| e["ModifyIndex"].as_u64()).max();
            Ok((Value::Array(list), index.unwrap_or_else(|| table("evals"))))
        }
        ["v1", "evaluation", id] => match state.evals.get(*id) {
            Some(e) => Ok((e.clone(), e["ModifyIndex"].as_u64().unwrap_or(1))),
            None => Err(Response::text(404, "eval not found")),
        },
        ["v1", "deployment", id] => match state.deployments.get(*id) {
            Some(d) => Ok((d.clone(), d["ModifyIndex"].as_u64().unwrap_or(1))),
            None => Err(Response::text(404, "deployment not found")),
        },
        ["v1", "allocation", id] => match state.allocs.get(*id) {
            Some(a) => Ok((a.clone(), a["ModifyIndex"].as_u64().unwrap_or(1))),
            None => Err(Response::text(404, "alloc not found")),
        },
        // Write-only endpoints read with GET: Nomad's handlers answer 405.
        ["v1", "validate", "job"] | ["v1", "job", _, "plan"] => {
            Err(Response::text(405, "Invalid method"))
        }
        ["v1", "status", "leader"] => Ok((json!("127.0.0.1:4647"), state.index)),
        ["v1", "agent", "self"] => Ok((
            json!({"config": {"Region": "global", "Datacenter": "dc1",
                   "Version": {"Version": "2.0.6", "VersionPrerelease": ""}},
                   "member": {"Name": "double.global", "Status": "alive",
                              "Tags": {"region": "global", "dc": "dc1", "role": "nomad"}},
                   "stats": {"nomad": {"leader": "true"}}}),
            state.index,
        )),
        _ => Err(Response::text(
            404,
            format!("Invalid URL path: /{}", segments.join("/")),
        )),
    }
}

/// The `provider = "nomad"` group services of the allocations whose client has started them, as
/// Nomad's catalog holds them (api/services.go `ServiceRegistration`). The client registers a
/// group's services in the allocation runner's Prerun, before its tasks run
/// (client/allocrunner/groupservice_hook.go), and removes them when it stops the allocation; here
/// that is from the moment the tasks are started until the allocation is stopped.
fn service_registrations(state: &State, namespace: &str, name: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    for alloc in state.allocs.values() {
        let started = alloc["TaskStates"].is_object()
            && alloc["DesiredStatus"] == "run"
            && matches!(alloc["ClientStatus"].as_str(), Some("pending" | "running"));
        if alloc["Namespace"] != namespace || !started {
            continue;
        }
        let group = alloc["Job"]["TaskGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["Name"] == alloc["TaskGroup"]);
        let ports = alloc["AllocatedResources"]["Shared"]["Ports"].as_array();
        for service in group
            .and_then(|g| g["Services"].as_array())
            .into_iter()
            .flatten()
        {
            let service_name = service["Name"].as_str().unwrap_or_default();
            if service["Provider"] != "nomad" || name.is_some_and(|n| n != service_name) {
                continue;
            }
            let port = ports
                .into_iter()
                .flatten()
                .find(|p| p["Label"] == service["PortLabel"])
                .and_then(|p| p["Value"].as_u64())
                .unwrap_or(0);
            out.push(json!({
                "ID": format!("_nomad-task-{}-group-{}-{service_name}-{port}",
                              alloc["ID"].as_str().unwrap_or_default(),
                              alloc["TaskGroup"].as_str().unwrap_or_default()),
                "ServiceName": service_name, "Namespace": namespace,
                "NodeID": alloc["NodeID"], "Datacenter": "dc1", "JobID": alloc["JobID"],
                "AllocID": alloc["ID"], "Tags": service["Tags"].as_array().cloned().unwrap_or_default(),
                "Address": "127.0.0.1", "Port": port,
                "CreateIndex": alloc["CreateIndex"], "ModifyIndex": alloc["ModifyIndex"],
            }));
        }
    }
    out
}

/// `GET /v1/services`: per namespace, each service name with the union of its tags.
fn service_list(state: &State, namespace: &str) -> ReadResult {
    let mut services: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in service_registrations(state, namespace, None) {
        let tags = services
            .entry(r["ServiceName"].as_str().unwrap_or_default().to_string())
            .or_default();
        for t in r["Tags"].as_array().into_iter().flatten() {
            if let Some(t) = t.as_str().filter(|t| !tags.iter().any(|x| x == t)) {
                tags.push(t.to_string());
            }
        }
    }
    let list: Vec<Value> = services
        .into_iter()
        .map(|(name, tags)| json!({"ServiceName": name, "Tags": tags}))
        .collect();
    let body = if list.is_empty() {
        json!([])
    } else {
        json!([{"Namespace": namespace, "Services": list}])
    };
    Ok((body, state.table_index.get("allocs").copied().unwrap_or(1)))
}

fn alloc_stub(alloc: &Value) -> Value {
    let mut stub = alloc.clone();
    if let Some(map) = stub.as_object_mut() {
        map.remove("Job");
        map.remove("AllocatedResources");
    }
    stub
}

fn list_jobs(shared: &Shared, namespace: &str) -> Response {
    let state = shared.lock();
    let list: Vec<Value> = state
        .jobs
        .iter()
        .filter(|((ns, _), _)| namespace == "*" || ns == namespace)
        .map(|(_, job)| {
            json!({"ID": job["ID"], "Name": job["Name"], "Namespace": job["Namespace"],
                   "Type": job["Type"], "Status": job["Status"], "Stop": job["Stop"],
                   "JobModifyIndex": job["JobModifyIndex"], "ModifyIndex": job["ModifyIndex"]})
        })
        .collect();
    Response::json(
        &Value::Array(list),
        state.table_index.get("jobs").copied().unwrap_or(1),
    )
}

// ---------------------------------------------------------------------------------------------
// Validation (a faithful subset of structs.Job.Validate), multierror text

fn multierror(errors: &[String]) -> String {
    let points: Vec<String> = errors.iter().map(|e| format!("* {e}")).collect();
    let noun = if errors.len() == 1 { "error" } else { "errors" };
    format!(
        "{} {noun} occurred:\n\t{}\n\n",
        errors.len(),
        points.join("\n\t")
    )
}

fn as_i64(value: &Value) -> Option<i64> {
    value.as_i64()
}

fn validate_task(task: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    if task["Name"].as_str().unwrap_or("").is_empty() {
        errors.push("Missing task name".to_string());
    }
    if task["Driver"].as_str().unwrap_or("").is_empty() {
        errors.push("Missing task driver".to_string());
    }
    if let Some(kill) = as_i64(&task["KillTimeout"])
        && kill < 0
    {
        errors.push("KillTimeout must be a positive value".to_string());
    }
    let resources = &task["Resources"];
    if let Some(cpu) = as_i64(&resources["CPU"])
        && cpu < 1
        && as_i64(&resources["Cores"]).unwrap_or(0) == 0
    {
        errors.push(format!("minimum CPU value is 1; got {cpu}"));
    }
    if let Some(memory) = as_i64(&resources["MemoryMB"])
        && memory < 10
    {
        errors.push(format!("minimum MemoryMB value is 10; got {memory}"));
    }
    errors
}

fn validate_group(group: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    // api/tasks.go TaskGroup.Canonicalize (run before Validate): an unset count is the
    // scaling block's min, else 1.
    let count = as_i64(&group["Count"])
        .or_else(|| as_i64(&group["Scaling"]["Min"]))
        .unwrap_or(1);
    if count < 0 {
        errors.push("Task group count can't be negative".to_string());
    }
    let tasks = group["Tasks"].as_array().cloned().unwrap_or_default();
    if tasks.is_empty() {
        errors.push("Missing tasks for task group".to_string());
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, task) in tasks.iter().enumerate() {
        let name = task["Name"].as_str().unwrap_or("").to_string();
        if name.is_empty() {
            errors.push(format!("Task {} missing name", i + 1));
        } else if let Some(first) = seen.get(&name) {
            errors.push(format!(
                "Task {} redefines '{name}' from task {}",
                i + 1,
                first + 1
            ));
        } else {
            seen.insert(name.clone(), i);
        }
    }
    if let Some(scaling) = group.get("Scaling").filter(|s| s.is_object()) {
        let min = as_i64(&scaling["Min"]).unwrap_or(count);
        match as_i64(&scaling["Max"]) {
            None => errors.push(
                "Scaling policy invalid: maximum count must be specified and non-negative"
                    .to_string(),
            ),
            Some(max) if max < 0 => errors.push(
                "Scaling policy invalid: maximum count must be specified and non-negative"
                    .to_string(),
            ),
            Some(max) => {
                if min > max {
                    errors.push(
                        "Scaling policy invalid: maximum count must not be less than minimum count"
                            .to_string(),
                    );
                }
                if count < min {
                    errors.push("Scaling policy invalid: task group count must not be less than minimum count in scaling policy".to_string());
                }
                if count > max {
                    errors.push("Scaling policy invalid: task group count must not be greater than maximum count in scaling policy".to_string());
                }
            }
        }
    }
    for task in &tasks {
        let task_errors = validate_task(task);
        if !task_errors.is_empty() {
            errors.push(format!(
                "Task {} validation failed: {}",
                task["Name"].as_str().unwrap_or(""),
                multierror(&task_errors)
            ));
        }
    }
    errors
}

fn validate_job(job: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let id = job["ID"].as_str().unwrap_or("");
    if id.is_empty() {
        errors.push("Missing job ID".to_string());
    } else if id.contains(' ') {
        errors.push("Job ID contains a space".to_string());
    } else if id.contains('\0') {
        errors.push("Job ID contains a null character".to_string());
    }
    let job_type = job["Type"].as_str().unwrap_or("service");
    if !matches!(job_type, "service" | "batch" | "system" | "sysbatch") {
        errors.push(format!("Invalid job type: {job_type:?}"));
    }
    if let Some(priority) = as_i64(&job["Priority"])
        && !(1..=100).contains(&priority)
    {
        errors.push("Job priority must be between [1, 100]".to_string());
    }
    if let Some(dcs) = job["Datacenters"].as_array()
        && dcs.iter().any(|d| d.as_str().unwrap_or("").is_empty())
    {
        errors.push("Job datacenter must be non-empty string".to_string());
    }
    let groups = job["TaskGroups"].as_array().cloned().unwrap_or_default();
    if groups.is_empty() {
        errors.push("Missing job task groups".to_string());
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, group) in groups.iter().enumerate() {
        let name = group["Name"].as_str().unwrap_or("").to_string();
        if name.is_empty() {
            errors.push(format!("Job task group {} missing name", i + 1));
        } else if let Some(first) = seen.get(&name) {
            errors.push(format!(
                "Job task group {} redefines '{name}' from group {}",
                i + 1,
                first + 1
            ));
        } else {
            seen.insert(name.clone(), i);
        }
    }
    for group in &groups {
        let group_errors = validate_group(group);
        if !group_errors.is_empty() {
            errors.push(format!(
                "Task group {} validation failed: {}",
                group["Name"].as_str().unwrap_or(""),
                multierror(&group_errors)
            ));
        }
    }
    errors
}

// ---------------------------------------------------------------------------------------------
// Write endpoints

/// Decode the request body; HTTP-layer errors as the agent words them.
fn decode_body(request: &Request) -> Result<Value, Response> {
    if request.body.is_empty() {
        return Err(Response::text(400, "Request body is empty"));
    }
    serde_json::from_slice(&request.body).map_err(|e| Response::text(400, e.to_string()))
}

fn job_of(body: &Value) -> Result<Value, Response> {
    match body.get("Job") {
        Some(job) if job.is_object() => Ok(job.clone()),
        _ => Err(Response::text(400, "Job must be specified")),
    }
}

fn resolve_namespace(query: &Query, body: &Value, job: &Value) -> String {
    query
        .namespace
        .clone()
        .or_else(|| {
            body["Namespace"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        })
        .or_else(|| {
            job["Namespace"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "default".to_string())
}

/// The user spec as it is compared between versions: defaults filled, server fields removed.
fn canonical_spec(job: &Value, namespace: &str) -> Value {
    let mut spec = job.clone();
    let Some(map) = spec.as_object_mut() else {
        return spec;
    };
    for server_field in [
        "Stop",
        "Status",
        "StatusDescription",
        "Stable",
        "Version",
        "SubmitTime",
        "CreateIndex",
        "ModifyIndex",
        "JobModifyIndex",
    ] {
        map.remove(server_field);
    }
    let id = map.get("ID").cloned().unwrap_or(Value::Null);
    map.entry("Name").or_insert(id.clone());
    map.insert("Namespace".into(), json!(namespace));
    map.entry("Region").or_insert(json!("global"));
    map.entry("Type").or_insert(json!("service"));
    map.entry("Priority").or_insert(json!(50));
    if map
        .get("Datacenters")
        .and_then(Value::as_array)
        .is_none_or(|d| d.is_empty())
    {
        map.insert("Datacenters".into(), json!(["*"]));
    }
    if let Some(groups) = map.get_mut("TaskGroups").and_then(Value::as_array_mut) {
        for group in groups {
            if let Some(g) = group.as_object_mut() {
                let min = g.get("Scaling").and_then(|s| s.get("Min")).cloned();
                let count = g.entry("Count").or_insert(min.unwrap_or(json!(1))).clone();
                let name = g.get("Name").cloned().unwrap_or(Value::Null);
                // command/agent/scaling_endpoint.go ApiScalingPolicyToStructs: Min defaults to
                // the group's count, Enabled to true; the server sets Type and Target.
                if let Some(scaling) = g.get_mut("Scaling").and_then(Value::as_object_mut) {
                    for (field, default) in [
                        ("Min", count),
                        ("Enabled", json!(true)),
                        ("Type", json!("horizontal")),
                    ] {
                        if scaling.get(field).is_none_or(Value::is_null) {
                            scaling.insert(field.into(), default);
                        }
                    }
                    scaling.insert(
                        "Target".into(),
                        json!({"Namespace": namespace, "Job": id, "Group": name}),
                    );
                }
            }
        }
    }
    spec
}

fn check_enforce_index(body: &Value, existing: Option<&Value>) -> Result<(), Response> {
    if body["EnforceIndex"].as_bool() != Some(true) {
        return Ok(());
    }
    let wanted = body["JobModifyIndex"].as_u64().unwrap_or(0);
    let prefix = format!("Enforcing job modify index {wanted}");
    match (wanted, existing) {
        (0, Some(_)) => Err(Response::text(500, format!("{prefix}: job already exists"))),
        (0, None) => Ok(()),
        (_, None) => Err(Response::text(500, format!("{prefix}: job does not exist"))),
        (_, Some(job)) => {
            let current = job["JobModifyIndex"].as_u64().unwrap_or(0);
            if current == wanted {
                Ok(())
            } else {
                Err(Response::text(
                    500,
                    format!("{prefix}: job exists with conflicting job modify index: {current}"),
                ))
            }
        }
    }
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn register(
    shared: &Arc<Shared>,
    request: &Request,
    query: &Query,
    path_id: Option<&str>,
) -> Response {
    let body = match decode_body(request) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let job = match job_of(&body) {
        Ok(j) => j,
        Err(r) => return r,
    };
    let Some(id) = job["ID"].as_str().map(str::to_string) else {
        return Response::text(400, "Job ID hasn't been provided");
    };
    if let Some(path_id) = path_id
        && path_id != id
    {
        return Response::text(400, "Job ID does not match name");
    }
    if job["Type"] == "system"
        && job["TaskGroups"].as_array().is_some_and(|gs| {
            gs.iter()
                .any(|g| g.get("Scaling").is_some_and(|s| !s.is_null()))
        })
    {
        return Response::text(
            400,
            "Task groups with job type system do not support scaling blocks",
        );
    }
    let namespace = resolve_namespace(query, &body, &job);
    if let Err(denied) = authorize(shared, request, &namespace, true) {
        return denied;
    }
    if !namespace_exists(shared, &namespace) {
        return Response::text(
            500,
            format!("job {id:?} is in nonexistent namespace {namespace:?}"),
        );
    }
    let spec = canonical_spec(&job, &namespace);
    let errors = validate_job(&spec);
    if !errors.is_empty() {
        return Response::text(500, multierror(&errors));
    }
    let key = (namespace.clone(), id.clone());
    let mut state = shared.lock();
    if let Err(conflict) = check_enforce_index(&body, state.jobs.get(&key)) {
        return conflict;
    }
    let unchanged = state.specs.get(&key) == Some(&spec)
        && state.jobs.get(&key).is_some_and(|j| j["Stop"] != true);
    let job_modify_index = if unchanged {
        state.jobs[&key]["JobModifyIndex"].as_u64().unwrap_or(0)
    } else {
        let index = state.bump("jobs");
        let previous = state.jobs.get(&key);
        let version = previous
            .map(|p| p["Version"].as_u64().unwrap_or(0) + 1)
            .unwrap_or(0);
        let create_index = previous
            .and_then(|p| p["CreateIndex"].as_u64())
            .unwrap_or(index);
        let mut stored = spec.clone();
        if let Some(map) = stored.as_object_mut() {
            map.insert("Stop".into(), json!(false));
            map.insert("Status".into(), json!("pending"));
            map.insert("StatusDescription".into(), json!(""));
            map.insert("Stable".into(), json!(false));
            map.insert("Version".into(), json!(version));
            map.insert("SubmitTime".into(), json!(now_nanos() as u64));
            map.insert("CreateIndex".into(), json!(create_index));
            map.insert("ModifyIndex".into(), json!(index));
            map.insert("JobModifyIndex".into(), json!(index));
        }
        state.jobs.insert(key.clone(), stored);
        state.specs.insert(key.clone(), spec.clone());
        index
    };
    // Periodic and parameterized jobs are only templates: no evaluation, EvalID "".
    let is_template = [&spec["Periodic"], &spec["ParameterizedJob"]]
        .iter()
        .any(|v| v.is_object());
    let (eval_id, eval_index) = if is_template {
        (String::new(), 0)
    } else {
        create_eval(&mut state, &namespace, &id, "job-register")
    };
    let index = state.index;
    drop(state);
    shared.notify(index);
    if !is_template {
        spawn_scheduler(shared.clone(), eval_id.clone());
    }
    let eval_index = if is_template { index } else { eval_index };
    Response::json(
        &json!({"EvalID": eval_id, "EvalCreateIndex": eval_index,
                "JobModifyIndex": job_modify_index, "Warnings": "", "Index": eval_index,
                "LastContact": 0, "KnownLeader": false, "NextToken": ""}),
        eval_index,
    )
}

fn namespace_exists(shared: &Shared, namespace: &str) -> bool {
    namespace == "default" || shared.config.namespaces.iter().any(|n| n == namespace)
}

fn create_eval(state: &mut State, namespace: &str, job_id: &str, trigger: &str) -> (String, u64) {
    let index = state.bump("evals");
    create_eval_at(state, namespace, job_id, trigger, index)
}

/// An evaluation written in the same raft apply as a job change, at that change's `index`.
fn create_eval_at(
    state: &mut State,
    namespace: &str,
    job_id: &str,
    trigger: &str,
    index: u64,
) -> (String, u64) {
    let id = state.new_id();
    state.table_index.insert("evals", index);
    let job = &state.jobs[&(namespace.to_string(), job_id.to_string())];
    let eval = json!({
        "ID": id, "Priority": job["Priority"], "Type": job["Type"], "TriggeredBy": trigger,
        "Namespace": namespace, "JobID": job_id, "JobModifyIndex": job["JobModifyIndex"],
        "DeploymentID": "", "Status": "pending", "StatusDescription": "", "Wait": 0,
        "NextEval": "", "PreviousEval": "", "BlockedEval": "", "FailedTGAllocs": null,
        "QueuedAllocations": null, "CreateIndex": index, "ModifyIndex": index,
        "CreateTime": now_nanos() as u64, "ModifyTime": now_nanos() as u64,
    });
    state.evals.insert(id.clone(), eval);
    (id, index)
}

fn validate_endpoint(shared: &Arc<Shared>, request: &Request, query: &Query) -> Response {
    let body = match decode_body(request) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let job = match job_of(&body) {
        Ok(j) => j,
        Err(r) => return r,
    };
    let namespace = resolve_namespace(query, &body, &job);
    if let Err(denied) = authorize(shared, request, &namespace, false) {
        return denied;
    }
    let errors = validate_job(&canonical_spec(&job, &namespace));
    let error_text = if errors.is_empty() {
        String::new()
    } else {
        multierror(&errors)
    };
    let index = shared.lock().index;
    Response::json(
        &json!({"DriverConfigValidated": true, "ValidationErrors": errors,
                "Error": error_text, "Warnings": ""}),
        index,
    )
}

fn plan(shared: &Arc<Shared>, request: &Request, query: &Query, path_id: &str) -> Response {
    let body = match decode_body(request) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let job = match job_of(&body) {
        Ok(j) => j,
        Err(r) => return r,
    };
    if job["ID"].as_str() != Some(path_id) {
        return Response::text(400, "Job ID does not match");
    }
    let namespace = resolve_namespace(query, &body, &job);
    if let Err(denied) = authorize(shared, request, &namespace, true) {
        return denied;
    }
    let spec = canonical_spec(&job, &namespace);
    let errors = validate_job(&spec);
    if !errors.is_empty() {
        return Response::text(500, multierror(&errors));
    }
    let state = shared.lock();
    let key = (namespace.clone(), path_id.to_string());
    let existing = state.jobs.get(&key).filter(|j| j["Stop"] != true);
    let old_spec = existing.and_then(|_| state.specs.get(&key));
    let mut updates = Map::new();
    let mut failed = Map::new();
    let unplaceable = placement_failure_reason(&shared.config, &spec);
    for group in spec["TaskGroups"].as_array().cloned().unwrap_or_default() {
        let name = group["Name"].as_str().unwrap_or("").to_string();
        let count = group["Count"].as_u64().unwrap_or(1);
        let old_group = old_spec.and_then(|s| find_group(s, &name));
        let running = live_allocs(&state, &namespace, path_id, &name).len() as u64;
        let in_place = 0;
        let (place, ignore, destructive, stop) = match old_group {
            None => (count, 0, 0, 0),
            Some(old) if strip_count(&old) == strip_count(&group) => (
                count.saturating_sub(running),
                running.min(count),
                0,
                running.saturating_sub(count),
            ),
            Some(_) => (
                count.saturating_sub(running),
                0,
                running.min(count),
                running.saturating_sub(count),
            ),
        };
        if unplaceable.is_some() && place + destructive > 0 {
            failed.insert(
                name.clone(),
                alloc_metric(&shared.config, place + destructive),
            );
        }
        updates.insert(
            name,
            json!({"Ignore": ignore, "Place": place, "Migrate": 0, "Stop": stop,
                   "InPlaceUpdate": in_place, "DestructiveUpdate": destructive, "Canary": 0,
                   "Preemptions": 0, "Reconnect": 0, "RescheduleNow": 0, "RescheduleLater": 0}),
        );
    }
    let diff = job_diff(old_spec, &spec, body["Diff"].as_bool() == Some(true));
    let job_modify_index = existing
        .and_then(|j| j["JobModifyIndex"].as_u64())
        .unwrap_or(0);
    let index = state.index;
    Response::json(
        &json!({"Annotations": {"DesiredTGUpdates": updates, "PreemptedAllocs": null},
                "FailedTGAllocs": if failed.is_empty() { Value::Null } else { Value::Object(failed) },
                "JobModifyIndex": job_modify_index, "CreatedEvals": null, "Diff": diff,
                "NextPeriodicLaunch": "0001-01-01T00:00:00Z", "Warnings": "", "Index": index}),
        index,
    )
}

fn strip_count(group: &Value) -> Value {
    let mut g = group.clone();
    if let Some(map) = g.as_object_mut() {
        map.remove("Count");
    }
    g
}

fn find_group(spec: &Value, name: &str) -> Option<Value> {
    spec["TaskGroups"]
        .as_array()?
        .iter()
        .find(|g| g["Name"] == name)
        .cloned()
}

// --- Diff, in the structure of nomad/structs/diff.go (Type, Name, Fields, Objects, TaskGroups, Tasks)

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn diff_type(old: Option<&Value>, new: Option<&Value>) -> &'static str {
    match (old, new) {
        (None, Some(_)) => "Added",
        (Some(_), None) => "Deleted",
        (Some(o), Some(n)) if o == n => "None",
        _ => "Edited",
    }
}

/// Fields and nested objects of one object diff; maps of scalars become `Name[key]` fields.
fn object_members(
    old: &Value,
    new: &Value,
    skip: &[&str],
    contextual: bool,
) -> (Vec<Value>, Vec<Value>) {
    let empty = Map::new();
    let old_map = old.as_object().unwrap_or(&empty);
    let new_map = new.as_object().unwrap_or(&empty);
    let mut names: Vec<&String> = old_map.keys().chain(new_map.keys()).collect();
    names.sort();
    names.dedup();
    let mut fields = Vec::new();
    let mut objects = Vec::new();
    for name in names {
        if skip.contains(&name.as_str()) {
            continue;
        }
        let (o, n) = (
            old_map.get(name).filter(|v| !v.is_null()),
            new_map.get(name).filter(|v| !v.is_null()),
        );
        let is_scalar = |v: Option<&Value>| v.is_none_or(|v| scalar_text(v).is_some());
        if is_scalar(o) && is_scalar(n) {
            let kind = diff_type(o, n);
            if kind != "None" || contextual {
                fields.push(json!({"Type": kind, "Name": name,
                    "Old": o.and_then(scalar_text).unwrap_or_default(),
                    "New": n.and_then(scalar_text).unwrap_or_default(), "Annotations": null}));
            }
        } else if let Some(object) = object_diff(name, o, n, contextual) {
            objects.push(object);
        }
    }
    (fields, objects)
}

fn object_diff(
    name: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    contextual: bool,
) -> Option<Value> {
    let kind = diff_type(old, new);
    if kind == "None" && !contextual {
        return None;
    }
    let null = Value::Null;
    let flatten = |v: Option<&Value>| -> Value {
        match v {
            Some(Value::Array(items)) => Value::Object(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| (format!("{name}[{i}]"), item.clone()))
                    .collect(),
            ),
            Some(other) => other.clone(),
            None => Value::Null,
        }
    };
    let (o, n) = (flatten(old), flatten(new));
    let (fields, objects) = object_members(
        if old.is_some() { &o } else { &null },
        if new.is_some() { &n } else { &null },
        &[],
        contextual,
    );
    Some(json!({"Type": kind, "Name": name, "Fields": fields, "Objects": objects}))
}

fn named_list_diff(
    old: Option<&Value>,
    new: Option<&Value>,
    list_key: &str,
    children: Option<&str>,
) -> Vec<Value> {
    let items = |v: Option<&Value>| -> Vec<Value> {
        v.and_then(|v| v[list_key].as_array().cloned())
            .unwrap_or_default()
    };
    let (old_items, new_items) = (items(old), items(new));
    let mut names: Vec<String> = Vec::new();
    for item in new_items.iter().chain(old_items.iter()) {
        let name = item["Name"].as_str().unwrap_or("").to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
        .iter()
        .map(|name| {
            let o = old_items.iter().find(|i| i["Name"] == name.as_str());
            let n = new_items.iter().find(|i| i["Name"] == name.as_str());
            let kind = diff_type(o, n);
            let skip: Vec<&str> = children.into_iter().chain(["Name"]).collect();
            let (fields, objects) = object_members(
                o.unwrap_or(&Value::Null),
                n.unwrap_or(&Value::Null),
                &skip,
                false,
            );
            let mut diff =
                json!({"Type": kind, "Name": name, "Fields": fields, "Objects": objects});
            if let Some(child_key) = children {
                diff["Tasks"] = Value::Array(named_list_diff(o, n, child_key, None));
                diff["Updates"] = json!({});
            } else {
                diff["Annotations"] = if kind == "Edited" {
                    json!(["forces create/destroy update"])
                } else {
                    Value::Null
                };
            }
            diff
        })
        .collect()
}

fn job_diff(old: Option<&Value>, new: &Value, wanted: bool) -> Value {
    if !wanted {
        return Value::Null;
    }
    let kind = diff_type(old, Some(new));
    let (fields, objects) = object_members(
        old.unwrap_or(&Value::Null),
        new,
        &["TaskGroups", "ID"],
        false,
    );
    json!({"Type": kind, "ID": new["ID"], "Fields": fields, "Objects": objects,
           "TaskGroups": named_list_diff(old, Some(new), "TaskGroups", Some("Tasks"))})
}

// --- Scheduler: evaluation → allocations + deployment

fn placement_failure_reason(config: &DoubleConfig, spec: &Value) -> Option<String> {
    let id = spec["ID"].as_str().unwrap_or("");
    if config.unplaceable_jobs.contains(id) {
        return Some("resources exhausted".to_string());
    }
    let dcs: Vec<&str> = spec["Datacenters"]
        .as_array()
        .map(|d| d.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let matches = dcs.is_empty() || dcs.iter().any(|dc| *dc == "*" || *dc == config.datacenter);
    if matches {
        None
    } else {
        Some("no datacenter".to_string())
    }
}

fn alloc_metric(config: &DoubleConfig, _wanted: u64) -> Value {
    json!({"NodesEvaluated": 1, "NodesFiltered": 0, "NodesInPool": 1,
           "NodesAvailable": {config.datacenter.clone(): 1},
           "ClassFiltered": null, "ConstraintFiltered": null, "NodesExhausted": 1,
           "ClassExhausted": null, "DimensionExhausted": {"memory": 1},
           "QuotaExhausted": null, "ResourcesExhausted": null, "Scores": null,
           "AllocationTime": 12000, "CoalescedFailures": 0})
}

fn live_allocs(state: &State, namespace: &str, job_id: &str, group: &str) -> Vec<String> {
    state
        .allocs
        .values()
        .filter(|a| {
            a["Namespace"] == namespace
                && a["JobID"] == job_id
                && a["TaskGroup"] == group
                && a["DesiredStatus"] == "run"
        })
        .filter_map(|a| a["ID"].as_str().map(str::to_string))
        .collect()
}

fn spawn_scheduler(shared: Arc<Shared>, eval_id: String) {
    tokio::spawn(async move {
        // A zero delay must not wait for the timer's next tick (up to 1 ms).
        if !shared.config.eval_delay.is_zero() {
            tokio::time::sleep(shared.config.eval_delay).await;
        }
        let (starts, stops) = schedule(&shared, &eval_id);
        for spec in stops {
            spawn_stop(&shared, spec);
        }
        for (spec, deployment_id) in starts {
            let shared = shared.clone();
            tokio::spawn(async move {
                tasks_started(&shared, &spec);
                let outcome = shared.config.runner.start(spec.clone()).await;
                alloc_finished(&shared, &spec, deployment_id.as_deref(), outcome);
            });
        }
    });
}

type Starts = Vec<(AllocationSpec, Option<String>)>;

/// Process one evaluation: returns the allocations to start (with their deployment) and stop.
fn schedule(shared: &Arc<Shared>, eval_id: &str) -> (Starts, Vec<AllocationSpec>) {
    let mut state = shared.lock();
    let Some(eval) = state.evals.get(eval_id).cloned() else {
        return (vec![], vec![]);
    };
    let namespace = eval["Namespace"].as_str().unwrap_or("default").to_string();
    let job_id = eval["JobID"].as_str().unwrap_or("").to_string();
    let key = (namespace.clone(), job_id.clone());
    let Some(job) = state.jobs.get(&key).cloned() else {
        return (vec![], vec![]);
    };
    let stopped = job["Stop"] == true;
    let version = job["Version"].as_u64().unwrap_or(0);
    let mut starts = Vec::new();
    let mut stops = Vec::new();
    let index = state.bump("allocs");

    // Cancel a running deployment of an older version or of a stopped job.
    let active: Vec<String> = state
        .deployments
        .values()
        .filter(|d| d["Namespace"] == namespace.as_str() && d["JobID"] == job_id.as_str())
        .filter(|d| d["Status"] == "running")
        .filter(|d| stopped || d["JobVersion"].as_u64() != Some(version))
        .filter_map(|d| d["ID"].as_str().map(str::to_string))
        .collect();
    for id in active {
        if let Some(d) = state.deployments.get_mut(&id) {
            d["Status"] = json!("cancelled");
            d["StatusDescription"] = json!(if stopped {
                "Cancelled because job is stopped"
            } else {
                "Cancelled due to newer version of job"
            });
            d["ModifyIndex"] = json!(index);
        }
    }

    let groups = job["TaskGroups"].as_array().cloned().unwrap_or_default();
    let failure = if stopped {
        None
    } else {
        placement_failure_reason(&shared.config, &job)
    };
    let mut failed_tg = Map::new();
    let mut queued = Map::new();
    let mut deployment_groups = Map::new();
    let mut placements: Vec<(String, Value, u64)> = Vec::new();

    // Stop allocations of groups that no longer exist, or all of them when the job is stopped.
    let group_names: HashSet<String> = groups
        .iter()
        .filter_map(|g| g["Name"].as_str().map(str::to_string))
        .collect();
    let all_live: Vec<String> = state
        .allocs
        .values()
        .filter(|a| a["Namespace"] == namespace.as_str() && a["JobID"] == job_id.as_str())
        .filter(|a| a["DesiredStatus"] == "run")
        .filter(|a| stopped || !group_names.contains(a["TaskGroup"].as_str().unwrap_or("")))
        .filter_map(|a| a["ID"].as_str().map(str::to_string))
        .collect();
    for id in all_live {
        stops.extend(stop_alloc(
            &mut state,
            &id,
            index,
            "alloc not needed due to job update",
        ));
    }

    if !stopped {
        for group in &groups {
            let name = group["Name"].as_str().unwrap_or("").to_string();
            let count = group["Count"].as_u64().unwrap_or(1);
            let live = live_allocs(&state, &namespace, &job_id, &name);
            let mut keep: Vec<String> = Vec::new();
            for id in live {
                let alloc = &state.allocs[&id];
                let spec_unchanged = strip_count(
                    &alloc["Job"]["TaskGroups"]
                        .as_array()
                        .and_then(|gs| gs.iter().find(|g| g["Name"] == name.as_str()).cloned())
                        .unwrap_or(Value::Null),
                ) == strip_count(group);
                if spec_unchanged && alloc["ClientStatus"] != "failed" {
                    keep.push(id);
                } else {
                    stops.extend(stop_alloc(
                        &mut state,
                        &id,
                        index,
                        "alloc is being updated due to job update",
                    ));
                }
            }
            keep.sort_by_key(|id| alloc_index_of(&state.allocs[id]));
            while keep.len() as u64 > count {
                if let Some(id) = keep.pop() {
                    stops.extend(stop_alloc(
                        &mut state,
                        &id,
                        index,
                        "alloc not needed due to job update",
                    ));
                }
            }
            for id in &keep {
                if let Some(a) = state.allocs.get_mut(id) {
                    a["JobVersion"] = json!(version);
                    a["Job"] = job.clone();
                    a["ModifyIndex"] = json!(index);
                }
            }
            let used: HashSet<u64> = keep
                .iter()
                .map(|id| alloc_index_of(&state.allocs[id]))
                .collect();
            let wanted = count.saturating_sub(keep.len() as u64);
            if wanted > 0 && failure.is_some() {
                failed_tg.insert(name.clone(), alloc_metric(&shared.config, wanted));
                queued.insert(name.clone(), json!(wanted));
                continue;
            }
            queued.insert(name.clone(), json!(0));
            let mut next = 0;
            for _ in 0..wanted {
                while used.contains(&next) {
                    next += 1;
                }
                placements.push((name.clone(), group.clone(), next));
                next += 1;
            }
            if wanted > 0 && job["Type"] == "service" {
                let update = group
                    .get("Update")
                    .filter(|u| u.is_object())
                    .or(job.get("Update").filter(|u| u.is_object()));
                let progress_deadline = update
                    .and_then(|u| u["ProgressDeadline"].as_u64())
                    .unwrap_or(600_000_000_000);
                deployment_groups.insert(
                    name.clone(),
                    json!({"AutoRevert": update.and_then(|u| u.get("AutoRevert")).cloned().unwrap_or(json!(false)),
                           "AutoPromote": false, "ProgressDeadline": progress_deadline,
                           "RequireProgressBy": null, "Promoted": false, "PlacedCanaries": null,
                           "DesiredCanaries": 0, "DesiredTotal": count, "PlacedAllocs": 0,
                           "HealthyAllocs": 0, "UnhealthyAllocs": 0}),
                );
            }
        }
    }

    let deployment_id = if deployment_groups.is_empty() {
        None
    } else {
        let id = state.new_id();
        state.table_index.insert("deployment", index);
        state.deployments.insert(
            id.clone(),
            json!({"ID": id, "Namespace": namespace, "JobID": job_id, "JobVersion": version,
                   "JobModifyIndex": job["JobModifyIndex"], "JobSpecModifyIndex": job["JobModifyIndex"],
                   "JobCreateIndex": job["CreateIndex"], "IsMultiregion": false,
                   "TaskGroups": deployment_groups, "Status": "running",
                   "StatusDescription": "Deployment is running", "EvalPriority": job["Priority"],
                   "CreateIndex": index, "ModifyIndex": index,
                   "CreateTime": now_nanos() as u64, "ModifyTime": now_nanos() as u64}),
        );
        Some(id)
    };

    for (group_name, group, alloc_index) in placements {
        let alloc_id = state.new_id();
        let mut ports = BTreeMap::new();
        for network in group["Networks"].as_array().cloned().unwrap_or_default() {
            for port in network["DynamicPorts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                if let Some(label) = port["Label"].as_str() {
                    ports.insert(label.to_string(), free_port());
                }
            }
            for port in network["ReservedPorts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                if let (Some(label), Some(value)) = (port["Label"].as_str(), port["Value"].as_u64())
                {
                    ports.insert(label.to_string(), value as u16);
                }
            }
        }
        let port_list: Vec<Value> = ports
            .iter()
            .map(|(label, value)| json!({"Label": label, "Value": value, "To": 0, "HostIP": "127.0.0.1"}))
            .collect();
        let name = format!("{job_id}.{group_name}[{alloc_index}]");
        let alloc = json!({
            "ID": alloc_id, "EvalID": eval_id, "Name": name, "Namespace": namespace,
            "NodeID": "00000000-0000-0000-0000-000000000001", "NodeName": "double-node",
            "JobID": job_id, "JobType": job["Type"], "JobVersion": version, "TaskGroup": group_name,
            "DesiredStatus": "run", "DesiredDescription": "", "ClientStatus": "pending",
            "ClientDescription": "No tasks have started", "TaskStates": null,
            "DeploymentID": deployment_id.clone().unwrap_or_default(),
            "DeploymentStatus": null, "FollowupEvalID": "", "NextAllocation": "",
            "CreateIndex": index, "ModifyIndex": index,
            "CreateTime": now_nanos() as u64, "ModifyTime": now_nanos() as u64,
            "Job": job, "AllocatedResources": {"Shared": {"Ports": port_list}},
        });
        state.allocs.insert(alloc_id.clone(), alloc);
        let spec = AllocationSpec {
            id: alloc_id.clone(),
            job_id: job_id.clone(),
            task_group: group_name.clone(),
            group,
            ports,
        };
        state.alloc_specs.insert(alloc_id, spec.clone());
        if let Some(deployment) = deployment_id
            .as_ref()
            .and_then(|id| state.deployments.get_mut(id))
        {
            let placed = &mut deployment["TaskGroups"][&group_name]["PlacedAllocs"];
            *placed = json!(placed.as_u64().unwrap_or(0) + 1);
        }
        starts.push((spec, deployment_id.clone()));
    }

    let blocked_eval = if failed_tg.is_empty() {
        String::new()
    } else {
        let (blocked_id, _) = create_eval(&mut state, &namespace, &job_id, "queued-allocs");
        if let Some(blocked) = state.evals.get_mut(&blocked_id) {
            blocked["Status"] = json!("blocked");
            blocked["StatusDescription"] = json!("created to place remaining allocations");
            blocked["PreviousEval"] = json!(eval_id);
        }
        blocked_id
    };
    let index = state.bump("evals");
    if let Some(e) = state.evals.get_mut(eval_id) {
        e["Status"] = json!("complete");
        e["DeploymentID"] = json!(deployment_id.clone().unwrap_or_default());
        e["BlockedEval"] = json!(blocked_eval);
        e["FailedTGAllocs"] = if failed_tg.is_empty() {
            Value::Null
        } else {
            Value::Object(failed_tg)
        };
        e["QueuedAllocations"] = Value::Object(queued);
        e["ModifyIndex"] = json!(index);
        e["ModifyTime"] = json!(now_nanos() as u64);
    }
    if let Some(j) = state.jobs.get_mut(&key) {
        let status = if stopped {
            "dead"
        } else if starts.is_empty() && j["Status"] == "pending" {
            "pending"
        } else {
            "running"
        };
        if j["Status"] != status {
            j["Status"] = json!(status);
            j["ModifyIndex"] = json!(index);
        }
    }
    if let Some(id) = &deployment_id {
        maybe_finish_deployment(&mut state, id, index);
    }
    drop(state);
    shared.notify(index);
    (starts, stops)
}

fn alloc_index_of(alloc: &Value) -> u64 {
    alloc["Name"]
        .as_str()
        .and_then(|n| {
            n.rsplit_once('[')
                .and_then(|(_, rest)| rest.trim_end_matches(']').parse().ok())
        })
        .unwrap_or(0)
}

/// The server's half of stopping an allocation: its desired status. The client status changes
/// when the client has stopped it ([`spawn_stop`]), as in Nomad, where a stopping allocation
/// stays `running` through its `shutdown_delay` and kill timeout.
fn stop_alloc(state: &mut State, id: &str, index: u64, why: &str) -> Option<AllocationSpec> {
    let alloc = state.allocs.get_mut(id)?;
    alloc["DesiredStatus"] = json!("stop");
    alloc["DesiredDescription"] = json!(why);
    alloc["ModifyIndex"] = json!(index);
    state.alloc_specs.get(id).cloned()
}

/// The client's half: the runner stops the allocation, then it is reported `complete`.
fn spawn_stop(shared: &Arc<Shared>, spec: AllocationSpec) {
    let shared = shared.clone();
    tokio::spawn(async move {
        shared.config.runner.stop(spec.clone()).await;
        let mut state = shared.lock();
        let index = state.bump("allocs");
        let Some(alloc) = state.allocs.get_mut(&spec.id) else {
            return;
        };
        if alloc["ClientStatus"] == "running" || alloc["ClientStatus"] == "pending" {
            alloc["ClientStatus"] = json!("complete");
            alloc["ClientDescription"] = json!("All tasks have completed");
            alloc["ModifyIndex"] = json!(index);
        }
        drop(state);
        shared.notify(index);
    });
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// The client starts the allocation's tasks: as Nomad does, each task gets a `TaskStates`
/// entry, `running` with `StartedAt` (RFC 3339 with nanoseconds), while the allocation's health
/// is still pending (the runner decides it).
fn tasks_started(shared: &Arc<Shared>, spec: &AllocationSpec) {
    let mut state = shared.lock();
    let index = state.bump("allocs");
    let Some(alloc) = state.allocs.get_mut(&spec.id) else {
        return;
    };
    if alloc["DesiredStatus"] != "run" {
        return;
    }
    let now = now_nanos() as u64;
    let started_at = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
    let tasks: Map<String, Value> = spec.group["Tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["Name"].as_str())
        .map(|name| {
            let state = json!({
                "State": "running", "Failed": false, "Restarts": 0,
                "StartedAt": started_at, "FinishedAt": null, "LastRestart": null,
                "Events": [
                    {"Type": "Received", "Time": now, "DisplayMessage": "Task received by client"},
                    {"Type": "Started", "Time": now, "DisplayMessage": "Task started by client"},
                ],
            });
            (name.to_string(), state)
        })
        .collect();
    alloc["TaskStates"] = Value::Object(tasks);
    alloc["ModifyIndex"] = json!(index);
    drop(state);
    shared.notify(index);
}

fn alloc_finished(
    shared: &Arc<Shared>,
    spec: &AllocationSpec,
    deployment_id: Option<&str>,
    outcome: AllocOutcome,
) {
    let mut state = shared.lock();
    let index = state.bump("allocs");
    let healthy = outcome == AllocOutcome::Healthy;
    let Some(alloc) = state.allocs.get_mut(&spec.id) else {
        return;
    };
    if alloc["DesiredStatus"] != "run" {
        return;
    }
    alloc["ClientStatus"] = json!(if healthy { "running" } else { "failed" });
    alloc["ClientDescription"] = json!(match &outcome {
        AllocOutcome::Healthy => "Tasks are running".to_string(),
        AllocOutcome::Unhealthy(why) => why.clone(),
    });
    alloc["DeploymentStatus"] = json!({"Healthy": healthy, "Timestamp": now_nanos() as u64,
                                       "Canary": false, "ModifyIndex": index});
    alloc["ModifyIndex"] = json!(index);
    if let Some(id) = deployment_id
        && let Some(d) = state.deployments.get_mut(id)
        && d["Status"] == "running"
    {
        let group = &mut d["TaskGroups"][&spec.task_group];
        let field = if healthy {
            "HealthyAllocs"
        } else {
            "UnhealthyAllocs"
        };
        group[field] = json!(group[field].as_u64().unwrap_or(0) + 1);
        d["ModifyIndex"] = json!(index);
        maybe_finish_deployment(&mut state, id, index);
    }
    drop(state);
    shared.notify(index);
}

fn maybe_finish_deployment(state: &mut State, id: &str, index: u64) {
    let Some(d) = state.deployments.get_mut(id) else {
        return;
    };
    if d["Status"] != "running" {
        return;
    }
    let groups = d["TaskGroups"].as_object().cloned().unwrap_or_default();
    let unhealthy = groups
        .values()
        .any(|g| g["UnhealthyAllocs"].as_u64().unwrap_or(0) > 0);
    let done = groups.values().all(|g| {
        g["HealthyAllocs"].as_u64().unwrap_or(0) >= g["DesiredTotal"].as_u64().unwrap_or(0)
    });
    let (status, description) = if unhealthy {
        ("failed", "Failed due to unhealthy allocations")
    } else if done {
        ("successful", "Deployment completed successfully")
    } else {
        return;
    };
    d["Status"] = json!(status);
    d["StatusDescription"] = json!(description);
    d["ModifyIndex"] = json!(index);
    state.table_index.insert("deployment", index);
    if status == "successful" {
        let key = (
            d["Namespace"].as_str().unwrap_or("").to_string(),
            d["JobID"].as_str().unwrap_or("").to_string(),
        );
        let version = d["JobVersion"].clone();
        if let Some(job) = state.jobs.get_mut(&key)
            && job["Version"] == version
        {
            job["Stable"] = json!(true);
            job["ModifyIndex"] = json!(index);
        }
    }
}

// --- Deregister and scale

fn deregister(shared: &Arc<Shared>, namespace: &str, id: &str, purge: bool) -> Response {
    let mut state = shared.lock();
    let key = (namespace.to_string(), id.to_string());
    if !state.jobs.contains_key(&key) {
        let index = state.index;
        return Response::json(
            &json!({"EvalID": "", "EvalCreateIndex": 0, "JobModifyIndex": 0, "VolumeEvalID": "",
                    "VolumeEvalIndex": 0, "Index": index, "LastContact": 0, "KnownLeader": false}),
            index,
        );
    }
    // nomad/job_endpoint.go Job.Deregister: one raft apply carries the stop and its evaluation,
    // so JobModifyIndex, EvalCreateIndex and Index are the same index.
    let index = state.bump("jobs");
    if let Some(job) = state.jobs.get_mut(&key) {
        job["Stop"] = json!(true);
        job["ModifyIndex"] = json!(index);
        job["JobModifyIndex"] = json!(index);
        // nomad/fsm.go handleJobDeregister re-inserts the stopped copy through
        // state_store.go upsertJobImpl, which bumps Version like any other write.
        job["Version"] = json!(job["Version"].as_u64().unwrap_or(0) + 1);
        job["Stable"] = json!(false);
        // "When a job is stopped, all its scaling policies are disabled" (command/job_start.go,
        // which therefore restores Scaling.Enabled from the job's submission before starting it).
        if let Some(groups) = job["TaskGroups"].as_array_mut() {
            for group in groups {
                if let Some(scaling) = group.get_mut("Scaling").filter(|s| s.is_object()) {
                    scaling["Enabled"] = json!(false);
                }
            }
        }
    }
    state.specs.remove(&key);
    let (eval_id, _) = create_eval_at(&mut state, namespace, id, "job-deregister", index);
    drop(state);
    // The eval stops the allocations; run it at once so that a purge finds them stopped.
    let (_, stops) = schedule(shared, &eval_id);
    for spec in stops {
        spawn_stop(shared, spec);
    }
    let mut state = shared.lock();
    if purge {
        state.jobs.remove(&key);
        state.bump("jobs");
    }
    let final_index = state.index;
    drop(state);
    shared.notify(final_index);
    Response::json(
        &json!({"EvalID": eval_id, "EvalCreateIndex": index, "JobModifyIndex": index,
                "VolumeEvalID": "", "VolumeEvalIndex": 0, "Index": index,
                "LastContact": 0, "KnownLeader": false}),
        index,
    )
}

/// `GET /v1/job/:id/scale`, as nomad/job_endpoint.go Job.ScaleStatus builds it.
fn scale_status(state: &State, namespace: &str, id: &str) -> ReadResult {
    let key = (namespace.to_string(), id.to_string());
    let Some(job) = state.jobs.get(&key) else {
        return Err(Response::text(404, "job not found"));
    };
    let mut groups = Map::new();
    let events = state.scale_events.get(&key);
    let job_allocs: Vec<&Value> = state
        .allocs
        .values()
        .filter(|a| a["Namespace"] == namespace && a["JobID"] == id)
        .collect();
    for group in job["TaskGroups"].as_array().cloned().unwrap_or_default() {
        let name = group["Name"].as_str().unwrap_or("").to_string();
        // Canaries and terminal allocations (alloc.TerminalStatus(): desired stop or evict,
        // or client complete, failed or lost) are not counted.
        let allocs: Vec<&&Value> = job_allocs
            .iter()
            .filter(|a| a["TaskGroup"] == name.as_str())
            .filter(|a| a["DeploymentStatus"]["Canary"] != true)
            .filter(|a| {
                !matches!(a["DesiredStatus"].as_str(), Some("stop" | "evict"))
                    && !matches!(
                        a["ClientStatus"].as_str(),
                        Some("complete" | "failed" | "lost")
                    )
            })
            .collect();
        let healthy = allocs
            .iter()
            .filter(|a| a["DeploymentStatus"]["Healthy"] == true)
            .count();
        let unhealthy = allocs
            .iter()
            .filter(|a| a["DeploymentStatus"]["Healthy"] == false)
            .count();
        let running = allocs
            .iter()
            .filter(|a| a["ClientStatus"] == "running")
            .count();
        // `events[tg.Name]` of a group never scaled is a nil slice, which Nomad's JSON encoder
        // writes as null (go-msgpack codec, kSlice).
        let group_events = events
            .and_then(|e| e.get(&name))
            .map_or(Value::Null, |list| Value::Array(list.clone()));
        groups.insert(
            name,
            json!({"Desired": group["Count"], "Placed": allocs.len(), "Running": running,
                   "Healthy": healthy, "Unhealthy": unhealthy, "Events": group_events}),
        );
    }
    // The reply's index: the job's, its scaling events' and its allocations', whichever is
    // newest.
    let index = [job["ModifyIndex"].as_u64().unwrap_or(1)]
        .into_iter()
        .chain(
            events
                .into_iter()
                .flat_map(|e| e.values().flatten())
                .filter_map(|e| e["CreateIndex"].as_u64()),
        )
        .chain(job_allocs.iter().filter_map(|a| a["ModifyIndex"].as_u64()))
        .max()
        .unwrap_or(1);
    // "JobModifyIndex" here is job.ModifyIndex, not job.JobModifyIndex (Job.ScaleStatus).
    Ok((
        json!({"JobID": id, "Namespace": namespace, "JobCreateIndex": job["CreateIndex"],
               "JobModifyIndex": job["ModifyIndex"], "JobStopped": job["Stop"],
               "TaskGroups": groups}),
        index,
    ))
}

fn scale(shared: &Arc<Shared>, request: &Request, namespace: &str, id: &str) -> Response {
    let body = match decode_body(request) {
        Ok(b) => b,
        Err(r) => return r,
    };
    // command/agent/job_endpoint.go jobScaleAction, before the RPC.
    if let Some(target_job) = body["Target"]["Job"].as_str()
        && target_job != id
    {
        return Response::text(400, "job ID in payload did not match URL");
    }
    if let Err(denied) = authorize(shared, request, namespace, true) {
        return denied;
    }
    // nomad/structs/structs.go JobScaleRequest.Validate, in its order.
    if let Some(target_namespace) = body["Target"]["Namespace"].as_str()
        && target_namespace != namespace
    {
        return Response::text(400, "namespace in payload did not match header");
    }
    let Some(group_name) = body["Target"]["Group"]
        .as_str()
        .filter(|g| !g.is_empty())
        .map(str::to_string)
    else {
        return Response::text(400, "missing task group name for scaling action");
    };
    let count = body.get("Count").and_then(Value::as_i64);
    if let Some(c) = count {
        if c < 0 {
            return Response::text(400, "scaling action count can't be negative");
        }
        if body["Error"] == true {
            return Response::text(
                400,
                "scaling action should not contain count if error is true",
            );
        }
    }
    // nomad/job_endpoint.go Job.Scale from here on.
    let key = (namespace.to_string(), id.to_string());
    let mut state = shared.lock();
    let Some(job) = state.jobs.get(&key).cloned() else {
        return Response::text(404, format!("job {id:?} not found"));
    };
    if job["Type"] == "system"
        && let Some(c) = count
        && c > 1
    {
        return Response::text(400, "jobs of type \"system\" can only be scaled to 1 or 0");
    }
    let Some(group) = find_group(&job, &group_name) else {
        return Response::text(
            400,
            format!("task group {group_name:?} specified for scaling does not exist in job"),
        );
    };
    if let Some(c) = count {
        // Job.Scale checks the group's scaling bounds whenever it has a scaling block, enabled
        // or not (a stopped job's policies are disabled), and PolicyOverride does not bypass it.
        if let Some(scaling) = group.get("Scaling").filter(|s| s.is_object()) {
            if let Some(min) = scaling["Min"].as_i64()
                && c < min
            {
                return Response::text(
                    400,
                    format!("group count was less than scaling policy minimum: {c} < {min}"),
                );
            }
            if let Some(max) = scaling["Max"].as_i64()
                && c > max
            {
                return Response::text(
                    400,
                    format!("group count was greater than scaling policy maximum: {c} > {max}"),
                );
            }
        }
        let active = state
            .deployments
            .values()
            .any(|d| d["Namespace"] == namespace && d["JobID"] == id && d["Status"] == "running");
        if active {
            return Response::text(400, "job scaling blocked due to active deployment");
        }
    }
    let event_index = state.bump("scaling_event");
    let previous = group["Count"].as_i64().unwrap_or(0);
    let (eval_id, eval_index, job_modify_index) = match count {
        // Only an event: the reply carries job.ModifyIndex (Job.Scale).
        None => (String::new(), 0, job["ModifyIndex"].as_u64().unwrap_or(0)),
        Some(c) => {
            let index = state.bump("jobs");
            if let Some(stored) = state.jobs.get_mut(&key) {
                if let Some(groups) = stored["TaskGroups"].as_array_mut() {
                    for g in groups
                        .iter_mut()
                        .filter(|g| g["Name"] == group_name.as_str())
                    {
                        g["Count"] = json!(c);
                    }
                }
                stored["Version"] = json!(stored["Version"].as_u64().unwrap_or(0) + 1);
                stored["JobModifyIndex"] = json!(index);
                stored["ModifyIndex"] = json!(index);
                stored["Stable"] = json!(false);
            }
            if let Some(spec) = state.specs.get_mut(&key)
                && let Some(groups) = spec["TaskGroups"].as_array_mut()
            {
                for g in groups
                    .iter_mut()
                    .filter(|g| g["Name"] == group_name.as_str())
                {
                    g["Count"] = json!(c);
                }
            }
            let (eval_id, eval_index) = create_eval(&mut state, namespace, id, "job-scaling");
            (eval_id, eval_index, index)
        }
    };
    let event = json!({"Count": count, "PreviousCount": previous,
        "Error": body["Error"].as_bool().unwrap_or(false),
        // structs.ScalingEvent.Message is a string: an absent message is "".
        "Message": body["Message"].as_str().unwrap_or(""),
        "Meta": body["Meta"], "EvalID": if eval_id.is_empty() { Value::Null } else { json!(eval_id) },
        "Time": now_nanos() as u64, "CreateIndex": event_index});
    state
        .scale_events
        .entry(key)
        .or_default()
        .entry(group_name)
        .or_default()
        .insert(0, event);
    let index = state.index;
    drop(state);
    shared.notify(index);
    if !eval_id.is_empty() {
        spawn_scheduler(shared.clone(), eval_id.clone());
    }
    Response::json(
        &json!({"EvalID": eval_id, "EvalCreateIndex": eval_index, "JobModifyIndex": job_modify_index,
                "Warnings": "", "Index": index, "LastContact": 0, "KnownLeader": false}),
        index,
    )
}
