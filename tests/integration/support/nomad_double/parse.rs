//! `PUT|POST /v1/jobs/parse` for the Nomad double, answered by Nomad's own HCL2 parser: the
//! team's `jobspec2json` build of hashicorp/nomad's `jobspec2` package
//! (`../shared/tools/nomad-jobspec2/`, beside the checkout), run with the options the agent
//! uses. When it is absent (a clone without `../shared`) the endpoint answers 501 and the tests
//! that need it skip with a notice ([`jobspec2json`]).
//!
//! The rules, in the order Nomad applies them (command/agent/job_endpoint.go
//! `JobsParseRequest`; the team's research note, section D, cites the versions read):
//! 1. method PUT or POST, else 405 `Invalid method` (routed in `handle`);
//! 2. ACL before the body is read: `parse-job` or `submit-job` in `?namespace=` (default
//!    "default"); a namespace `read` policy includes `parse-job` (nomad/acl/policy_test.go
//!    `TestParse`), so here any token allowed to read the namespace may parse — else 403
//!    `Permission denied` / `ACL token not found`;
//! 3. `decodeBody`: 400 `Request body is empty` or the JSON error (Go's `encoding/json`, whose
//!    keys match case-insensitively — honoured here);
//! 4. `JobHCL` empty: 400 `Job spec is empty`;
//! 5. `jobspec2.ParseWithConfig{Path: "input.hcl", Body: JobHCL, AllowFS: false,
//!    VarContent: Variables}` with `Strict` unset and no `ArgVars`/`Envs`: here
//!    `jobspec2json -allow-fs=false -hcl2-strict=false -no-env`, the HCL written to a
//!    temporary `input.hcl` so that diagnostics name it as the server's do, and `Variables`
//!    (the content of one variables file) written to a file passed with `-var-file` — the
//!    parser reads it the same way, except that a syntax error in it names that file where
//!    Nomad names its own (not verified which name Nomad 2.0 gives it);
//!    a failure is 400 `Failed to parse job: <diagnostics>`;
//! 6. the `api.Job` as JSON, not wrapped in `{"Job": ...}`. `Canonicalize: true` would fill
//!    every default (`api.Job.Canonicalize`), which this double cannot do faithfully: it answers
//!    501 rather than pretend. `HCLv1` is ignored, as Nomad ≥ 1.9 (HCLv1 removed) ignores it.

use super::{Query, Request, Response, Shared, authorize, decode_body};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

/// `../shared/tools/nomad-jobspec2/jobspec2json` beside the checkout, when it exists.
pub fn jobspec2json() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tools/nomad-jobspec2/jobspec2json");
    path.is_file().then_some(path)
}

/// A body field as Go's `encoding/json` finds it: the exact name, else any case.
fn field<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    let object = body.as_object()?;
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

pub(super) async fn parse(shared: &Arc<Shared>, request: &Request, query: &Query) -> Response {
    let namespace = query
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    if let Err(denied) = authorize(shared, request, &namespace, false) {
        return denied;
    }
    let body = match decode_body(request) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let hcl = field(&body, "JobHCL").and_then(Value::as_str).unwrap_or("");
    if hcl.is_empty() {
        return Response::text(400, "Job spec is empty");
    }
    let variables = field(&body, "Variables")
        .and_then(Value::as_str)
        .unwrap_or("");
    if field(&body, "Canonicalize").and_then(Value::as_bool) == Some(true) {
        return Response::text(
            501,
            "the Nomad double cannot canonicalize a job (api.Job.Canonicalize); send \
             Canonicalize: false",
        );
    }
    let Some(parser) = jobspec2json() else {
        return Response::text(
            501,
            "the Nomad double needs ../shared/tools/nomad-jobspec2/jobspec2json to parse HCL",
        );
    };
    match run_parser(&parser, hcl, variables).await {
        Ok(job) => {
            let index = shared.lock().index;
            Response::json(&job, index)
        }
        Err(diagnostics) => Response::text(400, format!("Failed to parse job: {diagnostics}")),
    }
}

/// Runs Nomad's parser as the agent configures it; the job, or the diagnostics text.
async fn run_parser(parser: &PathBuf, hcl: &str, variables: &str) -> Result<Value, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("double: temporary directory: {e}"))?;
    let input = dir.path().join("input.hcl");
    std::fs::write(&input, hcl).map_err(|e| format!("double: writing input.hcl: {e}"))?;
    let mut command = tokio::process::Command::new(parser);
    command
        .current_dir(dir.path())
        .args(["-allow-fs=false", "-hcl2-strict=false", "-no-env"]);
    if !variables.is_empty() {
        let vars = dir.path().join("variables.hcl");
        std::fs::write(&vars, variables).map_err(|e| format!("double: writing variables: {e}"))?;
        command.arg("-var-file").arg("variables.hcl");
    }
    let output = command
        .arg("input.hcl")
        .output()
        .await
        .map_err(|e| format!("double: running jobspec2json: {e}"))?;
    if !output.status.success() {
        // jobspec2json prints "Error parsing job file from input.hcl:\n<err>\n"; the agent
        // puts <err> after "Failed to parse job: ".
        let stderr = String::from_utf8_lossy(&output.stderr);
        let diagnostics = stderr
            .split_once(":\n")
            .map_or(stderr.as_ref(), |(_, rest)| rest)
            .trim_end();
        return Err(diagnostics.to_string());
    }
    let mut wrapped: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("double: jobspec2json printed no JSON: {e}"))?;
    Ok(wrapped
        .get_mut("Job")
        .map(Value::take)
        .unwrap_or(Value::Null))
}
