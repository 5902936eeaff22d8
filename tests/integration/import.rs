//! Cluster import, end to end against a fake Kubernetes API on loopback: what a user gets from
//! `convert --from-cluster` (cleaned Knative YAML), what `--export-dir` writes, the errors that
//! tell them what to do, and the verifier's pod watch over the same connection.

use crate::support::fake_kube::{FakeCluster, FakeKube, fixture};
use clap::Parser;
use knative2nomad::cli::ClusterArgs;
use knative2nomad::knative::cluster::{
    ClusterConnection, ClusterOrigin, ClusterQuery, ImportError, ImportedService, NamespaceScope,
    connect, export, fetch_services,
};
use knative2nomad::verify::pods::wait_for_zero_pods;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::Path;

fn query(connection: &ClusterConnection, scope: NamespaceScope) -> ClusterQuery {
    ClusterQuery {
        scope,
        selector: None,
        names: Vec::new(),
        page_size: 500,
        origin: connection.origin.clone(),
    }
}

fn in_namespace(namespace: &str) -> NamespaceScope {
    NamespaceScope::Namespace(namespace.to_string())
}

/// The YAML stream of one imported service, as documents.
fn documents(service: &ImportedService) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(&service.manifest_yaml)
        .map(|document| Value::deserialize(document).expect("manifest is valid YAML"))
        .collect()
}

fn find<'a>(services: &'a [ImportedService], namespace: &str, name: &str) -> &'a ImportedService {
    services
        .iter()
        .find(|s| s.namespace == namespace && s.name == name)
        .unwrap_or_else(|| panic!("{namespace}/{name} was imported"))
}

/// Server-owned fields and webhook annotations that must never reach the output.
const CLUSTER_ADDED: [&str; 16] = [
    "status:",
    "managedFields",
    "uid:",
    "resourceVersion",
    "generation:",
    "creationTimestamp",
    "selfLink",
    "ownerReferences",
    "finalizers",
    "serving.knative.dev/creator",
    "serving.knative.dev/lastModifier",
    "kubectl.kubernetes.io/last-applied-configuration",
    "observedGeneration",
    "latestReadyRevisionName",
    "conditions",
    "example.com/audit",
];

#[tokio::test]
async fn every_service_in_all_namespaces_is_read_across_pages_and_cleaned() {
    let api = FakeKube::start(FakeCluster::with_fixtures()).await;
    let connection = api.connection(Some("kind-shop"));
    let mut all = query(&connection, NamespaceScope::All);
    all.page_size = 2;

    let services = fetch_services(connection.client.clone(), &all)
        .await
        .unwrap();

    let names: Vec<String> = services
        .iter()
        .map(|s| format!("{}/{}", s.namespace, s.name))
        .collect();
    assert_eq!(
        names,
        [
            "default/hello",
            "payments/checkout",
            "payments/ledger",
            "payments/refunds"
        ]
    );
    let lists: Vec<String> = api
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET /apis/serving.knative.dev/v1/services"))
        .collect();
    assert_eq!(
        lists,
        [
            "GET /apis/serving.knative.dev/v1/services?limit=2",
            "GET /apis/serving.knative.dev/v1/services?limit=2&continue=eyJzdGFydCI62",
        ],
        "two pages, the second asked for with the continue token"
    );
    for service in &services {
        for noise in CLUSTER_ADDED {
            assert!(
                !service.manifest_yaml.contains(noise),
                "{}/{} still has {noise}:\n{}",
                service.namespace,
                service.name,
                service.manifest_yaml
            );
        }
    }
}

