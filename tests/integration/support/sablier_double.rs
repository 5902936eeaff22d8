//! A double of Sablier's HTTP API with its Nomad provider, for tests of the scale-to-zero path
//! without a Sablier binary. It talks to a Nomad API (the project's Nomad double) over HTTP as
//! Sablier does, and answers the blocking strategy as Sablier's source does (sablierapp/sablier;
//! each rule cites its file):
//!
//! - `GET /api/strategies/blocking` with `names` (repeatable) or `group` (never both: 400; neither:
//!   400), `session_duration` and `timeout` (Go durations, defaults from the config)
//!   (internal/api/start_blocking.go). An unknown group is 404 "Group not found" with the
//!   available groups (pkg/sablier/session_request.go `RequestReadySessionGroup`,
//!   internal/api/problemdetail.go). Ready: 200, JSON `{"session": …}` and
//!   `X-Sablier-Session-Status: ready`. Not ready before the timeout: 504 problem+json "session
//!   was not ready after …". A failed start: 500. Errors carry no status header.
//! - Each request asks every instance once, then every `refresh_frequency` until all are ready
//!   (session_request.go `requestReadySession`). Per instance (pkg/sablier/instance_request.go
//!   `InstanceRequest`): not in the session store → start it asynchronously and answer
//!   not-ready; stored but not ready → inspect it through the provider (unless its start is still
//!   running); stored ready → answered from the store. Every request puts the instance back in
//!   the store for `session_duration`, so each request extends the session.
//! - Ready means status ready and, with `sablier.ready-after`, that long since it first became
//!   ready (pkg/sablier/instance.go `IsReady`).
//! - When a session expires (checked every `expiration_interval`, the in-memory store's tick),
//!   the instance is stopped (pkg/sablier/instance_expired.go `OnInstanceExpired`).
//! - Nomad provider (pkg/provider/nomad): instances are `<job>/<group>`, found by the job's meta
//!   with the group's laid over it holding `sablier.enable = "true"`; `sablier.group` is a
//!   comma-separated list, `default` when empty (instance.go `ParseGroups`). Start scales the
//!   group to max(`sablier.active.replicas`, 1) with `POST /v1/job/:id/scale`, nothing when the
//!   count is already that (job_start.go); stop scales to `sablier.idle.replicas` (0)
//!   (job_stop.go); inspect (job_inspect.go): count 0 → stopped; ready when the allocations of
//!   the group with desired status run that are `running` and deployment-healthy (or not in a
//!   deployment) number at least the count; failed/lost only → error; otherwise starting.
//!
//! Not reproduced: discovery through Nomad's event stream (this double lists the jobs every
//! `discovery_interval`, and on [`SablierDouble::scan`]; the window in which a new job's group
//! is unknown exists in both), the fallbacks for stopped jobs and for a scale refused during an
//! active deployment (Sablier then registers the job again; here the refusal is the start's
//! error), auto-stop on start-up, persistence, the dynamic strategy and the other providers.

