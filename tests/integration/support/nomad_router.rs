//! A router in front of the Nomad double's allocations, on loopback, for the verifier's tests of
//! jobs that are always on (no Sablier): jobs as `convert` writes them take a dynamic port, so a
//! client reaches them through a router that follows the service's healthy allocations, as
//! Traefik's Nomad provider does; with none it answers 503 at once. The scale-to-zero path
//! (Traefik with the Sablier middleware and hops) is `traefik_double.rs`.

use super::verify_fixtures::{forward, serve, text};
use hyper::Request;
use std::net::SocketAddr;
use std::sync::Arc;

/// The `http` ports of the group's healthy allocations (`NomadDouble::service_ports`).
pub type Ports = Arc<dyn Fn() -> Vec<u16> + Send + Sync>;

/// A client that opens a new connection per request, so each one reaches whatever allocation
/// is there now.
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
                    Some(port) => forward(&client, *port, path)
                        .await
                        .unwrap_or_else(|_| text(502, "Bad Gateway")),
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