#[tokio::test]
async fn the_cleaned_service_keeps_its_spec_intact() {
    let api = FakeKube::start(FakeCluster::with_fixtures()).await;
    let connection = api.connection(None);
    let services = fetch_services(
        connection.client.clone(),
        &query(&connection, in_namespace("payments")),
    )
    .await
    .unwrap();

    let checkout = documents(find(&services, "payments", "checkout"));
    let service = &checkout[0];
    let original = &fixture("services.json")["items"][0];
    assert_eq!(service["apiVersion"], "serving.knative.dev/v1");
    assert_eq!(service["kind"], "Service");
    assert_eq!(
        service["metadata"],
        json!({
            "name": "checkout",
            "namespace": "payments",
            "labels": {"app.kubernetes.io/part-of": "shop", "tier": "frontend"},
            "annotations": {"serving.knative.dev/rollout-duration": "120s"},
        })
    );
    assert_eq!(
        service["spec"]["template"]["metadata"],
        json!({"annotations": {
            "autoscaling.knative.dev/max-scale": "5",
            "autoscaling.knative.dev/min-scale": "1",
        }})
    );
    let container = &service["spec"]["template"]["spec"]["containers"][0];
    let original_container = &original["spec"]["template"]["spec"]["containers"][0];
    for field in [
        "env",
        "envFrom",
        "image",
        "name",
        "ports",
        "resources",
        "volumeMounts",
    ] {
        assert_eq!(
            container[field], original_container[field],
            "{field} is kept"
        );
    }
    assert!(
        container.get("readinessProbe").is_none(),
        "the webhook's default TCP probe is dropped: it means the same as no probe"
    );
    let pod_spec = &service["spec"]["template"]["spec"];
    assert_eq!(
        pod_spec["volumes"],
        original["spec"]["template"]["spec"]["volumes"]
    );
    assert_eq!(
        pod_spec["containerConcurrency"], 0,
        "cluster defaults that may vary are kept"
    );
    assert_eq!(pod_spec["timeoutSeconds"], 300);
    assert!(pod_spec.get("enableServiceLinks").is_none());
    assert!(
        service["spec"].get("traffic").is_none(),
        "100% to latest is the default"
    );

    // A traffic split with tags, a named template, an h2c port and a gRPC probe all survive.
    let ledger = &documents(find(&services, "payments", "ledger"))[0];
    let original_ledger = &fixture("services.json")["items"][1];
    assert_eq!(
        ledger["spec"]["traffic"],
        original_ledger["spec"]["traffic"]
    );
    assert_eq!(ledger["spec"]["template"]["metadata"]["name"], "ledger-v3");
    assert_eq!(
        ledger["spec"]["template"]["spec"]["containers"][0]["readinessProbe"],
        original_ledger["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    );
    assert_eq!(
        ledger["metadata"]["labels"]["networking.knative.dev/visibility"],
        "cluster-local"
    );
    assert_eq!(
        ledger["spec"]["template"]["spec"]["containerConcurrency"],
        10
    );

    // The snapshot keeps the file it had when these tests were their own crate (`import`).
    let mut snapshots = insta::Settings::clone_current();
    snapshots.set_snapshot_path("../snapshots");
    snapshots.set_prepend_module_to_snapshot(false);
    snapshots.bind(|| {
        insta::assert_snapshot!(
            "import__checkout_manifest",
            find(&services, "payments", "checkout").manifest_yaml
        )
    });
}

#[tokio::test]
async fn the_same_cluster_state_gives_the_same_bytes() {
    let api = FakeKube::start(FakeCluster::with_fixtures()).await;
    let connection = api.connection(None);
    let mut page_by_page = query(&connection, NamespaceScope::All);
    page_by_page.page_size = 1;
    let first = fetch_services(connection.client.clone(), &page_by_page)
        .await
        .unwrap();
    let second = fetch_services(
        connection.client.clone(),
        &query(&connection, NamespaceScope::All),
    )
    .await
    .unwrap();
    assert_eq!(first, second, "page size changes nothing in the output");
    let hello = &find(&first, "default", "hello").manifest_yaml;
    assert!(hello.starts_with("apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n"));
}

#[tokio::test]
async fn a_label_selector_is_passed_to_the_server() {
    let api = FakeKube::start(FakeCluster::with_fixtures()).await;
    let connection = api.connection(None);
    let mut backend = query(&connection, in_namespace("payments"));
    backend.selector = Some("tier=backend".to_string());

    let services = fetch_services(connection.client.clone(), &backend)
        .await
        .unwrap();

    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["ledger", "refunds"]);
    assert!(
        api.requests().contains(
            &"GET /apis/serving.knative.dev/v1/namespaces/payments/services?labelSelector=tier=backend&limit=500"
                .to_string()
        ),
        "{:?}",
        api.requests()
    );
}

#[tokio::test]
async fn named_services_are_read_with_get() {
    let api = FakeKube::start(FakeCluster::with_fixtures()).await;
    let connection = api.connection(None);
    let mut named = query(&connection, in_namespace("payments"));
    named.names = vec!["refunds".to_string(), "ledger".to_string()];

    let services = fetch_services(connection.client.clone(), &named)
        .await
        .unwrap();

    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["ledger", "refunds"], "sorted like a list");
    assert_eq!(
        api.requests(),
        [
            "GET /apis/serving.knative.dev/v1/namespaces/payments/services/refunds",
            "GET /apis/serving.knative.dev/v1/namespaces/payments/services/ledger",
            "GET /api/v1/namespaces/payments/secrets/refunds-api-key",
        ],
        "no list call: a Role with only `get` on services is enough"
    );
}

