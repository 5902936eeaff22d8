//! HTTP client for the parts of the Nomad API that the deployer and the verifier use: connection
//! settings (the official CLI's environment variables, overridable by flags), typed calls that
//! return the response's `X-Nomad-Index`, blocking queries, and a retry policy for transient
//! failures.
//!
//! What it is not: a scheduler model or a general Nomad SDK. Register is deliberately *not*
//! retried here, because whether a dropped register landed can only be decided by reading the
//! job back — the deployer does that (see `deploy::pipeline`). The token is kept in a [`Secret`]
//! whose `Debug` is redacted; it is only ever written into the `X-Nomad-Token` request header.

use crate::nomad::model::Job;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::Duration;

/// The address the official `nomad` CLI uses when neither `-address` nor `NOMAD_ADDR` is set.
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:4646";

/// A secret string whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the token came from, so that an ACL error can say what to fix without showing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    None,
    Environment,
    Flag,
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenSource::None => "no token was given (set NOMAD_TOKEN or pass --token)",
            TokenSource::Environment => "the token from the environment variable NOMAD_TOKEN",
            TokenSource::Flag => "the token from --token",
        })
    }
}

/// Capped, jittered exponential backoff for transient failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `retry` (0-based): uniform in [d/2, d] where
    /// d = min(max, base × 2^retry). Half-jitter keeps a floor so that a leaderless cluster gets
    /// some rest, and spreads parallel deploys apart.
    pub fn delay(&self, retry: u32) -> Duration {
        let exponential = self.base_delay.saturating_mul(1u32 << retry.min(20));
        let capped = exponential.min(self.max_delay);
        capped.mul_f64(0.5 + fastrand::f64() / 2.0)
    }
}

/// Where and how to reach a Nomad agent: the official CLI's settings (`NOMAD_ADDR`,
/// `NOMAD_TOKEN`, ...), resolved by `cli` from flags and environment.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    pub address: String,
    pub token: Option<Secret>,
    pub token_source: TokenSource,
    pub namespace: Option<String>,
    pub region: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub tls_server_name: Option<String>,
    pub tls_skip_verify: bool,
    pub retry: RetryPolicy,
}

impl ConnectionSettings {
    /// An address alone: no token, namespace, region or TLS options, default retries.
    pub fn plain(address: impl Into<String>) -> ConnectionSettings {
        ConnectionSettings {
            address: address.into(),
            token: None,
            token_source: TokenSource::None,
            namespace: None,
            region: None,
            ca_cert: None,
            client_cert: None,
            client_key: None,
            tls_server_name: None,
            tls_skip_verify: false,
            retry: RetryPolicy::default(),
        }
    }
}

/// Errors from the Nomad API, with what a caller needs to decide whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum NomadError {
    /// The agent answered with an error status; `body` is its plain-text message.
    #[error("{method} {path}: {status} {body}", body = .body.trim_end())]
    Api {
        method: String,
        path: String,
        status: u16,
        body: String,
    },
    /// No answer: connection refused/reset, timeout, TLS failure.
    #[error("{method} {path}: {}", error_chain(source))]
    Transport {
        method: String,
        path: String,
        /// The request may have reached the server (it was not a connect failure).
        maybe_sent: bool,
        #[source]
        source: reqwest::Error,
    },
    /// The answer was not the JSON expected.
    #[error("{method} {path}: unexpected response body: {source}")]
    Decode {
        method: String,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// Settings are unusable (bad address, unreadable certificate).
    #[error("{0}")]
    Config(String),
}

/// 500 bodies that mean "not processed, try again" rather than a rejection of the request.
const TRANSIENT_500_BODIES: [&str; 6] = [
    "No cluster leader",
    "No path to region",
    "rpc error: EOF",
    "i/o timeout",
    "connection reset",
    "context deadline exceeded",
];

