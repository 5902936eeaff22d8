//! Deployer tests against the Nomad API double (tests/support/nomad_double.rs).

mod support;

use knative2nomad::nomad::client::{
    ConnectionSettings, NomadClient, QueryOptions, RetryPolicy, TokenSource,
};
use knative2nomad::nomad::model::Job;
use serde_json::json;
use std::time::Duration;
use support::nomad_double::{DoubleConfig, NomadDouble};

fn settings(address: &str) -> ConnectionSettings {
    ConnectionSettings {
        address: address.to_string(),
        token: None,
        token_source: TokenSource::None,
        namespace: None,
        region: None,
        ca_cert: None,
        client_cert: None,
        client_key: None,
        tls_server_name: None,
        tls_skip_verify: false,
        retry: RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
        },
    }
}

fn web_job(id: &str) -> Job {
    serde_json::from_value(json!({
        "ID": id, "Type": "service", "Datacenters": ["*"],
        "TaskGroups": [{"Name": "web", "Count": 2,
            "Networks": [{"DynamicPorts": [{"Label": "http", "To": 8080}]}],
            "Tasks": [{"Name": "app", "Driver": "docker", "Config": {"image": "example/app:1"},
                       "Resources": {"CPU": 100, "MemoryMB": 64}}]}]
    }))
    .expect("job")
}

#[tokio::test]
async fn double_runs_a_job_to_a_successful_deployment() {
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let client = NomadClient::new(settings(&double.address())).expect("client");
    let job = web_job("web");
    let plan = client.plan(&job, true).await.expect("plan");
    assert_eq!(plan.value.job_modify_index, 0);
    let registered = client.register_once(&job, Some(0)).await.expect("register");
    let mut eval = client
        .evaluation(&registered.value.eval_id, QueryOptions::default())
        .await
        .expect("eval");
    while !eval.value.is_terminal() {
        eval = client
            .evaluation(
                &registered.value.eval_id,
                QueryOptions {
                    index: eval.index,
                    wait: Some(Duration::from_secs(5)),
                },
            )
            .await
            .expect("eval");
    }
    let mut deployment = client
        .deployment(&eval.value.deployment_id, QueryOptions::default())
        .await
        .expect("d");
    while !deployment.value.is_terminal() {
        deployment = client
            .deployment(
                &eval.value.deployment_id,
                QueryOptions {
                    index: deployment.index,
                    wait: Some(Duration::from_secs(5)),
                },
            )
            .await
            .expect("d");
    }
    assert_eq!(deployment.value.status, "successful");
    assert_eq!(deployment.value.task_groups["web"].healthy_allocs, 2);
    let allocs = client
        .allocations("default", "web", QueryOptions::default())
        .await
        .expect("allocs");
    assert_eq!(allocs.value.len(), 2);
    let alloc = client.allocation(&allocs.value[0].id).await.expect("alloc");
    assert!(
        alloc.value["AllocatedResources"]["Shared"]["Ports"][0]["Value"]
            .as_u64()
            .is_some()
    );
    let scaled = client
        .scale("default", "web", "web", Some(3), "more")
        .await
        .expect("scale");
    assert!(!scaled.value.eval_id.is_empty());
    let err = client
        .scale("default", "web", "web", Some(1), "less")
        .await
        .expect_err("blocked");
    assert_eq!(
        err.body(),
        Some("job scaling blocked due to active deployment")
    );
    let status = client.scale_status("default", "web").await.expect("status");
    assert_eq!(status.value.task_groups["web"].desired, 3);
    client
        .deregister("default", "web", true)
        .await
        .expect("stop");
    assert!(double.job("default", "web").is_none());
}