#[tokio::test]
async fn referenced_config_maps_are_included_cleaned_and_whole() {
    let api = FakeKube::start(FakeCluster::with_fixtures()).await;
    let connection = api.connection(None);
    let services = fetch_services(
        connection.client.clone(),
        &query(&connection, in_namespace("payments")),
    )
    .await
    .unwrap();

    let checkout = documents(find(&services, "payments", "checkout"));
    let config_maps: Vec<&Value> = checkout
        .iter()
        .filter(|d| d["kind"] == "ConfigMap")
        .collect();
    let names: Vec<&str> = config_maps
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["checkout-config", "feature-flags", "shop-shared"],
        "env configMapKeyRef, projected volume and envFrom; kube-root-ca.crt is not referenced"
    );
    assert_eq!(
        *config_maps[0],
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "checkout-config",
                "namespace": "payments",
                "labels": {"app.kubernetes.io/part-of": "shop"},
            },
            "data": {"checkout.properties": "retries=3\ntimeout=2s\n", "currency": "EUR"},
        })
    );
    assert_eq!(config_maps[2]["immutable"], true);
    assert!(
        api.requests()
            .iter()
            .filter(|r| r.ends_with("/configmaps/shop-shared"))
            .count()
            == 1
    );
    // A referenced object that does not exist (refunds' optional Secret) is left out, not an
    // error: the converter reports references it has no object for.
    assert_eq!(documents(find(&services, "payments", "refunds")).len(), 1);
    assert!(
        api.requests()
            .contains(&"GET /api/v1/namespaces/payments/secrets/refunds-api-key".to_string())
    );
}

/// Every form in which the fixture secrets' values exist: plain and base64.
fn secret_values() -> Vec<String> {
    let mut values = vec![
        "correct-horse-battery-staple".to_string(),
        "checkout_app".to_string(),
        "MIIDtlsCERTvalue4242".to_string(),
        "MIIEprivateKEYvalue9876".to_string(),
    ];
    for secret in fixture("secrets.json")["items"].as_array().unwrap() {
        for encoded in secret["data"].as_object().unwrap().values() {
            values.push(encoded.as_str().unwrap().to_string());
        }
    }
    values
}

#[tokio::test]
async fn secrets_keep_their_key_names_and_never_their_values() {
    let api = FakeKube::start(FakeCluster::with_fixtures()).await;
    let connection = api.connection(None);
    let services = fetch_services(
        connection.client.clone(),
        &query(&connection, in_namespace("payments")),
    )
    .await
    .unwrap();
    let export_dir = tempfile::tempdir().unwrap();
    export(export_dir.path(), &services).unwrap();

    let checkout = documents(find(&services, "payments", "checkout"));
    let secrets: Vec<&Value> = checkout.iter().filter(|d| d["kind"] == "Secret").collect();
    assert_eq!(
        secrets,
        [
            &json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "checkout-db", "namespace": "payments"},
                "type": "Opaque",
                "data": {"password": "", "username": ""},
            }),
            &json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "checkout-tls", "namespace": "payments"},
                "type": "kubernetes.io/tls",
                "data": {"tls.crt": "", "tls.key": ""},
            }),
        ]
    );

    let mut everything_written = String::new();
    for service in &services {
        everything_written.push_str(&service.manifest_yaml);
        everything_written.push_str(&format!("{service:?}"));
    }
    for path in files_under(export_dir.path()) {
        everything_written.push_str(&std::fs::read_to_string(path).unwrap());
    }
    for value in secret_values() {
        assert!(
            !everything_written.contains(&value),
            "a secret value leaked: {value}"
        );
    }
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn export_writes_one_file_per_service_by_namespace() {
    let api = FakeKube::start(FakeCluster::with_fixtures()).await;
    let connection = api.connection(None);
    let services = fetch_services(
        connection.client.clone(),
        &query(&connection, NamespaceScope::All),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();

    let written = export(dir.path(), &services).unwrap();

    let relative: Vec<String> = files_under(dir.path())
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(
        relative,
        [
            "default/hello.yaml",
            "payments/checkout.yaml",
            "payments/ledger.yaml",
            "payments/refunds.yaml"
        ],
        "no temporary files are left behind"
    );
    assert_eq!(written.len(), 4);
    for (path, service) in written.iter().zip(&services) {
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            service.manifest_yaml
        );
    }
    // Exporting again replaces the files in place.
    export(dir.path(), &services).unwrap();
    assert_eq!(files_under(dir.path()).len(), 4);
}