impl NomadError {
    /// Worth retrying: the failure says nothing about the request itself.
    pub fn is_transient(&self) -> bool {
        match self {
            NomadError::Api { status, body, .. } => match status {
                429 | 502 | 503 | 504 => true,
                500 => TRANSIENT_500_BODIES.iter().any(|t| body.contains(t)),
                _ => false,
            },
            // Refused, reset, closed early, timed out: all say nothing about the request.
            // A TLS failure (untrusted certificate, client certificate refused) will not heal.
            NomadError::Transport { source, .. } => !source.is_builder() && !is_tls_failure(source),
            NomadError::Decode { .. } | NomadError::Config(_) => false,
        }
    }

    /// The request may have been applied even though no answer arrived.
    pub fn is_ambiguous(&self) -> bool {
        matches!(
            self,
            NomadError::Transport {
                maybe_sent: true,
                ..
            }
        )
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            NomadError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn body(&self) -> Option<&str> {
        match self {
            NomadError::Api { body, .. } => Some(body),
            _ => None,
        }
    }
}

/// An error and its causes, `outer: inner: innermost` (reqwest's own text says only "error
/// sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

/// True when the error chain holds a TLS verification or handshake failure.
fn is_tls_failure(error: &reqwest::Error) -> bool {
    // hyper-rustls wraps rustls errors in io::Error, whose `source()` skips the wrapped error,
    // so the chain is matched on its debug rendering.
    let chain = format!("{error:?}");
    [
        "InvalidCertificate",
        "AlertReceived",
        "NoCertificatesPresented",
        "UnknownIssuer",
        "certificate",
    ]
    .iter()
    .any(|marker| chain.contains(marker))
}

/// Blocking-query options: return when the watched object's index exceeds `index`, or after
/// `wait` (the server caps it at 5 minutes and adds up to wait/16 of jitter).
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryOptions {
    pub index: u64,
    pub wait: Option<Duration>,
}

/// A decoded response and its `X-Nomad-Index`.
#[derive(Debug, Clone)]
pub struct Indexed<T> {
    pub value: T,
    pub index: u64,
}

// ----- Response types (only the fields used; Nomad sends more) -------------------------------

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ValidateResponse {
    pub driver_config_validated: bool,
    pub validation_errors: Option<Vec<String>>,
    pub error: String,
    pub warnings: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PlanResponse {
    #[serde(rename = "JobModifyIndex")]
    pub job_modify_index: u64,
    pub annotations: Option<PlanAnnotations>,
    #[serde(rename = "FailedTGAllocs")]
    pub failed_tg_allocs: Option<BTreeMap<String, Value>>,
    pub diff: Option<Value>,
    pub warnings: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PlanAnnotations {
    #[serde(rename = "DesiredTGUpdates")]
    pub desired_tg_updates: Option<BTreeMap<String, DesiredUpdates>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DesiredUpdates {
    pub ignore: u64,
    pub place: u64,
    pub migrate: u64,
    pub stop: u64,
    pub in_place_update: u64,
    pub destructive_update: u64,
    pub canary: u64,
    pub preemptions: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RegisterResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_modify_index: u64,
    pub warnings: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Evaluation {
    #[serde(rename = "ID")]
    pub id: String,
    pub status: String,
    pub status_description: String,
    pub triggered_by: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub job_modify_index: u64,
    #[serde(rename = "DeploymentID")]
    pub deployment_id: String,
    pub next_eval: String,
    pub blocked_eval: String,
    /// Nanoseconds to wait before `next_eval` runs.
    pub wait: u64,
    #[serde(rename = "FailedTGAllocs")]
    pub failed_tg_allocs: Option<BTreeMap<String, Value>>,
    pub queued_allocations: Option<BTreeMap<String, u64>>,
    pub create_index: u64,
    pub modify_index: u64,
}

impl Evaluation {
    /// `canceled` with one L is Nomad's spelling for evaluations.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "complete" | "failed" | "canceled")
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Deployment {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub job_version: u64,
    pub job_modify_index: u64,
    pub status: String,
    pub status_description: String,
    pub task_groups: BTreeMap<String, DeploymentGroup>,
    pub create_index: u64,
    pub modify_index: u64,
}

impl Deployment {
    /// `cancelled` with two Ls is Nomad's spelling for deployments.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.status.as_str(),
            "successful" | "failed" | "cancelled" | "blocked"
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeploymentGroup {
    pub auto_revert: bool,
    pub desired_total: u64,
    pub placed_allocs: u64,
    pub healthy_allocs: u64,
    pub unhealthy_allocs: u64,
    pub desired_canaries: u64,
    pub promoted: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AllocationStub {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub name: String,
    pub namespace: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub job_version: u64,
    pub task_group: String,
    pub desired_status: String,
    pub client_status: String,
    pub client_description: String,
    pub deployment_status: Option<AllocDeploymentStatus>,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AllocDeploymentStatus {
    pub healthy: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct JobScaleStatus {
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub namespace: String,
    pub job_modify_index: u64,
    pub job_stopped: bool,
    pub task_groups: BTreeMap<String, GroupScaleStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct GroupScaleStatus {
    pub desired: u64,
    pub placed: u64,
    pub running: u64,
    pub healthy: u64,
    pub unhealthy: u64,
    pub events: Vec<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeregisterResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_modify_index: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterRequest<'a> {
    job: &'a Job,
    enforce_index: bool,
    job_modify_index: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct JobRequest<'a> {
    job: &'a Job,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    diff: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ScaleRequest<'a> {
    count: Option<i64>,
    target: BTreeMap<&'a str, &'a str>,
    message: &'a str,
}

/// A Nomad API client. Cheap to clone (reqwest pools connections).
#[derive(Debug, Clone)]
pub struct NomadClient {
    http: reqwest::Client,
    base: String,
    settings: ConnectionSettings,
}

/// How long a non-blocking request may take before it counts as a (transient) timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl NomadClient {
    pub fn new(settings: ConnectionSettings) -> Result<NomadClient, NomadError> {
        crate::crypto::install_crypto_provider();
        let mut base = settings.address.clone();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            base = format!("http://{base}");
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(32);
        if let Some(path) = &settings.ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                NomadError::Config(format!("reading CA certificate {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                NomadError::Config(format!("CA certificate {}: {e}", path.display()))
            })?;
            builder = builder.tls_certs_only(certs);
        }
        match (&settings.client_cert, &settings.client_key) {
            (Some(cert), Some(key)) => {
                let read = |p: &PathBuf, what: &str| {
                    std::fs::read(p).map_err(|e| {
                        NomadError::Config(format!("reading client {what} {}: {e}", p.display()))
                    })
                };
                let mut pem = read(cert, "certificate")?;
                pem.push(b'\n');
                pem.extend(read(key, "key")?);
                let identity = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| NomadError::Config(format!("client certificate/key: {e}")))?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => {
                return Err(NomadError::Config(
                    "a client certificate needs both --client-cert (NOMAD_CLIENT_CERT) and \
                     --client-key (NOMAD_CLIENT_KEY)"
                        .to_string(),
                ));
            }
        }
        if settings.tls_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        if let Some(server_name) = &settings.tls_server_name {
            // Verify the certificate against `server_name` while connecting to the configured
            // host: address the server by that name and pin the name to the real socket.
            let (scheme, rest) = base.split_once("://").unwrap_or(("https", base.as_str()));
            let host_port = rest.split('/').next().unwrap_or(rest);
            let default_port = if scheme == "https" { 443 } else { 80 };
            let with_port = if host_port
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
                && !host_port.ends_with(']')
            {
                host_port.to_string()
            } else {
                format!("{host_port}:{default_port}")
            };
            let addrs: Vec<_> = with_port
                .to_socket_addrs()
                .map_err(|e| NomadError::Config(format!("resolving {host_port}: {e}")))?
                .collect();
            let port = addrs.first().map(|a| a.port()).unwrap_or(default_port);
            builder = builder.resolve_to_addrs(server_name, &addrs);
            base = format!("{scheme}://{server_name}:{port}");
        }
        let http = builder
            .build()
            .map_err(|e| NomadError::Config(format!("building the HTTP client: {e}")))?;
        Ok(NomadClient {
            http,
            base,
            settings,
        })
    }

    pub fn settings(&self) -> &ConnectionSettings {
        &self.settings
    }

    /// The namespace a request for `job` goes to: the flag/env, else the job's, else default.
    pub fn namespace_for(&self, job: Option<&Job>) -> String {
        self.settings
            .namespace
            .clone()
            .or_else(|| {
                job.and_then(|j| j.namespace.clone())
                    .filter(|n| !n.is_empty())
            })
            .unwrap_or_else(|| "default".to_string())
    }

    /// One request, no retry. `namespace` overrides the settings' namespace for this call.
    async fn send_once(
        &self,
        method: reqwest::Method,
        path: &str,
        namespace: Option<&str>,
        query: &[(&str, String)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<(u64, Vec<u8>), NomadError> {
        let mut url = format!("{}{}", self.base, path);
        let mut params: Vec<(&str, String)> = query.to_vec();
        if let Some(ns) = namespace.or(self.settings.namespace.as_deref()) {
            params.push(("namespace", ns.to_string()));
        }
        if let Some(region) = &self.settings.region {
            params.push(("region", region.clone()));
        }
        for (i, (key, value)) in params.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(key);
            url.push('=');
            url.push_str(&encode_segment(value));
        }
        let mut request = self.http.request(method.clone(), &url).timeout(timeout);
        if let Some(token) = &self.settings.token {
            request = request.header("X-Nomad-Token", token.expose());
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let transport = |source: reqwest::Error| NomadError::Transport {
            method: method.to_string(),
            path: path.to_string(),
            maybe_sent: !source.is_connect(),
            source: source.without_url(),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let index = response
            .headers()
            .get("X-Nomad-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let bytes = response.bytes().await.map_err(transport)?;
        if !(200..300).contains(&status) {
            return Err(NomadError::Api {
                method: method.to_string(),
                path: path.to_string(),
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok((index, bytes.to_vec()))
    }

    /// A request retried on transient failures. Only for requests that are safe to repeat
    /// (reads, validate, plan); register goes through [`NomadClient::register_once`].
    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        namespace: Option<&str>,
        query: &[(&str, String)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Indexed<T>, NomadError> {
        let mut retry = 0;
        loop {
            match self
                .send_once(method.clone(), path, namespace, query, body, timeout)
                .await
            {
                Ok((index, body)) => {
                    let value =
                        serde_json::from_slice(&body).map_err(|source| NomadError::Decode {
                            method: method.to_string(),
                            path: path.to_string(),
                            source,
                        })?;
                    return Ok(Indexed { value, index });
                }
                Err(err) if err.is_transient() && retry + 1 < self.settings.retry.attempts => {
                    tokio::time::sleep(self.settings.retry.delay(retry)).await;
                    retry += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        namespace: Option<&str>,
        options: QueryOptions,
    ) -> Result<Indexed<T>, NomadError> {
        let mut query = Vec::new();
        let mut timeout = REQUEST_TIMEOUT;
        if options.index > 0 {
            let wait = options
                .wait
                .unwrap_or(Duration::from_secs(300))
                .min(Duration::from_secs(300));
            query.push(("index", options.index.to_string()));
            query.push(("wait", format!("{}ms", wait.as_millis())));
            // The server may hold the request for wait + wait/16 of jitter.
            timeout = wait + wait / 16 + REQUEST_TIMEOUT;
        }
        self.call(reqwest::Method::GET, path, namespace, &query, None, timeout)
            .await
    }

    fn encode<B: Serialize>(body: &B) -> Result<Vec<u8>, NomadError> {
        serde_json::to_vec(body).map_err(|source| NomadError::Decode {
            method: "encode".to_string(),
            path: String::new(),
            source,
        })
    }

    /// `PUT /v1/validate/job`: validation problems come back as data, not as an error.
    pub async fn validate(&self, job: &Job) -> Result<Indexed<ValidateResponse>, NomadError> {
        let ns = self.namespace_for(Some(job));
        let body = Self::encode(&JobRequest { job, diff: false })?;
        self.call(
            reqwest::Method::PUT,
            "/v1/validate/job",
            Some(&ns),
            &[],
            Some(&body),
            REQUEST_TIMEOUT,
        )
        .await
    }

    /// `PUT /v1/job/:id/plan` with `Diff`.
    pub async fn plan(&self, job: &Job, diff: bool) -> Result<Indexed<PlanResponse>, NomadError> {
        let ns = self.namespace_for(Some(job));
        let id = job_id(job)?;
        let body = Self::encode(&JobRequest { job, diff })?;
        let path = format!("/v1/job/{}/plan", encode_segment(id));
        self.call(
            reqwest::Method::PUT,
            &path,
            Some(&ns),
            &[],
            Some(&body),
            REQUEST_TIMEOUT,
        )
        .await
    }

    /// `PUT /v1/jobs` once, with `EnforceIndex` when `enforce_index` is given. Not retried:
    /// after an ambiguous failure the caller must read the job back first.
    pub async fn register_once(
        &self,
        job: &Job,
        enforce_index: Option<u64>,
    ) -> Result<Indexed<RegisterResponse>, NomadError> {
        let ns = self.namespace_for(Some(job));
        let body = Self::encode(&RegisterRequest {
            job,
            enforce_index: enforce_index.is_some(),
            job_modify_index: enforce_index.unwrap_or(0),
            namespace: Some(&ns),
            region: self.settings.region.as_deref(),
        })?;
        let (index, body) = self
            .send_once(
                reqwest::Method::PUT,
                "/v1/jobs",
                Some(&ns),
                &[],
                Some(&body),
                REQUEST_TIMEOUT,
            )
            .await?;
        let value = serde_json::from_slice(&body).map_err(|source| NomadError::Decode {
            method: "PUT".to_string(),
            path: "/v1/jobs".to_string(),
            source,
        })?;
        Ok(Indexed { value, index })
    }

    /// `GET /v1/job/:id` (the server's form of the job, as JSON; 404 `job not found`).
    pub async fn job(&self, namespace: &str, id: &str) -> Result<Indexed<Value>, NomadError> {
        let path = format!("/v1/job/{}", encode_segment(id));
        self.get(&path, Some(namespace), QueryOptions::default())
            .await
    }

    /// `GET /v1/job/:id/evaluations`, newest first.
    pub async fn job_evaluations(
        &self,
        namespace: &str,
        id: &str,
    ) -> Result<Indexed<Vec<Evaluation>>, NomadError> {
        let path = format!("/v1/job/{}/evaluations", encode_segment(id));
        self.get(&path, Some(namespace), QueryOptions::default())
            .await
    }

    /// `DELETE /v1/job/:id` (stop; `purge` also removes it).
    pub async fn deregister(
        &self,
        namespace: &str,
        id: &str,
        purge: bool,
    ) -> Result<Indexed<DeregisterResponse>, NomadError> {
        let path = format!("/v1/job/{}", encode_segment(id));
        let query = if purge {
            vec![("purge", "true".to_string())]
        } else {
            vec![]
        };
        self.call(
            reqwest::Method::DELETE,
            &path,
            Some(namespace),
            &query,
            None,
            REQUEST_TIMEOUT,
        )
        .await
    }

    /// `GET /v1/evaluation/:id`, blocking when `options.index` > 0.
    pub async fn evaluation(
        &self,
        id: &str,
        options: QueryOptions,
    ) -> Result<Indexed<Evaluation>, NomadError> {
        let path = format!("/v1/evaluation/{}", encode_segment(id));
        self.get(&path, None, options).await
    }

    /// `GET /v1/deployment/:id`, blocking when `options.index` > 0.
    pub async fn deployment(
        &self,
        id: &str,
        options: QueryOptions,
    ) -> Result<Indexed<Deployment>, NomadError> {
        let path = format!("/v1/deployment/{}", encode_segment(id));
        self.get(&path, None, options).await
    }

    /// `GET /v1/job/:id/deployment`: the latest deployment, `None` when there is none.
    pub async fn latest_deployment(
        &self,
        namespace: &str,
        id: &str,
        options: QueryOptions,
    ) -> Result<Indexed<Option<Deployment>>, NomadError> {
        let path = format!("/v1/job/{}/deployment", encode_segment(id));
        self.get(&path, Some(namespace), options).await
    }

    /// `GET /v1/job/:id/allocations`, blocking when `options.index` > 0.
    pub async fn allocations(
        &self,
        namespace: &str,
        id: &str,
        options: QueryOptions,
    ) -> Result<Indexed<Vec<AllocationStub>>, NomadError> {
        let path = format!("/v1/job/{}/allocations", encode_segment(id));
        self.get(&path, Some(namespace), options).await
    }

    /// `GET /v1/allocation/:id` (full allocation, as JSON).
    pub async fn allocation(&self, id: &str) -> Result<Indexed<Value>, NomadError> {
        let path = format!("/v1/allocation/{}", encode_segment(id));
        self.get(&path, None, QueryOptions::default()).await
    }

    /// `GET /v1/job/:id/scale`.
    pub async fn scale_status(
        &self,
        namespace: &str,
        id: &str,
    ) -> Result<Indexed<JobScaleStatus>, NomadError> {
        let path = format!("/v1/job/{}/scale", encode_segment(id));
        self.get(&path, Some(namespace), QueryOptions::default())
            .await
    }

    /// `POST /v1/job/:id/scale`: set `group`'s count (None records only a scaling event).
    /// Retried on transient failures: setting the same count twice is harmless.
    pub async fn scale(
        &self,
        namespace: &str,
        id: &str,
        group: &str,
        count: Option<i64>,
        message: &str,
    ) -> Result<Indexed<RegisterResponse>, NomadError> {
        let path = format!("/v1/job/{}/scale", encode_segment(id));
        let body = Self::encode(&ScaleRequest {
            count,
            target: BTreeMap::from([("Group", group)]),
            message,
        })?;
        self.call(
            reqwest::Method::POST,
            &path,
            Some(namespace),
            &[],
            Some(&body),
            REQUEST_TIMEOUT,
        )
        .await
    }
}

fn job_id(job: &Job) -> Result<&str, NomadError> {
    job.id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| NomadError::Config("the job has no ID".to_string()))
}

/// Percent-encode one path segment (job IDs may hold any character but space and NUL).
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_in_debug() {
        let settings = format!("{:?}", Secret::new("s3cr3t".to_string()));
        assert!(!settings.contains("s3cr3t"));
    }

    #[test]
    fn retry_delay_is_capped_and_jittered() {
        let policy = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for retry in 0..10 {
            let d = policy.delay(retry);
            let full = (Duration::from_millis(100) * (1 << retry)).min(Duration::from_secs(1));
            assert!(d <= full && d >= full / 2, "retry {retry}: {d:?}");
        }
    }

    #[test]
    fn only_leaderless_500s_are_transient() {
        let api = |status, body: &str| NomadError::Api {
            method: "PUT".into(),
            path: "/v1/jobs".into(),
            status,
            body: body.into(),
        };
        assert!(api(500, "No cluster leader").is_transient());
        assert!(api(429, "").is_transient());
        assert!(!api(500, "1 error occurred:\n\t* Missing job ID\n\n").is_transient());
        assert!(
            !api(
                500,
                "Enforcing job modify index 3: job exists with conflicting job modify index: 5"
            )
            .is_transient()
        );
        assert!(!api(403, "Permission denied").is_transient());
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("web/a b"), "web%2Fa%20b");
    }
}
