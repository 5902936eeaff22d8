//! HTTP client for the parts of the Nomad API that the deployer and the verifier use: connection
//! settings (the official CLI's environment variables, overridable by flags), typed calls that
//! return the response's `X-Nomad-Index`, blocking queries, and a retry policy for transient
//! failures.
//!
//! What it is not: a scheduler model or a general Nomad SDK. Register is deliberately *not*
//! retried here, because whether a dropped register landed can only be decided by reading the
//! job back — the deployer does that (see `deploy::pipeline`). The token is kept in a [`Secret`]
//! whose `Debug` is redacted; it is only ever written into the `X-Nomad-Token` request header,
//! redirects are never followed (so it goes to no other host), and everything the server sends
//! back has it cut out before anything reads it.
//!
//! Layout, after kube-client's: `settings` (where and how to connect), `tls` (certificates,
//! server name), `transport` (one request, JSON bodies, retries, blocking queries, the index
//! header), `error`, `types` (the response bodies, only the fields used), and the endpoints
//! grouped by resource as Nomad's own `api` package groups them: `jobs`, `evaluations`,
//! `deployments`, `allocations`. A new API call is one method on [`NomadClient`] in its
//! resource's file, built on `transport`'s `get`, `send_json` or `send_json_once`, with its
//! response type in `types`.

mod allocations;
mod deployments;
mod error;
mod evaluations;
mod jobs;
mod settings;
mod tls;
mod transport;
mod types;

pub use error::{NomadError, TransportFailure};
pub use settings::{
    ConnectionSettings, DEFAULT_ADDRESS, DEFAULT_REQUEST_TIMEOUT, RetryPolicy, Secret, TokenSource,
};
pub use transport::{Indexed, QueryOptions};
pub use types::{
    AllocDeploymentStatus, AllocationStub, Deployment, DeploymentGroup, DeregisterResponse,
    DesiredUpdates, Evaluation, GroupScaleStatus, JobScaleStatus, PlanAnnotations, PlanResponse,
    RegisterResponse, ValidateResponse,
};

use crate::nomad::model::Job;
use crate::redact::Redactor;
use std::sync::Arc;
use std::time::Duration;

/// A Nomad API client. Cheap to clone (reqwest pools connections).
#[derive(Debug, Clone)]
pub struct NomadClient {
    http: reqwest::Client,
    base: String,
    /// The token (and an address password) to cut out of everything the server sends back.
    redactor: Arc<Redactor>,
    /// Shared by the clones, which every parallel job and blocking query takes.
    settings: Arc<ConnectionSettings>,
}

/// Longest wait for a connection: a reachable agent accepts within milliseconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl NomadClient {
    pub fn new(settings: ConnectionSettings) -> Result<NomadClient, NomadError> {
        crate::crypto::install_crypto_provider();
        let base = if settings.address.starts_with("http://")
            || settings.address.starts_with("https://")
        {
            settings.address.clone()
        } else {
            format!("http://{}", settings.address)
        };
        let builder = reqwest::Client::builder()
            .connect_timeout(settings.request_timeout.min(CONNECT_TIMEOUT))
            // The token is a custom header, which reqwest (like Go's net/http) would carry to
            // whatever host a redirect names: never follow one (transport reports it).
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(32);
        let (builder, base) = tls::configure(builder, &settings, base)?;
        let http = builder
            .build()
            .map_err(|e| NomadError::Config(format!("building the HTTP client: {e}")))?;
        let redactor = Arc::new(Redactor::new(settings.secrets().iter().map(String::as_str)));
        Ok(NomadClient {
            http,
            base,
            redactor,
            settings: Arc::new(settings),
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
}