#[tokio::test]
async fn a_missing_named_service_is_reported_by_name_and_namespace() {
    let api = FakeKube::start(FakeCluster::with_fixtures()).await;
    let connection = api.connection(Some("kind-shop"));
    let mut named = query(&connection, in_namespace("payments"));
    named.names = vec!["checkout".to_string(), "shipping".to_string()];

    let error = fetch_services(connection.client.clone(), &named)
        .await
        .unwrap_err();

    assert!(
        matches!(&error, ImportError::ServiceNotFound { name, namespace, .. } if name == "shipping" && namespace == "payments"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with("Knative Service \"shipping\" not found in namespace \"payments\""),
        "{message}"
    );
    assert!(
        message.contains("kubectl get ksvc -n payments"),
        "{message}"
    );
}

#[tokio::test]
async fn a_forbidden_list_names_the_verb_resource_and_namespace() {
    let api = FakeKube::start(FakeCluster {
        forbid_service_list: true,
        ..FakeCluster::with_fixtures()
    })
    .await;
    let connection = api.connection(Some("ci"));

    let error = fetch_services(
        connection.client.clone(),
        &query(&connection, in_namespace("payments")),
    )
    .await
    .unwrap_err();

    assert!(matches!(error, ImportError::Forbidden { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("cannot list services.serving.knative.dev in namespace \"payments\""),
        "{message}"
    );
    assert!(
        message.contains("system:serviceaccount:ci:knative2nomad"),
        "{message}"
    );
    assert!(message.contains("docs/import.md"), "{message}");
}

#[tokio::test]
async fn a_forbidden_secret_read_names_the_missing_permission() {
    let api = FakeKube::start(FakeCluster {
        forbid_secret_get: true,
        ..FakeCluster::with_fixtures()
    })
    .await;
    let connection = api.connection(Some("ci"));
    let mut checkout = query(&connection, in_namespace("payments"));
    checkout.names = vec!["checkout".to_string()];

    let error = fetch_services(connection.client.clone(), &checkout)
        .await
        .unwrap_err();

    let message = error.to_string();
    assert!(
        message.contains("cannot get secrets in namespace \"payments\""),
        "{message}"
    );
}

#[tokio::test]
async fn a_cluster_without_knative_says_serving_is_not_served() {
    let api = FakeKube::start(FakeCluster {
        without_knative: true,
        ..FakeCluster::with_fixtures()
    })
    .await;
    let connection = api.connection(Some("plain-k8s"));

    let error = fetch_services(
        connection.client.clone(),
        &query(&connection, NamespaceScope::All),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, ImportError::KnativeNotInstalled { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("serving.knative.dev/v1 is not served"),
        "{message}"
    );
    assert!(message.contains(&api.url), "{message}");
    assert!(message.contains("context \"plain-k8s\""), "{message}");

    // A get by name on such a cluster is the same problem, not a missing service.
    let mut named = query(&connection, in_namespace("default"));
    named.names = vec!["hello".to_string()];
    let error = fetch_services(connection.client.clone(), &named)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ImportError::KnativeNotInstalled { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_unreachable_cluster_names_the_server_and_context() {
    // A port that was just free and is closed now: connection refused, at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let config = kube::Config::new(url.parse().unwrap());
    let connection =
        knative2nomad::knative::cluster::client_for(config, Some("kind-gone".to_string())).unwrap();

    let error = fetch_services(
        connection.client.clone(),
        &query(&connection, in_namespace("default")),
    )
    .await
    .unwrap_err();

    assert!(
        matches!(error, ImportError::Unreachable { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(&url), "{message}");
    assert!(message.contains("context \"kind-gone\""), "{message}");
    assert!(message.contains("onnection refused"), "{message}");
}

#[tokio::test]
async fn the_kubeconfig_context_picks_server_and_default_namespace() {
    let api = FakeKube::start(FakeCluster::with_fixtures()).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1
kind: Config
current-context: elsewhere
clusters:
- name: fake
  cluster:
    server: {url}
- name: other
  cluster:
    server: https://192.0.2.1:6443
contexts:
- name: shop
  context:
    cluster: fake
    user: reader
    namespace: payments
- name: elsewhere
  context:
    cluster: other
    user: reader
users:
- name: reader
  user:
    token: not-a-real-token
",
            url = api.url
        ),
    )
    .unwrap();
    let args = Cli::parse_from([
        "test",
        "--from-cluster",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--context",
        "shop",
    ])
    .cluster;

    let connection = connect(&args.kube_settings()).await.unwrap();
    let resolved = ClusterQuery::new(&args.selection(), Vec::new(), &connection).unwrap();

    assert_eq!(connection.origin.context.as_deref(), Some("shop"));
    assert_eq!(resolved.scope, in_namespace("payments"), "like kubectl");
    let services = fetch_services(connection.client.clone(), &resolved)
        .await
        .unwrap();
    assert_eq!(services.len(), 3);

    // -n wins over the context's namespace; -A reads everywhere.
    let mut explicit = args.clone();
    explicit.namespace = Some("default".to_string());
    assert_eq!(
        ClusterQuery::new(&explicit.selection(), Vec::new(), &connection)
            .unwrap()
            .scope,
        in_namespace("default")
    );
    let mut everywhere = args.clone();
    everywhere.all_namespaces = true;
    assert_eq!(
        ClusterQuery::new(&everywhere.selection(), Vec::new(), &connection)
            .unwrap()
            .scope,
        NamespaceScope::All
    );
    // Names cannot be combined with -A or -l, as in kubectl.
    assert!(matches!(
        ClusterQuery::new(
            &everywhere.selection(),
            vec!["hello".to_string()],
            &connection
        ),
        Err(ImportError::InvalidQuery(_))
    ));
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[test]
fn flags_follow_kubectl() {
    let args = Cli::try_parse_from([
        "test",
        "--from-cluster",
        "-n",
        "payments",
        "-l",
        "tier=backend",
        "--context",
        "kind-shop",
        "--export-dir",
        "exported",
    ])
    .unwrap()
    .cluster;
    assert!(args.from_cluster);
    assert_eq!(args.namespace.as_deref(), Some("payments"));
    assert_eq!(args.selector.as_deref(), Some("tier=backend"));
    assert_eq!(args.kube.context.as_deref(), Some("kind-shop"));
    assert_eq!(args.export_dir.as_deref(), Some(Path::new("exported")));
    assert!(
        Cli::try_parse_from(["test", "--from-cluster", "-A"])
            .unwrap()
            .cluster
            .all_namespaces
    );
    assert!(
        Cli::try_parse_from(["test", "--from-cluster", "-n", "x", "-A"]).is_err(),
        "-n and -A conflict"
    );
    assert!(
        Cli::try_parse_from(["test", "-n", "x"]).is_err(),
        "cluster flags need --from-cluster"
    );
}

/// The shape `convert` will have: its PATH positional doubles as service names, and the cluster
/// flags sit next to the mapping flags (whose `--nomad-namespace` field is also `namespace`).
#[test]
fn cluster_flags_flatten_into_convert_without_clashes() {
    use clap::CommandFactory;
    use knative2nomad::cli::{Cli, Command};
    Cli::command().debug_assert();

    let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied());
    let parsed = parse(&[
        "knative2nomad",
        "convert",
        "--from-cluster",
        "-n",
        "payments",
        "--nomad-namespace",
        "shop",
        "checkout",
        "-o",
        "jobs",
    ])
    .unwrap();
    let Command::Convert(args) = parsed.command else {
        panic!("not convert")
    };
    assert_eq!(args.cluster.namespace.as_deref(), Some("payments"));
    assert_eq!(args.placement.namespace.as_deref(), Some("shop"));
    assert_eq!(args.paths, [std::path::PathBuf::from("checkout")]);
    assert!(parse(&["knative2nomad", "convert", "--from-cluster"]).is_ok());
    assert!(
        parse(&["knative2nomad", "convert"]).is_err(),
        "files are still required without --from-cluster"
    );
}

/// The pods of one revision, as Knative labels them.
const REVISION_00001: &str = "serving.knative.dev/revision=hello-00001";

fn watch_event(kind: &str, object: Value) -> Value {
    json!({"type": kind, "object": object})
}

#[tokio::test]
async fn wait_for_zero_pods_returns_when_the_last_pod_is_deleted() {
    let running = fixture("pod-running.json");
    let mut terminating = running.clone();
    terminating["metadata"]["deletionTimestamp"] = json!("2026-11-28T10:05:00Z");
    terminating["metadata"]["resourceVersion"] = json!("920011");
    let mut deleted = terminating.clone();
    deleted["metadata"]["resourceVersion"] = json!("920012");
    let mut other_revision = running.clone();
    other_revision["metadata"]["name"] = json!("hello-00002-deployment-7f8c9d-abcde");
    other_revision["metadata"]["labels"]["serving.knative.dev/revision"] = json!("hello-00002");
    let api = FakeKube::start(FakeCluster {
        pods: vec![running, other_revision],
        pod_watch_events: vec![
            watch_event("MODIFIED", terminating),
            watch_event("DELETED", deleted),
        ],
        ..FakeCluster::default()
    })
    .await;

    wait_for_zero_pods(
        api.client(),
        &ClusterOrigin::default(),
        "default",
        REVISION_00001,
    )
    .await
    .unwrap();

    let requests = api.requests();
    assert_eq!(
        requests.len(),
        2,
        "one list, one watch, no polling: {requests:?}"
    );
    assert!(requests[0].contains("labelSelector=serving.knative.dev/revision=hello-00001"));
    assert!(requests[1].contains("watch=true"), "{requests:?}");
    assert!(
        requests[1].contains("resourceVersion=920010"),
        "{requests:?}"
    );
}

#[tokio::test]
async fn wait_for_zero_pods_returns_at_once_when_none_run() {
    let api = FakeKube::start(FakeCluster::default()).await;
    wait_for_zero_pods(
        api.client(),
        &ClusterOrigin::default(),
        "default",
        REVISION_00001,
    )
    .await
    .unwrap();
    assert_eq!(
        api.requests().len(),
        1,
        "the list alone answers: {:?}",
        api.requests()
    );
}

#[tokio::test]
async fn cluster_and_exported_yaml_give_identical_jobs() {
    use knative2nomad::batch;
    use knative2nomad::config::ConvertOptions;
    let api = FakeKube::start(FakeCluster::with_fixtures()).await;
    let connection = api.connection(None);
    let services = fetch_services(
        connection.client.clone(),
        &query(&connection, NamespaceScope::All),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    export(dir.path(), &services).unwrap();

    let opts = ConvertOptions::default();
    let from_cluster = batch::run_inputs(
        services
            .into_iter()
            .map(ImportedService::into_input)
            .collect(),
        &opts,
    );
    let from_files = batch::run(&[dir.path().to_path_buf()], &opts);
    let jobs = |batch: &batch::Batch| -> Vec<Value> {
        batch
            .services
            .iter()
            .map(|s| {
                let mut job = serde_json::to_value(s.job().expect("converted")).unwrap();
                // Only the provenance differs: where the YAML was read from.
                job["Meta"]
                    .as_object_mut()
                    .unwrap()
                    .remove("knative2nomad.source");
                job
            })
            .collect()
    };
    let cluster_jobs = jobs(&from_cluster);
    assert_eq!(cluster_jobs.len(), 4);
    assert_eq!(cluster_jobs, jobs(&from_files));
    let codes = |batch: &batch::Batch| -> Vec<(String, &'static str)> {
        batch
            .all_findings()
            .map(|f| (f.path.clone(), f.code))
            .collect()
    };
    assert_eq!(codes(&from_cluster), codes(&from_files));
}
