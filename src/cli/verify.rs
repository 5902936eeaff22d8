//! Flags of `verify`, turned into [`VerifySettings`].

use super::kube::KubeArgs;
use super::nomad::NomadArgs;
use crate::verify::{NomadColdStart, VerifySettings};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `knative2nomad verify`, boxed so the subcommand enum stays small.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub flags: Box<VerifyFlags>,
}

#[derive(Debug, Args)]
pub struct VerifyFlags {
    /// URL of the Knative Service (what clients call).
    #[arg(long, value_name = "URL")]
    pub knative_url: String,
    /// Host header for Knative requests, when the URL points at the ingress by address.
    #[arg(long, value_name = "HOST")]
    pub knative_host: Option<String>,
    /// The Knative Service as NAMESPACE/NAME: enables watch-based cold starts through the
    /// Kubernetes API (kubeconfig as for kubectl). Without it: idle waits (slow).
    #[arg(long, value_name = "NS/NAME")]
    pub knative_service: Option<String>,
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Without kube access: idle time after which Knative has scaled the revision to zero
    /// (stable window 60s + scale-to-zero grace 30s by default).
    #[arg(long, value_name = "DURATION", default_value = "90s", value_parser = humantime::parse_duration)]
    pub knative_idle_wait: Duration,
    /// URL of the migrated service on Nomad (e.g. through Traefik).
    #[arg(long, value_name = "URL")]
    pub nomad_url: String,
    /// Host header for Nomad requests.
    #[arg(long, value_name = "HOST")]
    pub nomad_host: Option<String>,
    /// Nomad job ID: enables scale-based cold starts through the API.
    #[arg(long, value_name = "JOB")]
    pub nomad_job: Option<String>,
    /// Task group to scale (default: the job ID).
    #[arg(long, value_name = "GROUP")]
    pub nomad_group: Option<String>,
    /// With --nomad-job, how a Nomad cold start is started and timed: `api` starts the group
    /// through the API (scale, or stop and run when scaling { min } forbids 0) and polls
    /// --nomad-url; `request` waits, watching the API, until the proxy in front (Sablier) has
    /// brought the group to 0, and times one request through --nomad-url, which starts it.
    #[arg(long, value_enum, default_value = "api", value_name = "HOW")]
    pub nomad_cold_start: NomadColdStartArg,
    /// Without --nomad-job: idle time after which something else (e.g. Sablier) scaled to zero.
    #[arg(long, value_name = "DURATION", default_value = "90s", value_parser = humantime::parse_duration)]
    pub nomad_idle_wait: Duration,
    #[command(flatten)]
    pub nomad: NomadArgs,
    /// Cold starts per platform.
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub cold_starts: usize,
    /// Warm load duration per platform (0 skips warm latency).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub warm_duration: Duration,
    /// Warm load rate, requests per second (open loop: sent on schedule, whatever the latency).
    #[arg(long, default_value_t = 100.0, value_name = "RPS")]
    pub warm_rate: f64,
    /// Connections (one thread each) for warm load.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub warm_connections: usize,
    /// Relative tolerance: 0.1 lets Nomad be 10% slower than Knative.
    #[arg(long, value_name = "FRACTION")]
    pub tolerance: Option<f64>,
    /// Absolute tolerance, e.g. 50ms; with --tolerance the larger allowance applies.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub tolerance_abs: Option<Duration>,
    /// Also fail when Nomad is faster than the tolerance (two-sided equivalence test).
    #[arg(long)]
    pub equivalence: bool,
    /// Confidence level of the bootstrap intervals.
    #[arg(long, default_value_t = 0.95, value_name = "LEVEL")]
    pub confidence: f64,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub resamples: usize,
    /// Seed of the bootstrap's random numbers (same seed and samples → same report).
    #[arg(long, default_value_t = 1, value_name = "SEED")]
    pub seed: u64,
    /// A response is correct only if its body contains this.
    #[arg(long, value_name = "TEXT")]
    pub expect_body: Option<String>,
    /// Response header that names the serving instance (e.g. a pod or alloc name): a cold start
    /// served by an instance seen before is discarded.
    #[arg(long, value_name = "NAME")]
    pub instance_header: Option<String>,
    /// Give up on one cold start after this long.
    #[arg(long, default_value = "120s", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub cold_timeout: Duration,
    /// Give up on scaling to zero after this long.
    #[arg(long, default_value = "300s", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub scale_timeout: Duration,
    /// Write verify.json, verify.md, verify.svg and verify.prom here.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Push the metrics to a Prometheus Pushgateway, e.g. http://pgw:9091/metrics/job/k2n.
    #[arg(long, value_name = "URL")]
    pub pushgateway: Option<String>,
}

/// `--nomad-cold-start` values (kept beside the flag: only `verify` uses them).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum NomadColdStartArg {
    Api,
    Request,
}

impl VerifyArgs {
    pub fn settings(&self) -> VerifySettings {
        let f = &self.flags;
        VerifySettings {
            knative_url: f.knative_url.clone(),
            knative_host: f.knative_host.clone(),
            knative_service: f.knative_service.clone(),
            // One --request-timeout for both APIs the verifier talks to.
            kube: f.kube.settings(f.nomad.request_timeout),
            knative_idle_wait: f.knative_idle_wait,
            nomad_url: f.nomad_url.clone(),
            nomad_host: f.nomad_host.clone(),
            nomad_job: f.nomad_job.clone(),
            nomad_group: f.nomad_group.clone(),
            nomad_cold_start: match f.nomad_cold_start {
                NomadColdStartArg::Api => NomadColdStart::Api,
                NomadColdStartArg::Request => NomadColdStart::Request,
            },
            nomad_idle_wait: f.nomad_idle_wait,
            nomad: f.nomad.settings(),
            cold_starts: f.cold_starts,
            warm_duration: f.warm_duration,
            warm_rate: f.warm_rate,
            warm_connections: f.warm_connections,
            tolerance: f.tolerance,
            tolerance_abs: f.tolerance_abs,
            equivalence: f.equivalence,
            confidence: f.confidence,
            resamples: f.resamples,
            seed: f.seed,
            expect_body: f.expect_body.clone(),
            instance_header: f.instance_header.clone(),
            cold_timeout: f.cold_timeout,
            scale_timeout: f.scale_timeout,
            report_dir: f.report_dir.clone(),
            pushgateway: f.pushgateway.clone(),
        }
    }
}
