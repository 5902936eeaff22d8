//! Job endpoints (`/v1/jobs`, `/v1/job/:id/...`, `/v1/validate/job`, `/v1/jobs/parse`), as
//! Nomad's `api/jobs.go` groups them: parse, validate, plan, register, read, deregister, the
//! job's evaluations, allocations and latest deployment, and scaling.

use super::NomadClient;
use super::error::NomadError;
use super::transport::{Indexed, QueryOptions, encode_segment};
use super::types::{
    AllocationStub, Deployment, DeregisterResponse, Evaluation, JobScaleStatus, PlanResponse,
    RegisterResponse, ValidateResponse,
};
use crate::nomad::model::Job;
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// `api.JobRegisterRequest`: `J` is the typed job, or a job in the server's JSON form sent back
/// as it was read.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterRequest<'a, J: Serialize> {
    job: &'a J,
    enforce_index: bool,
    job_modify_index: u64,
    namespace: &'a str,
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

/// `api.JobsParseRequest`: `Variables` is the content of one variables file (HCL2).
#[derive(Serialize)]
struct ParseRequest<'a> {
    #[serde(rename = "JobHCL")]
    job_hcl: &'a str,
    #[serde(rename = "Variables", skip_serializing_if = "str::is_empty")]
    variables: &'a str,
    #[serde(rename = "Canonicalize")]
    canonicalize: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ScaleRequest<'a> {
    count: Option<i64>,
    target: BTreeMap<&'a str, &'a str>,
    message: &'a str,
}

impl NomadClient {
    /// `POST /v1/jobs/parse`: the job as the server's HCL2 parser reads `hcl` with `variables`
    /// (the content of a variables file), as API JSON. Not canonicalized: unset fields stay
    /// unset, as Nomad's CLI sends them (register canonicalizes on the server). Needs
    /// `parse-job` or `submit-job` in `namespace`. Safe to repeat, so retried on transient
    /// failures.
    pub async fn parse_hcl(
        &self,
        namespace: &str,
        hcl: &str,
        variables: &str,
    ) -> Result<Indexed<Value>, NomadError> {
        let request = ParseRequest {
            job_hcl: hcl,
            variables,
            canonicalize: false,
        };
        self.send_json(Method::POST, "/v1/jobs/parse", Some(namespace), &request)
            .await
    }

    /// `PUT /v1/validate/job`: validation problems come back as data, not as an error.
    pub async fn validate(&self, job: &Job) -> Result<Indexed<ValidateResponse>, NomadError> {
        let ns = self.namespace_for(Some(job));
        let request = JobRequest { job, diff: false };
        self.send_json(Method::PUT, "/v1/validate/job", Some(&ns), &request)
            .await
    }

    /// `PUT /v1/job/:id/plan` with `Diff`.
    pub async fn plan(&self, job: &Job, diff: bool) -> Result<Indexed<PlanResponse>, NomadError> {
        let ns = self.namespace_for(Some(job));
        let path = format!("/v1/job/{}/plan", encode_segment(job_id(job)?));
        self.send_json(Method::PUT, &path, Some(&ns), &JobRequest { job, diff })
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
        self.register_request_once(&ns, job, enforce_index).await
    }

    /// `PUT /v1/jobs` once with a job in the JSON form `GET /v1/job/:id` returned, unchanged,
    /// as `nomad job start` re-registers a job it read (command/job_start.go): fields the typed
    /// model does not know survive. `EnforceIndex` when `enforce_index` is given.
    pub async fn register_json_once(
        &self,
        namespace: &str,
        job: &Value,
        enforce_index: Option<u64>,
    ) -> Result<Indexed<RegisterResponse>, NomadError> {
        self.register_request_once(namespace, job, enforce_index)
            .await
    }

    /// `PUT /v1/jobs` once, never retried, with `job` in either form.
    async fn register_request_once<J: Serialize>(
        &self,
        namespace: &str,
        job: &J,
        enforce_index: Option<u64>,
    ) -> Result<Indexed<RegisterResponse>, NomadError> {
        let request = RegisterRequest {
            job,
            enforce_index: enforce_index.is_some(),
            job_modify_index: enforce_index.unwrap_or(0),
            namespace,
            region: self.settings.region.as_deref(),
        };
        self.send_json_once(Method::PUT, "/v1/jobs", Some(namespace), &request)
            .await
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
        let query = if purge {
            vec![("purge", "true".to_string())]
        } else {
            vec![]
        };
        self.delete_job(namespace, id, &query).await
    }

    /// `DELETE /v1/job/:id?no_shutdown_delay=true`: stop the job (not purged) without waiting
    /// out the groups' and tasks' `shutdown_delay` (command/agent/job_endpoint.go jobDelete).
    pub async fn stop_now(
        &self,
        namespace: &str,
        id: &str,
    ) -> Result<Indexed<DeregisterResponse>, NomadError> {
        let query = [("no_shutdown_delay", "true".to_string())];
        self.delete_job(namespace, id, &query).await
    }

    /// `DELETE /v1/job/:id` with `query`, retried on transient failures (stopping a stopped
    /// job again is harmless).
    async fn delete_job(
        &self,
        namespace: &str,
        id: &str,
        query: &[(&str, String)],
    ) -> Result<Indexed<DeregisterResponse>, NomadError> {
        let path = format!("/v1/job/{}", encode_segment(id));
        let timeout = self.settings.request_timeout;
        self.call(Method::DELETE, &path, Some(namespace), query, None, timeout)
            .await
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
        let request = ScaleRequest {
            count,
            target: BTreeMap::from([("Group", group)]),
            message,
        };
        self.send_json(Method::POST, &path, Some(namespace), &request)
            .await
    }
}

fn job_id(job: &Job) -> Result<&str, NomadError> {
    job.id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| NomadError::Config("the job has no ID".to_string()))
}
