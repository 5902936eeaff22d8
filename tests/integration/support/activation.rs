//! The request path of a scale-to-zero job, on loopback, for tests and measurements: a Sablier
//! double (sablier_double.rs) and the Traefik stand-in with its Sablier middleware and two hops
//! (traefik_double.rs), both talking to a Nomad API such as the project's Nomad double.
//!
//! ```ignore
//! let path = ActivationPath::start(&nomad.address(), "default").await;
//! let mut opts = ConvertOptions::default();
//! path.configure(&mut opts);                       // routes call these doubles
//! // convert with `opts` (or the settings file from `path.settings_yaml()`) into OUT, deploy the
//! // jobs to the Nomad double, then:
//! path.load_routes(&OUT.join("traefik"));
//! path.sablier.scan().await;                      // or wait for its discovery
//! let answer = path.get("hello.default.example.com", "/").await;   // through the proxy
//! ```

use super::sablier_double::{SablierConfig, SablierDouble};
use super::traefik_double::TraefikDouble;
use knative2nomad::batch::ServiceOutcome;
use knative2nomad::config::ConvertOptions;
use std::path::Path;
use std::time::{Duration, Instant};

/// Sablier and the proxy in front of one Nomad API namespace.
pub struct ActivationPath {
    pub sablier: SablierDouble,
    pub traefik: TraefikDouble,
}

/// One request's answer through the proxy, and how long it took from sending to the whole body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub instance: Option<String>,
    pub body: String,
    pub elapsed: Duration,
}

impl ActivationPath {
    /// Starts both on 127.0.0.1 with [`SablierConfig::new`]'s settings.
    pub async fn start(nomad_address: &str, namespace: &str) -> ActivationPath {
        let mut config = SablierConfig::new(nomad_address);
        config.namespace = namespace.to_string();
        ActivationPath::start_with(config).await
    }

    pub async fn start_with(config: SablierConfig) -> ActivationPath {
        let traefik = TraefikDouble::start(&config.nomad_address, &config.namespace).await;
        let sablier = SablierDouble::start(config).await;
        ActivationPath { sablier, traefik }
    }

    /// Points the routes a conversion writes at these doubles.
    pub fn configure(&self, opts: &mut ConvertOptions) {
        opts.serverless.sablier_url = self.sablier.url();
        opts.serverless.hop_address = self.traefik.hop_address();
    }

    /// The same, as the `serverless:` section of a settings file (`convert --config`).
    pub fn settings_yaml(&self) -> String {
        format!(
            "serverless:\n  sablier-url: {}\n  hop-address: {}\n",
            self.sablier.url(),
            self.traefik.hop_address()
        )
    }

    /// Loads the route files (`OUT/traefik`) into the proxy.
    pub fn load_routes(&self, dir: &Path) {
        self.traefik.load_routes(dir);
    }

    /// Puts a Service converted in-process (with [`Self::configure`]'s settings) on the path:
    /// its job registered through the Nomad API at `nomad_address`, its route loaded into the
    /// proxy, and one Sablier discovery run. Returns the registration's answer.
    pub async fn deploy_converted(
        &self,
        nomad_address: &str,
        service: &ServiceOutcome,
    ) -> reqwest::Response {
        let routes = tempfile::tempdir().unwrap();
        let file = service.route_file().expect("scales to zero");
        std::fs::write(
            routes.path().join(file.path.file_name().unwrap()),
            &*file.text.unwrap(),
        )
        .unwrap();
        let job = serde_json::json!({"Job": service.job().unwrap()});
        let registered = reqwest::Client::new()
            .put(format!("{nomad_address}/v1/jobs"))
            .json(&job)
            .send()
            .await
            .unwrap();
        self.load_routes(routes.path());
        self.sablier.scan().await.unwrap();
        registered
    }

    /// The proxy's public entry point, e.g. `http://127.0.0.1:41234/`.
    pub fn url(&self) -> String {
        self.traefik.web_url()
    }

    /// `GET path` with `Host: host` through the public entry point, timed from sending to the
    /// last byte of the body.
    pub async fn get(&self, host: &str, path: &str) -> Answer {
        self.get_at(&self.url(), host, path).await
    }

    /// The same through the entry point at `base` (e.g. `self.traefik.internal_url()`).
    pub async fn get_at(&self, base: &str, host: &str, path: &str) -> Answer {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let url = format!("{}{}", base.trim_end_matches('/'), path);
        let started = Instant::now();
        let resp = client
            .get(url)
            .header(reqwest::header::HOST, host)
            .send()
            .await
            .expect("the proxy answers");
        let status = resp.status().as_u16();
        let instance = resp
            .headers()
            .get("x-k2n-instance")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.text().await.unwrap_or_default();
        Answer {
            status,
            instance,
            body,
            elapsed: started.elapsed(),
        }
    }
}