use super::loopback_http::{Reply, bind, query_pairs, reply, serve_on};
use hyper::body::Incoming;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Settings of a Sablier double (Sablier's flag in each comment).
#[derive(Debug, Clone)]
pub struct SablierConfig {
    /// The Nomad API (`--provider.nomad.address`), e.g. the Nomad double's address.
    pub nomad_address: String,
    /// `--provider.nomad.namespace`.
    pub namespace: String,
    /// `--strategy.blocking.default-refresh-frequency` (Sablier's default is 5s).
    pub refresh_frequency: Duration,
    /// `--sessions.expiration-interval` (default 20s).
    pub expiration_interval: Duration,
    /// `--sessions.default-duration` (default 5m).
    pub default_session_duration: Duration,
    /// `--strategy.blocking.default-timeout` (default 1m).
    pub default_timeout: Duration,
    /// How often the jobs are listed again (stands in for the event stream).
    pub discovery_interval: Duration,
}

impl SablierConfig {
    /// Sablier's defaults, except a refresh frequency and expiration check fit for tests.
    pub fn new(nomad_address: &str) -> SablierConfig {
        SablierConfig {
            nomad_address: nomad_address.trim_end_matches('/').to_string(),
            namespace: "default".to_string(),
            refresh_frequency: Duration::from_millis(50),
            expiration_interval: Duration::from_millis(100),
            default_session_duration: Duration::from_secs(300),
            default_timeout: Duration::from_secs(60),
            discovery_interval: Duration::from_millis(200),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    NotReady,
    Starting,
    Ready,
    Stopped,
    Error,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::NotReady => "not-ready",
            Status::Starting => "starting",
            Status::Ready => "ready",
            Status::Stopped => "stopped",
            Status::Error => "error",
        }
    }
}

/// What Sablier knows of one instance (`InstanceInfo`).
#[derive(Debug, Clone)]
struct Instance {
    name: String,
    status: Status,
    current: u64,
    desired: u64,
    ready_after: Duration,
    ready_at: Option<Instant>,
    message: String,
}

impl Instance {
    fn is_ready(&self) -> bool {
        self.status == Status::Ready
            && self
                .ready_at
                .is_none_or(|at| self.ready_after.is_zero() || at.elapsed() >= self.ready_after)
    }

    fn to_json(&self) -> Value {
        json!({"name": self.name, "currentReplicas": self.current,
               "desiredReplicas": self.desired, "status": self.status.as_str(),
               "message": self.message})
    }
}

/// A group's instance as discovered: `<job>/<group>` with its scale settings.
#[derive(Debug, Clone)]
struct Discovered {
    job: String,
    group: String,
    active_replicas: u64,
    idle_replicas: u64,
    ready_after: Duration,
}

/// A start that is still running, or how it ended.
enum Pending {
    Running,
    Failed(String),
}

#[derive(Default)]
struct State {
    /// Group name → instance names.
    groups: BTreeMap<String, Vec<String>>,
    instances: HashMap<String, Discovered>,
    /// The session store: instance → (state, expiry).
    sessions: HashMap<String, (Instance, Instant)>,
    pending: HashMap<String, Pending>,
    /// (instance, action) of each scale the provider sent, in order.
    actions: Vec<(String, String)>,
}

struct Shared {
    config: SablierConfig,
    http: reqwest::Client,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn nomad(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!(
            "{}{path}{sep}namespace={}",
            self.config.nomad_address, self.config.namespace
        )
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let resp = self
            .http
            .get(self.nomad(path))
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("GET {path}: {status} {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("GET {path}: {e}"))
    }
}

/// A running Sablier double on 127.0.0.1; stopped when dropped.
pub struct SablierDouble {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for SablierDouble {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl SablierDouble {
    pub async fn start(config: SablierConfig) -> SablierDouble {
        let shared = Arc::new(Shared {
            config,
            http: reqwest::Client::new(),
            state: Mutex::new(State::default()),
        });
        let _ = discover(&shared).await;
        let (listener, addr) = bind().await;
        let handler_shared = shared.clone();
        let server = serve_on(listener, move |req| {
            let shared = handler_shared.clone();
            async move { handle(&shared, req).await }
        });
        let discovery_shared = shared.clone();
        let discovery = tokio::spawn(async move {
            loop {
                tokio::time::sleep(discovery_shared.config.discovery_interval).await;
                let _ = discover(&discovery_shared).await;
            }
        });
        let expiry_shared = shared.clone();
        let expiry = tokio::spawn(async move {
            loop {
                tokio::time::sleep(expiry_shared.config.expiration_interval).await;
                expire(&expiry_shared);
            }
        });
        SablierDouble {
            addr,
            shared,
            tasks: vec![server, discovery, expiry],
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:41234` (the middleware's `sablierUrl`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Lists the jobs now, as Sablier does after (re)connecting to the event stream.
    pub async fn scan(&self) -> Result<(), String> {
        discover(&self.shared).await
    }

    /// Group name → instance names, as discovered.
    pub fn groups(&self) -> BTreeMap<String, Vec<String>> {
        self.shared.lock().groups.clone()
    }

    /// Whether `instance` has a session that has not expired.
    pub fn has_session(&self, instance: &str) -> bool {
        self.shared.lock().sessions.contains_key(instance)
    }

    /// Every scale the provider sent: (instance, "scale to N").
    pub fn actions(&self) -> Vec<(String, String)> {
        self.shared.lock().actions.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Nomad provider

/// Lists the namespace's jobs and keeps the groups whose merged meta enables Sablier
/// (job_list.go `discover`: periodic and parameterized parents are skipped).
async fn discover(shared: &Shared) -> Result<(), String> {
    let list = shared.get("/v1/jobs").await?;
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut instances = HashMap::new();
    for stub in list.as_array().into_iter().flatten() {
        let Some(id) = stub["ID"].as_str() else {
            continue;
        };
        let job = shared.get(&format!("/v1/job/{id}")).await?;
        if job["Periodic"].is_object() || job["ParameterizedJob"].is_object() {
            continue;
        }
        for group in job["TaskGroups"].as_array().into_iter().flatten() {
            let mut meta: HashMap<String, String> = HashMap::new();
            for source in [&job["Meta"], &group["Meta"]] {
                for (k, v) in source.as_object().into_iter().flatten() {
                    meta.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                }
            }
            if meta.get("sablier.enable").map(String::as_str) != Some("true") {
                continue;
            }
            let group_name = group["Name"].as_str().unwrap_or_default().to_string();
            let name = format!("{id}/{group_name}");
            let replicas = |key: &str, default: u64| {
                meta.get(key)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(default)
            };
            let ready_after = meta
                .get("sablier.ready-after")
                .and_then(|v| humantime::parse_duration(v).ok())
                .unwrap_or(Duration::ZERO);
            instances.insert(
                name.clone(),
                Discovered {
                    job: id.to_string(),
                    group: group_name,
                    active_replicas: replicas("sablier.active.replicas", 1),
                    idle_replicas: replicas("sablier.idle.replicas", 0),
                    ready_after,
                },
            );
            let labels = meta.get("sablier.group").cloned().unwrap_or_default();
            let mut parsed: Vec<String> = Vec::new();
            for g in labels.split(',').map(str::trim).filter(|g| !g.is_empty()) {
                if !parsed.iter().any(|p| p == g) {
                    parsed.push(g.to_string());
                }
            }
            if parsed.is_empty() {
                parsed.push("default".to_string());
            }
            for g in parsed {
                groups.entry(g).or_default().push(name.clone());
            }
        }
    }
    let mut state = shared.lock();
    state.groups = groups;
    state.instances = instances;
    Ok(())
}

fn discovered(shared: &Shared, name: &str) -> Result<Discovered, String> {
    shared
        .lock()
        .instances
        .get(name)
        .cloned()
        .ok_or_else(|| format!("instance {name:?} not found"))
}

/// The group's count in the job (`Count`), and whether the job is stopped.
async fn group_count(shared: &Shared, d: &Discovered) -> Result<(u64, bool), String> {
    let job = shared.get(&format!("/v1/job/{}", d.job)).await?;
    let count = job["TaskGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["Name"] == d.group.as_str())
        .and_then(|g| g["Count"].as_u64())
        .ok_or_else(|| format!("group {:?} not in job {:?}", d.group, d.job))?;
    Ok((count, job["Stop"] == true))
}

/// `POST /v1/job/:id/scale` to `target`, unless the count already is that.
async fn scale(shared: &Shared, name: &str, target: u64, message: &str) -> Result<(), String> {
    let d = discovered(shared, name)?;
    let (count, _) = group_count(shared, &d).await?;
    if count == target {
        return Ok(());
    }
    let body = json!({"Count": target, "Target": {"Namespace": shared.config.namespace,
                      "Job": d.job, "Group": d.group}, "Message": message, "Error": false,
                      "PolicyOverride": false});
    let resp = shared
        .http
        .post(shared.nomad(&format!("/v1/job/{}/scale", d.job)))
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    shared
        .lock()
        .actions
        .push((name.to_string(), format!("scale to {target}: {status}")));
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("scaling {name} to {target}: {status} {text}"))
    }
}

async fn instance_start(shared: &Shared, name: &str) -> Result<(), String> {
    let d = discovered(shared, name)?;
    scale(
        shared,
        name,
        d.active_replicas.max(1),
        "scaled up by Sablier",
    )
    .await
}

async fn instance_stop(shared: &Shared, name: &str) -> Result<(), String> {
    let d = discovered(shared, name)?;
    scale(shared, name, d.idle_replicas, "scaled down by Sablier").await
}

async fn instance_inspect(shared: &Shared, name: &str) -> Result<Instance, String> {
    let d = discovered(shared, name)?;
    let (count, stopped) = group_count(shared, &d).await?;
    let mut info = Instance {
        name: name.to_string(),
        status: Status::Stopped,
        current: 0,
        desired: count,
        ready_after: d.ready_after,
        ready_at: None,
        message: String::new(),
    };
    if count == 0 || stopped {
        return Ok(info);
    }
    let allocs = shared
        .get(&format!("/v1/job/{}/allocations", d.job))
        .await?;
    let live: Vec<&Value> = allocs
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["TaskGroup"] == d.group.as_str() && a["DesiredStatus"] == "run")
        .collect();
    let ready = live
        .iter()
        .filter(|a| {
            a["ClientStatus"] == "running"
                && (a["DeploymentStatus"].is_null() || a["DeploymentStatus"]["Healthy"] == true)
        })
        .count() as u64;
    let waiting = live
        .iter()
        .any(|a| matches!(a["ClientStatus"].as_str(), Some("pending" | "running")));
    info.current = ready;
    info.status = if ready >= count {
        Status::Ready
    } else if waiting || live.is_empty() {
        Status::Starting
    } else {
        info.message = "every allocation failed".to_string();
        Status::Error
    };
    Ok(info)
}

// ---------------------------------------------------------------------------------------------
// Sessions

fn not_ready(name: &str) -> Instance {
    Instance {
        name: name.to_string(),
        status: Status::NotReady,
        current: 0,
        desired: 1,
        ready_after: Duration::ZERO,
        ready_at: None,
        message: String::new(),
    }
}

/// `InstanceRequest`: one instance, one look.
async fn instance_request(
    shared: &Arc<Shared>,
    name: &str,
    duration: Duration,
) -> Result<Instance, String> {
    let stored = shared.lock().sessions.get(name).map(|(i, _)| i.clone());
    let state = match stored {
        None => {
            let mut st = shared.lock();
            if !matches!(st.pending.get(name), Some(Pending::Running)) {
                st.pending.insert(name.to_string(), Pending::Running);
                let shared = shared.clone();
                let name = name.to_string();
                tokio::spawn(async move {
                    let outcome = instance_start(&shared, &name).await;
                    let mut st = shared.lock();
                    match outcome {
                        Ok(()) => st.pending.remove(&name),
                        Err(e) => st.pending.insert(name, Pending::Failed(e)),
                    };
                });
            }
            not_ready(name)
        }
        Some(previous) if previous.status != Status::Ready => {
            let pending = shared.lock().pending.remove(name);
            match pending {
                Some(Pending::Failed(e)) => return Err(format!("instance start failed: {e}")),
                Some(Pending::Running) => {
                    shared
                        .lock()
                        .pending
                        .insert(name.to_string(), Pending::Running);
                    previous
                }
                None => {
                    let mut now = instance_inspect(shared, name).await?;
                    if now.status == Status::Ready {
                        now.ready_at = Some(Instant::now());
                    }
                    now
                }
            }
        }
        Some(ready) => ready,
    };
    shared
        .lock()
        .sessions
        .insert(name.to_string(), (state.clone(), Instant::now() + duration));
    Ok(state)
}

/// `requestSession`: every instance once.
async fn request_session(
    shared: &Arc<Shared>,
    names: &[String],
    duration: Duration,
) -> Vec<Result<Instance, String>> {
    let mut out = Vec::new();
    for name in names {
        out.push(instance_request(shared, name, duration).await);
    }
    out
}

/// Stops every instance whose session has expired.
fn expire(shared: &Arc<Shared>) {
    let now = Instant::now();
    let expired: Vec<String> = {
        let mut st = shared.lock();
        let names: Vec<String> = st
            .sessions
            .iter()
            .filter(|(_, (_, until))| *until <= now)
            .map(|(n, _)| n.clone())
            .collect();
        for n in &names {
            st.sessions.remove(n);
        }
        names
    };
    for name in expired {
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = instance_stop(&shared, &name).await;
        });
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP API

fn problem(status: u16, title: &str, detail: &str, extra: Value) -> Reply {
    let mut body = json!({"type": format!("https://sablierapp.dev/#/errors?status={status}"),
                          "title": title, "status": status, "detail": detail});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    reply(status, "application/problem+json", body.to_string())
}

async fn handle(shared: &Arc<Shared>, req: hyper::Request<Incoming>) -> Reply {
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/health") => reply(200, "text/plain", "ok"),
        ("GET", "/api/strategies/blocking") => blocking(shared, &req).await,
        _ => problem(404, "Not Found", "no such route", Value::Null),
    }
}

async fn blocking(shared: &Arc<Shared>, req: &hyper::Request<Incoming>) -> Reply {
    let mut names = Vec::new();
    let mut group = String::new();
    let mut duration = shared.config.default_session_duration;
    let mut timeout = shared.config.default_timeout;
    for (k, v) in query_pairs(req) {
        let parse = |v: &str| humantime::parse_duration(v).map_err(|e| format!("{k}: {e}"));
        match k.as_str() {
            "names" => names.push(v),
            "group" => group = v,
            "session_duration" => match parse(&v) {
                Ok(d) => duration = d,
                Err(e) => return problem(400, "Validation Failed", &e, Value::Null),
            },
            "timeout" => match parse(&v) {
                Ok(d) => timeout = d,
                Err(e) => return problem(400, "Validation Failed", &e, Value::Null),
            },
            _ => {}
        }
    }
    if names.is_empty() && group.is_empty() {
        let detail = "'names' or 'group' query parameter must be set";
        return problem(400, "Validation Failed", detail, Value::Null);
    }
    if !names.is_empty() && !group.is_empty() {
        let detail = "'names' and 'group' query parameters are both set, only one must be set";
        return problem(400, "Validation Failed", detail, Value::Null);
    }
    if !group.is_empty() {
        let (members, available) = {
            let st = shared.lock();
            (
                st.groups.get(&group).cloned(),
                st.groups.keys().cloned().collect::<Vec<_>>(),
            )
        };
        match members {
            Some(m) if !m.is_empty() => names = m,
            _ => {
                let detail = format!(
                    "Group {group:?} not found. It may not exist or has not been scanned yet."
                );
                return problem(
                    404,
                    "Group not found",
                    &detail,
                    json!({"group": group, "availableGroups": available}),
                );
            }
        }
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut ticker = tokio::time::interval(shared.config.refresh_frequency);
    ticker.tick().await; // the first tick is immediate: the first look is made at once
    let mut last: Vec<Instance>;
    loop {
        let results = request_session(shared, &names, duration).await;
        let mut instances = Vec::new();
        for r in results {
            match r {
                Ok(i) if i.status == Status::Error => {
                    return problem(500, "Internal Server Error", &i.message, Value::Null);
                }
                Ok(i) => instances.push(i),
                Err(e) => return problem(500, "Internal Server Error", &e, Value::Null),
            }
        }
        if instances.iter().all(Instance::is_ready) {
            let body = json!({"session": {"status": "ready",
                "instances": instances.iter().map(|i| json!({"instance": i.to_json(), "error": null})).collect::<Vec<_>>()}});
            let mut r = reply(200, "application/json", body.to_string());
            r.headers_mut().insert(
                "X-Sablier-Session-Status",
                hyper::header::HeaderValue::from_static("ready"),
            );
            return r;
        }
        last = instances;
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    let pending: Vec<Value> = last
        .iter()
        .filter(|i| !i.is_ready())
        .map(Instance::to_json)
        .collect();
    let detail = format!(
        "session was not ready after {}",
        humantime::format_duration(timeout)
    );
    problem(504, "Timeout", &detail, json!({"instances": pending}))
}
