//! A small proxy that does what Traefik with the Sablier plugin does for the routes `convert`
//! writes, so the scale-to-zero path can be tested without Traefik:
//!
//! - **Entry points** `web` and `internal` serve the file-provider routes loaded with
//!   [`TraefikDouble::load_routes`] (the typed model of `knative2nomad::traefik::dynamic`, unknown
//!   keys refused): a router matches its entry points and its `Host(…)` rule (only that matcher is
//!   supported; Traefik's rule is matched against the request's host, port removed). No router
//!   matches: 404 `404 page not found`, and no middleware runs (Traefik's router.go).
//! - **The Sablier middleware** (sablierapp/sablier-traefik-plugin `main.go`, v1.3.0) calls
//!   `GET {sablierUrl}/api/strategies/blocking?session_duration=…&group=…&timeout=…` with the
//!   client's request context and no timeout of its own. With `X-Sablier-Session-Status: ready`
//!   the request goes on to the router's service; otherwise Sablier's status and body are the
//!   answer.
//! - **The router's service** is a load balancer whose server is the loopback `hop` entry point;
//!   the Host header is kept (`passHostHeader`). A server that refuses the connection: 502.
//! - **Entry point `hop`** routes by the running allocations' service tags, as Traefik's Nomad
//!   provider (exposedByDefault false) builds routers from them: from `GET /v1/services` and
//!   `GET /v1/service/:name` of the Nomad API at each request (Traefik watching with no delay),
//!   only services tagged `traefik.enable=true`; a router
//!   `traefik.http.routers.<r>.rule=Host(`…`)` listens on the entry points its
//!   `…entrypoints=` tag lists, or on all when it has none; it forwards to the registration's
//!   address and port. No router: 404.
//!
//! Not reproduced: the plugin's retry of a 503 Traefik produced itself (no health-checked server
//! pools here), TLS, HTTP/2, other rule matchers, middlewares other than Sablier's.

use super::loopback_http::{Reply, bind, reply, serve_on};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use knative2nomad::traefik::dynamic::DynamicConfig;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};

struct Shared {
    nomad_address: String,
    namespace: String,
    http: reqwest::Client,
    routes: RwLock<DynamicConfig>,
}

