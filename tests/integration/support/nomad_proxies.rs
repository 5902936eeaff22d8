//! Proxies in front of the Nomad double's allocations, on loopback, for the verifier's tests:
//! - [`Router`]: a Traefik stand-in. Jobs as `convert` writes them take a dynamic port, so a
//!   client reaches them through a router that follows the service's healthy allocations
//!   (Traefik's Nomad provider); with none it answers 503 at once.
//! - [`OnDemandProxy`]: a minimal stand-in for Sablier's blocking strategy in front of a group at
//!   count 0: it holds a request, scales the group to 1 through the Nomad API (as Sablier's Nomad
//!   provider does, `POST /v1/job/:id/scale`), waits for a healthy allocation and forwards the
//!   request. It never scales down (the verifier brings the group to 0 itself). Not a Sablier
//!   double: no sessions, no strategies, no Traefik plugin.

use super::verify_fixtures::{serve, text};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The `http` ports of the group's healthy allocations (`NomadDouble::service_ports`).
pub type Ports = Arc<dyn Fn() -> Vec<u16> + Send + Sync>;

/// Forward `path` to 127.0.0.1:`port` on a new connection; the answer's status, body and
/// `x-k2n-instance` header come back.
async fn forward(client: &reqwest::Client, port: u16, path: &str) -> Response<Full<Bytes>> {
    match client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            let instance = r.headers().get("x-k2n-instance").cloned();
            let body = r.bytes().await.unwrap_or_default();
            let mut out = Response::new(Full::new(body));
            *out.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
            if let Some(v) = instance {
                out.headers_mut().insert("x-k2n-instance", v);
            }
            out
        }
        Err(_) => text(502, "Bad Gateway"),
    }
}

fn no_pool() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// A Traefik stand-in for one service.
pub struct Router {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Router {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Router {
    pub async fn start(ports: Ports) -> Router {
        let client = no_pool();
        let (addr, task) = serve(move |req: Request<hyper::body::Incoming>| {
            let (ports, client) = (ports.clone(), client.clone());
            async move {
                let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
                match ports().first() {
                    Some(port) => forward(&client, *port, path).await,
                    None => text(503, "no available server"),
                }
            }
        })
        .await;
        Router { addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

/// A minimal Sablier stand-in (blocking strategy) for one group of one job.
pub struct OnDemandProxy {
    pub addr: SocketAddr,
    /// Scale-ups it sent.
    pub scale_ups: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OnDemandProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OnDemandProxy {
    pub async fn start(
        ports: Ports,
        nomad_address: String,
        job: &str,
        group: &str,
    ) -> OnDemandProxy {
        let client = no_pool();
        let scale_ups = Arc::new(AtomicUsize::new(0));
        // One scale-up at a time, as Sablier starts an instance once for concurrent requests.
        let starting = Arc::new(tokio::sync::Mutex::new(()));
        let scale_url = format!("{nomad_address}/v1/job/{job}/scale");
        let group = group.to_string();
        let counter = scale_ups.clone();
        let (addr, task) = serve(move |req: Request<hyper::body::Incoming>| {
            let (ports, client, starting) = (ports.clone(), client.clone(), starting.clone());
            let (scale_url, group, counter) = (scale_url.clone(), group.clone(), counter.clone());
            async move {
                let path = req
                    .uri()
                    .path_and_query()
                    .map_or("/".to_string(), |p| p.as_str().to_string());
                if let Some(port) = ports().first() {
                    return forward(&client, *port, &path).await;
                }
                let deadline = Instant::now() + Duration::from_secs(30);
                {
                    let _one = starting.lock().await;
                    while ports().is_empty() && Instant::now() < deadline {
                        let scaled = client
                            .post(&scale_url)
                            .json(&json!({"Count": 1, "Target": {"Group": group},
                                          "Message": "on-demand proxy: first request"}))
                            .send()
                            .await;
                        match scaled {
                            Ok(r) if r.status().is_success() => {
                                counter.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                            // Nomad refuses a scale during an active deployment: try again.
                            Ok(_) | Err(_) => {}
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                while Instant::now() < deadline {
                    if let Some(port) = ports().first() {
                        return forward(&client, *port, &path).await;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                text(503, "the group did not start in time")
            }
        })
        .await;
        OnDemandProxy {
            addr,
            scale_ups,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}
