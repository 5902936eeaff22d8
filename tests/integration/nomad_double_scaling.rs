//! The Nomad double's scaling, scale-status and stop answers, checked point by point against
//! what Nomad's source does (the rules are cited where the double implements them). These are
//! the endpoints `verify` forces cold starts with, so the double must refuse what Nomad refuses.

use crate::support::nomad_double::{DoubleConfig, NomadDouble};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A job like the ones `convert` writes: one group with `scaling { min = 1, max = 10 }`.
fn job_with_scaling(id: &str, count: i64, min: i64) -> Value {
    json!({"Job": {"ID": id, "Type": "service", "Datacenters": ["*"],
        "TaskGroups": [{"Name": id, "Count": count,
            "Scaling": {"Min": min, "Max": 10, "Enabled": true, "Type": "horizontal",
                        "Policy": {"cooldown": "60s"}},
            "Tasks": [{"Name": "app", "Driver": "docker", "Config": {"image": "example/app:1"},
                       "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}})
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn get(&self, path: &str) -> Value {
        let (status, value) = self.send(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {value}");
        value
    }

    async fn scale(&self, id: &str, body: Value) -> (u16, Value) {
        self.send(
            reqwest::Method::POST,
            &format!("/v1/job/{id}/scale"),
            Some(body),
        )
        .await
    }
}

async fn start() -> (NomadDouble, Api) {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let api = Api {
        base: double.address(),
        http: reqwest::Client::new(),
    };
    (double, api)
}

/// Wait (bounded) until `done` holds for the double's state.
async fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_refuses_what_the_policy_and_the_request_rules_refuse() {
    let (_double, api) = start().await;
    let (status, _) = api
        .send(
            reqwest::Method::PUT,
            "/v1/jobs",
            Some(job_with_scaling("hello", 1, 1)),
        )
        .await;
    assert_eq!(status, 200);
    let refused = |count: i64, extra: Value| {
        let mut body = json!({"Count": count, "Target": {"Group": "hello"}});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        body
    };
    // Below the minimum, even with PolicyOverride (Job.Scale checks before using it).
    for extra in [json!({}), json!({"PolicyOverride": true})] {
        assert_eq!(
            api.scale("hello", refused(0, extra)).await,
            (
                400,
                json!("group count was less than scaling policy minimum: 0 < 1")
            )
        );
    }
    assert_eq!(
        api.scale("hello", refused(11, json!({}))).await,
        (
            400,
            json!("group count was greater than scaling policy maximum: 11 > 10")
        )
    );
    // The agent's and the request's own rules.
    assert_eq!(
        api.scale(
            "hello",
            json!({"Count": 2, "Target": {"Group": "hello", "Job": "other"}})
        )
        .await,
        (400, json!("job ID in payload did not match URL"))
    );
    assert_eq!(
        api.scale(
            "hello",
            json!({"Count": 2, "Target": {"Group": "hello", "Namespace": "prod"}})
        )
        .await,
        (400, json!("namespace in payload did not match header"))
    );
    assert_eq!(
        api.scale("hello", refused(2, json!({"Error": true}))).await,
        (
            400,
            json!("scaling action should not contain count if error is true")
        )
    );
    assert_eq!(
        api.scale("hello", json!({"Target": {}})).await,
        (400, json!("missing task group name for scaling action"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_status_of_a_never_scaled_group_has_null_events_and_the_job_modify_index() {
    let (double, api) = start().await;
    api.send(
        reqwest::Method::PUT,
        "/v1/jobs",
        Some(job_with_scaling("hello", 2, 1)),
    )
    .await;
    wait_for("the job to run", || {
        double
            .job("default", "hello")
            .is_some_and(|j| j["Status"] == "running")
    })
    .await;
    let status = api.get("/v1/job/hello/scale").await;
    let group = &status["TaskGroups"]["hello"];
    assert_eq!(group["Events"], Value::Null, "{status}");
    assert_eq!(group["Desired"], 2);
    let job = api.get("/v1/job/hello").await;
    // Job.ScaleStatus reports job.ModifyIndex under this name.
    assert_eq!(status["JobModifyIndex"], job["ModifyIndex"]);

    // An event without a count writes no job version: the reply carries job.ModifyIndex, and
    // the absent message is stored as "".
    let (code, reply) = api
        .scale("hello", json!({"Target": {"Group": "hello"}}))
        .await;
    assert_eq!(code, 200, "{reply}");
    assert_eq!(reply["JobModifyIndex"], job["ModifyIndex"]);
    assert_eq!(reply["EvalID"], "");
    let status = api.get("/v1/job/hello/scale").await;
    let events = status["TaskGroups"]["hello"]["Events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["Message"], "");
    assert_eq!(events[0]["Count"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_bumps_the_version_disables_scaling_and_answers_one_index() {
    let (_double, api) = start().await;
    api.send(
        reqwest::Method::PUT,
        "/v1/jobs",
        Some(job_with_scaling("hello", 1, 1)),
    )
    .await;
    let before = api.get("/v1/job/hello").await;
    assert_eq!(before["TaskGroups"][0]["Scaling"]["Enabled"], true);
    let (code, _) = api
        .send(reqwest::Method::DELETE, "/v1/job/hello?purge=x", None)
        .await;
    assert_eq!(code, 500, "purge goes through strconv.ParseBool");
    let (code, reply) = api
        .send(
            reqwest::Method::DELETE,
            "/v1/job/hello?no_shutdown_delay=true",
            None,
        )
        .await;
    assert_eq!(code, 200, "{reply}");
    assert_eq!(reply["JobModifyIndex"], reply["EvalCreateIndex"]);
    assert_eq!(reply["JobModifyIndex"], reply["Index"]);
    let after = api.get("/v1/job/hello").await;
    assert_eq!(after["Stop"], true);
    assert_eq!(
        after["Version"].as_u64(),
        before["Version"].as_u64().map(|v| v + 1)
    );
    assert_eq!(after["JobModifyIndex"], reply["JobModifyIndex"]);
    assert_eq!(after["TaskGroups"][0]["Scaling"]["Enabled"], false);
    // A disabled policy still bounds Job.Scale.
    assert_eq!(
        api.scale("hello", json!({"Count": 0, "Target": {"Group": "hello"}}))
            .await,
        (
            400,
            json!("group count was less than scaling policy minimum: 0 < 1")
        )
    );
    // Stopped allocations are terminal: not placed any more.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = api.get("/v1/job/hello/scale").await;
        if status["TaskGroups"]["hello"]["Placed"] == 0 {
            assert_eq!(status["JobStopped"], true);
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Registering the spec read before the stop runs it again, with scaling enabled.
    let (code, reply) = api
        .send(
            reqwest::Method::PUT,
            "/v1/jobs",
            Some(json!({"Job": before})),
        )
        .await;
    assert_eq!(code, 200, "{reply}");
    let again = api.get("/v1/job/hello").await;
    assert_eq!(again["Stop"], false);
    assert_eq!(
        again["TaskGroups"][0]["Scaling"],
        before["TaskGroups"][0]["Scaling"]
    );
    assert_eq!(
        again["Version"].as_u64(),
        before["Version"].as_u64().map(|v| v + 2)
    );
}