/// A running proxy on 127.0.0.1 (three listeners); stopped when dropped.
pub struct TraefikDouble {
    web: SocketAddr,
    internal: SocketAddr,
    hop: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for TraefikDouble {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl TraefikDouble {
    /// Starts the entry points; the tag-defined routers come from the Nomad API at
    /// `nomad_address` (namespace `namespace`). No file routes until [`Self::load_routes`].
    pub async fn start(nomad_address: &str, namespace: &str) -> TraefikDouble {
        let shared = Arc::new(Shared {
            nomad_address: nomad_address.trim_end_matches('/').to_string(),
            namespace: namespace.to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            routes: RwLock::new(DynamicConfig::default()),
        });
        let mut tasks = Vec::new();
        let mut addrs = Vec::new();
        for entry_point in ["web", "internal", "hop"] {
            let (listener, addr) = bind().await;
            let s = shared.clone();
            tasks.push(serve_on(listener, move |req| {
                let s = s.clone();
                async move {
                    if entry_point == "hop" {
                        hop(&s, req).await
                    } else {
                        entry(&s, entry_point, req).await
                    }
                }
            }));
            addrs.push(addr);
        }
        TraefikDouble {
            web: addrs[0],
            internal: addrs[1],
            hop: addrs[2],
            shared,
            tasks,
        }
    }

    /// The `hop` entry point's address (`serverless.hop-address` to convert with).
    pub fn hop_address(&self) -> String {
        self.hop.to_string()
    }

    /// The public entry point, e.g. `http://127.0.0.1:41234/`.
    pub fn web_url(&self) -> String {
        format!("http://{}/", self.web)
    }

    /// The entry point for cluster-local Services.
    pub fn internal_url(&self) -> String {
        format!("http://{}/", self.internal)
    }

    /// Loads every `*.yml` under `dir` as the file provider does (all files merged into one
    /// configuration). Panics on a file that is not a valid route, or on a name two files define.
    pub fn load_routes(&self, dir: &Path) {
        let mut merged = DynamicConfig::default();
        let mut files = Vec::new();
        collect(dir, &mut files);
        for path in files {
            let text = std::fs::read_to_string(&path).expect("read route");
            let config = DynamicConfig::parse(&text)
                .unwrap_or_else(|e| panic!("{}: not a valid route: {e}", path.display()));
            for (name, r) in config.http.routers {
                assert!(
                    merged.http.routers.insert(name, r).is_none(),
                    "router twice"
                );
            }
            for (name, m) in config.http.middlewares {
                assert!(
                    merged.http.middlewares.insert(name, m).is_none(),
                    "middleware twice"
                );
            }
            for (name, s) in config.http.services {
                assert!(
                    merged.http.services.insert(name, s).is_none(),
                    "service twice"
                );
            }
        }
        *self.shared.routes.write().expect("routes") = merged;
    }
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("routes dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml") {
            out.push(path);
        }
    }
}

/// The request's host without a port.
fn host_of(req: &hyper::Request<Incoming>) -> String {
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    host.rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
        .to_ascii_lowercase()
}

/// The host of a `Host(`…`)` rule; other rules are not supported here.
fn rule_host(rule: &str) -> Option<&str> {
    rule.strip_prefix("Host(`")?.strip_suffix("`)")
}

fn not_found() -> Reply {
    reply(404, "text/plain; charset=utf-8", "404 page not found\n")
}

async fn entry(shared: &Shared, entry_point: &str, req: hyper::Request<Incoming>) -> Reply {
    let host = host_of(&req);
    let (middlewares, servers) = {
        let routes = shared.routes.read().expect("routes");
        let router = routes.http.routers.values().find(|r| {
            r.entry_points.iter().any(|e| e == entry_point)
                && rule_host(&r.rule).is_some_and(|h| h.eq_ignore_ascii_case(&host))
        });
        let Some(router) = router else {
            return not_found();
        };
        let Some(service) = routes.http.services.get(&router.service) else {
            // Traefik drops a router whose service does not exist.
            return not_found();
        };
        let middlewares: Option<Vec<_>> = router
            .middlewares
            .iter()
            .map(|m| routes.http.middlewares.get(m).cloned())
            .collect();
        let Some(middlewares) = middlewares else {
            return not_found();
        };
        (middlewares, service.load_balancer.servers.clone())
    };
    for m in middlewares {
        let sablier = &m.plugin.sablier;
        let url = format!(
            "{}/api/strategies/blocking?session_duration={}&group={}&timeout={}",
            sablier.sablier_url.trim_end_matches('/'),
            sablier.session_duration,
            sablier.group,
            sablier.blocking.timeout
        );
        let resp = match shared.http.get(url).send().await {
            Ok(r) => r,
            Err(e) => return reply(500, "text/plain", format!("sablier: {e}")),
        };
        let ready = resp
            .headers()
            .get("X-Sablier-Session-Status")
            .is_some_and(|v| v == "ready");
        if !ready {
            let status = resp.status().as_u16();
            let body = resp.bytes().await.unwrap_or_default();
            return reply(status, "application/problem+json", body);
        }
    }
    let Some(server) = servers.first() else {
        return reply(503, "text/plain", "no available server");
    };
    forward(shared, &server.url, req).await
}

async fn hop(shared: &Shared, req: hyper::Request<Incoming>) -> Reply {
    let host = host_of(&req);
    let backend = match tag_router_backend(shared, &host).await {
        Ok(Some(b)) => b,
        Ok(None) => return not_found(),
        Err(e) => return reply(502, "text/plain", e),
    };
    forward(shared, &format!("http://{backend}"), req).await
}

/// The address of a registration whose tags define a router on `hop` for `host`.
async fn tag_router_backend(shared: &Shared, host: &str) -> Result<Option<String>, String> {
    let get = |path: String| {
        let url = format!(
            "{}{path}?namespace={}",
            shared.nomad_address, shared.namespace
        );
        async move {
            let r = shared
                .http
                .get(url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            r.json::<Value>().await.map_err(|e| e.to_string())
        }
    };
    let list = get("/v1/services".to_string()).await?;
    let names: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|ns| ns["Services"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["ServiceName"].as_str().map(str::to_string))
        .collect();
    for name in names {
        let registrations = get(format!("/v1/service/{name}")).await?;
        for r in registrations.as_array().into_iter().flatten() {
            let tags: Vec<&str> = r["Tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !tags.contains(&"traefik.enable=true") {
                continue;
            }
            for tag in &tags {
                let Some((router, rule)) = tag
                    .strip_prefix("traefik.http.routers.")
                    .and_then(|t| t.split_once(".rule="))
                else {
                    continue;
                };
                let on_hop = match tags.iter().find_map(|t| {
                    t.strip_prefix(&format!("traefik.http.routers.{router}.entrypoints="))
                }) {
                    Some(list) => list.split(',').any(|e| e.trim() == "hop"),
                    None => true,
                };
                if on_hop && rule_host(rule).is_some_and(|h| h.eq_ignore_ascii_case(host)) {
                    return Ok(Some(format!(
                        "{}:{}",
                        r["Address"].as_str().unwrap_or(""),
                        r["Port"]
                    )));
                }
            }
        }
    }
    Ok(None)
}

/// Forwards the request to `base` (scheme and authority), keeping method, path, Host and body.
async fn forward(shared: &Shared, base: &str, req: hyper::Request<Incoming>) -> Reply {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in req.headers() {
        let hop_by_hop = matches!(
            k.as_str(),
            "connection" | "content-length" | "transfer-encoding"
        );
        if !hop_by_hop
            && let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(k.as_str().as_bytes()),
                reqwest::header::HeaderValue::from_bytes(v.as_bytes()),
            )
        {
            headers.append(name, value);
        }
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let resp = shared
        .http
        .request(method, format!("{}{path}", base.trim_end_matches('/')))
        .headers(headers)
        .body(body.to_vec())
        .send()
        .await;
    match resp {
        Ok(r) => {
            let status = r.status().as_u16();
            let mut out_headers = Vec::new();
            for (k, v) in r.headers() {
                if !matches!(
                    k.as_str(),
                    "connection" | "content-length" | "transfer-encoding"
                ) {
                    out_headers.push((k.clone(), v.clone()));
                }
            }
            let body = r.bytes().await.unwrap_or_default();
            let mut out = reply(status, "text/plain", body);
            for (k, v) in out_headers {
                if let (Ok(name), Ok(value)) = (
                    hyper::header::HeaderName::from_bytes(k.as_str().as_bytes()),
                    hyper::header::HeaderValue::from_bytes(v.as_bytes()),
                ) {
                    out.headers_mut().insert(name, value);
                }
            }
            out
        }
        Err(_) => reply(502, "text/plain", "Bad Gateway"),
    }
}
