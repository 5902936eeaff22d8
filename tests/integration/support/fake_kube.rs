//! A fake Kubernetes API server for the cluster-import tests: an in-process hyper 1 server on
//! 127.0.0.1 that answers the handful of calls `knative2nomad` makes, the way a real API server
//! does (paths, `limit`/`continue` pagination, `labelSelector`, `Status` error bodies, a chunked
//! watch stream), from the JSON fixtures in `testdata/cluster/`.
//!
//! It is not a general Kubernetes simulator: no writes, no field selectors, no resourceVersion
//! semantics beyond what a single list-then-watch needs.

use super::loopback_http::decode_query;
use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, Infallible>;

pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/cluster")
        .join(name)
}

pub fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(name)).expect("fixture is readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn items(list: Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

/// What the fake cluster holds and how it misbehaves.
#[derive(Clone, Default)]
pub struct FakeCluster {
    pub services: Vec<Value>,
    pub config_maps: Vec<Value>,
    pub secrets: Vec<Value>,
    pub pods: Vec<Value>,
    /// Watch events (`{"type": ..., "object": ...}`) sent on a pod watch; the stream then stays
    /// open like a real one.
    pub pod_watch_events: Vec<Value>,
    /// Answer service lists with the 403 of `testdata/cluster/status-forbidden.json`.
    pub forbid_service_list: bool,
    /// Answer Secret reads with a 403, as for a Role without `get secrets`.
    pub forbid_secret_get: bool,
    /// Behave like a cluster without Knative: every serving.knative.dev path is a 404.
    pub without_knative: bool,
}

impl FakeCluster {
    /// The fixtures: four Services in two namespaces, their ConfigMaps and Secrets.
    pub fn with_fixtures() -> Self {
        FakeCluster {
            services: items(fixture("services.json")),
            config_maps: items(fixture("configmaps.json")),
            secrets: items(fixture("secrets.json")),
            ..FakeCluster::default()
        }
    }
}

pub struct FakeKube {
    pub url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeKube {
    pub async fn start(cluster: FakeCluster) -> FakeKube {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let cluster = Arc::new(cluster);
        let log = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let cluster = cluster.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let cluster = cluster.clone();
                        let log = log.clone();
                        async move { Ok::<_, Infallible>(answer(&cluster, &log, request)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeKube {
            url: format!("http://{address}"),
            requests,
        }
    }

    /// Every request so far, as `METHOD path?decoded-query`.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("request log").clone()
    }

    pub fn client(&self) -> kube::Client {
        self.connection(None).client
    }

    pub fn connection(
        &self,
        context: Option<&str>,
    ) -> knative2nomad::knative::cluster::ClusterConnection {
        let config = kube::Config::new(self.url.parse().expect("fake URL"));
        knative2nomad::knative::cluster::client_for(config, context.map(str::to_string))
            .expect("client for the fake API")
    }
}

fn answer(
    cluster: &FakeCluster,
    log: &Mutex<Vec<String>>,
    request: Request<Incoming>,
) -> Response<Body> {
    let path = request.uri().path().to_string();
    let query = decode_query(request.uri().query().unwrap_or(""));
    let rendered_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    log.lock()
        .expect("request log")
        .push(if rendered_query.is_empty() {
            format!("{} {}", request.method(), path)
        } else {
            format!("{} {}?{}", request.method(), path, rendered_query)
        });
    if request.method() != Method::GET {
        return status(
            405,
            "MethodNotAllowed",
            "the fake API is read-only",
            json!({}),
        );
    }
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["apis", "serving.knative.dev", ..] if cluster.without_knative => {
            json_response(404, fixture("status-crd-missing.json"))
        }
        ["apis", "serving.knative.dev", "v1", "services"] => list_services(
            cluster,
            None,
            param("limit"),
            param("continue"),
            param("labelSelector"),
        ),
        [
            "apis",
            "serving.knative.dev",
            "v1",
            "namespaces",
            namespace,
            "services",
        ] => list_services(
            cluster,
            Some(namespace),
            param("limit"),
            param("continue"),
            param("labelSelector"),
        ),
        [
            "apis",
            "serving.knative.dev",
            "v1",
            "namespaces",
            namespace,
            "services",
            name,
        ] => get_object(
            &cluster.services,
            namespace,
            name,
            "serving.knative.dev",
            "services",
        ),
        ["api", "v1", "namespaces", namespace, "configmaps", name] => {
            get_object(&cluster.config_maps, namespace, name, "", "configmaps")
        }
        ["api", "v1", "namespaces", namespace, "secrets", _] if cluster.forbid_secret_get => {
            status(
                403,
                "Forbidden",
                &format!(
                    "secrets is forbidden: User \"system:serviceaccount:ci:knative2nomad\" cannot get resource \"secrets\" in API group \"\" in the namespace \"{namespace}\""
                ),
                json!({"kind": "secrets"}),
            )
        }
        ["api", "v1", "namespaces", namespace, "secrets", name] => {
            get_object(&cluster.secrets, namespace, name, "", "secrets")
        }
        ["api", "v1", "namespaces", namespace, "pods"] => {
            let selected: Vec<Value> = cluster
                .pods
                .iter()
                .filter(|pod| pod["metadata"]["namespace"] == *namespace)
                .filter(|pod| matches_selector(pod, param("labelSelector").as_deref()))
                .cloned()
                .collect();
            if matches!(param("watch").as_deref(), Some("true" | "1")) {
                watch_stream(&cluster.pod_watch_events)
            } else {
                json_response(
                    200,
                    json!({
                        "apiVersion": "v1",
                        "kind": "PodList",
                        "metadata": {"resourceVersion": "920010"},
                        "items": selected,
                    }),
                )
            }
        }
        // What a real API server answers for a path it does not know.
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header("content-type", "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from_static(b"404 page not found\n")).boxed())
            .expect("response"),
    }
}

fn list_services(
    cluster: &FakeCluster,
    namespace: Option<&str>,
    limit: Option<String>,
    continue_token: Option<String>,
    selector: Option<String>,
) -> Response<Body> {
    if cluster.forbid_service_list {
        return json_response(403, fixture("status-forbidden.json"));
    }
    let mut selected: Vec<Value> = cluster
        .services
        .iter()
        .filter(|service| namespace.is_none_or(|ns| service["metadata"]["namespace"] == ns))
        .filter(|service| matches_selector(service, selector.as_deref()))
        .cloned()
        .collect();
    // etcd order: by key, i.e. namespace then name.
    selected.sort_by_key(|service| {
        (
            service["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            service["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        )
    });
    let start: usize = match continue_token {
        Some(token) => match token.strip_prefix("eyJzdGFydCI6") {
            Some(offset) => offset.parse().expect("token offset"),
            None => {
                return status(
                    400,
                    "BadRequest",
                    "continue key is not valid: incorrect encoded start resourceVersion",
                    json!({}),
                );
            }
        },
        None => 0,
    };
    let limit: usize = limit
        .map(|l| l.parse().expect("limit"))
        .unwrap_or(usize::MAX);
    let end = start.saturating_add(limit).min(selected.len());
    let mut metadata = json!({"resourceVersion": "918273"});
    if end < selected.len() {
        metadata["continue"] = json!(format!("eyJzdGFydCI6{end}"));
        metadata["remainingItemCount"] = json!(selected.len() - end);
    }
    json_response(
        200,
        json!({
            "apiVersion": "serving.knative.dev/v1",
            "kind": "ServiceList",
            "metadata": metadata,
            "items": selected[start..end],
        }),
    )
}

fn get_object(
    objects: &[Value],
    namespace: &str,
    name: &str,
    group: &str,
    kind: &str,
) -> Response<Body> {
    let found = objects.iter().find(|object| {
        object["metadata"]["namespace"] == namespace && object["metadata"]["name"] == name
    });
    match found {
        Some(object) => json_response(200, object.clone()),
        None => {
            let resource = if group.is_empty() {
                kind.to_string()
            } else {
                format!("{kind}.{group}")
            };
            let mut details = json!({"name": name, "kind": kind});
            if !group.is_empty() {
                details["group"] = json!(group);
            }
            status(
                404,
                "NotFound",
                &format!("{resource} \"{name}\" not found"),
                details,
            )
        }
    }
}

fn watch_stream(events: &[Value]) -> Response<Body> {
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = events
        .iter()
        .map(|event| Ok(Frame::data(Bytes::from(format!("{event}\n")))))
        .collect();
    // A real watch stays open until its timeout; a client that waits for more must not be
    // rescued by the stream ending.
    let stream = futures::stream::iter(frames).chain(futures::stream::pending());
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("transfer-encoding", "chunked")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .expect("response")
}

fn status(code: u16, reason: &str, message: &str, details: Value) -> Response<Body> {
    json_response(
        code,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": details,
            "code": code,
        }),
    )
}

fn json_response(code: u16, body: Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .expect("response")
}

/// Equality-based selectors: `k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated.
fn matches_selector(object: &Value, selector: Option<&str>) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    let labels = &object["metadata"]["labels"];
    selector.split(',').all(|term| {
        if let Some((key, value)) = term.split_once("!=") {
            labels[key.trim()] != value.trim()
        } else if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
            labels[key.trim()] == value.trim()
        } else if let Some(key) = term.strip_prefix('!') {
            labels.get(key.trim()).is_none()
        } else {
            labels.get(term.trim()).is_some()
        }
    })
}
