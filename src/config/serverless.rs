//! Settings of the scale-to-zero path (Traefik → Sablier → Nomad) and the Knative cluster-wide
//! defaults the idle mapping needs (config-autoscaler, config-deployment, config-defaults).
//! They live in the settings file under `serverless:` and `knative-defaults:`; both the
//! conversion (routes, group meta) and `platform` (the Sablier and Traefik jobs) read them, so
//! the two always agree on addresses and timings.
//!
//! Not here: what the settings mean for a job (see `convert::activation`) or the jobs that run
//! them (see `platform`).

use anyhow::{Context, Result};
use serde::Deserialize;
use std::time::Duration;

/// How the scale-to-zero path is wired, and the platform jobs that run it.
#[derive(Debug, Clone, PartialEq)]
pub struct Serverless {
    /// Sablier's API as the Traefik plugin calls it (`sablierUrl`). The default is Traefik's own
    /// loopback `sablier` entry point, which `platform` routes to the Sablier job's registration,
    /// so no DNS or static port is needed.
    pub sablier_url: String,
    /// Traefik's loopback entry point for the second hop (host:port), where the router defined by
    /// the running allocation's service tags answers.
    pub hop_address: String,
    /// `sablier.ready-after`: how long Sablier waits after the group is healthy before it lets
    /// the request through, so that Traefik has seen the new registration. Together with
    /// `min_healthy_time` it covers Traefik's providersThrottleDuration (2s) plus a margin (see
    /// docs/serverless.md, "Ready and routable").
    pub ready_after: Duration,
    /// `update { min_healthy_time }` of scale-to-zero jobs: Sablier waits for deployment health on
    /// every cold start, so Nomad's default 10s would be added to each one.
    pub min_healthy_time: Duration,
    /// Sablier's `--strategy.blocking.default-refresh-frequency`: how often a held request
    /// re-checks the group; cold starts are seen at this granularity.
    pub refresh_frequency: Duration,
    pub sablier_image: String,
    pub traefik_image: String,
    /// Version of github.com/sablierapp/sablier-traefik-plugin Traefik loads.
    pub plugin_version: String,
    /// Host port of Traefik's public entry point (`web`).
    pub web_port: u16,
    /// Host port of Traefik's entry point for cluster-local Services (`internal`).
    pub internal_port: u16,
}

/// Sablier's Docker Hub image. 1.11.0 is the first version that can carry the Nomad provider: at
/// the time of writing every `--provider.nomad.*` flag is marked "Next release" in Sablier's CLI
/// reference and the last tag seen is 1.10.4 (docs/serverless.md, "Versions").
pub const DEFAULT_SABLIER_IMAGE: &str = "sablierapp/sablier:1.11.0";
pub const DEFAULT_TRAEFIK_IMAGE: &str = "traefik:v3.6.0";
pub const DEFAULT_PLUGIN_VERSION: &str = "v1.3.0";

impl Default for Serverless {
    fn default() -> Self {
        Serverless {
            sablier_url: "http://127.0.0.1:10000".to_string(),
            hop_address: "127.0.0.1:10080".to_string(),
            ready_after: Duration::from_secs(2),
            min_healthy_time: Duration::from_secs(1),
            refresh_frequency: Duration::from_millis(250),
            sablier_image: DEFAULT_SABLIER_IMAGE.to_string(),
            traefik_image: DEFAULT_TRAEFIK_IMAGE.to_string(),
            plugin_version: DEFAULT_PLUGIN_VERSION.to_string(),
            web_port: 80,
            internal_port: 8081,
        }
    }
}

/// The source cluster's defaults for what a Service does not set itself.
#[derive(Debug, Clone, PartialEq)]
pub struct KnativeDefaults {
    /// config-autoscaler `stable-window` (per Service: `autoscaling.knative.dev/window`).
    pub stable_window: Duration,
    /// config-autoscaler `scale-to-zero-grace-period` (no per-Service annotation).
    pub scale_to_zero_grace_period: Duration,
    /// config-autoscaler `scale-to-zero-pod-retention-period` (per Service: the annotation of
    /// the same name).
    pub scale_to_zero_pod_retention_period: Duration,
    /// config-deployment `progress-deadline` (per Service: `serving.knative.dev/progress-deadline`).
    pub progress_deadline: Duration,
    /// config-defaults `revision-timeout-seconds` (per Service: `timeoutSeconds`).
    pub revision_timeout: Duration,
}

impl Default for KnativeDefaults {
    /// Knative's own defaults (reference/knative-serving.md §5; `ProgressDeadlineDefault` in
    /// knative/serving pkg/deployment/config.go).
    fn default() -> Self {
        KnativeDefaults {
            stable_window: Duration::from_secs(60),
            scale_to_zero_grace_period: Duration::from_secs(30),
            scale_to_zero_pod_retention_period: Duration::ZERO,
            progress_deadline: Duration::from_secs(600),
            revision_timeout: Duration::from_secs(300),
        }
    }
}

/// `serverless:` in the settings file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(super) struct ServerlessFile {
    sablier_url: Option<String>,
    hop_address: Option<String>,
    ready_after: Option<String>,
    min_healthy_time: Option<String>,
    refresh_frequency: Option<String>,
    sablier_image: Option<String>,
    traefik_image: Option<String>,
    plugin_version: Option<String>,
    web_port: Option<u16>,
    internal_port: Option<u16>,
}

/// `knative-defaults:` in the settings file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(super) struct KnativeDefaultsFile {
    stable_window: Option<String>,
    scale_to_zero_grace_period: Option<String>,
    scale_to_zero_pod_retention_period: Option<String>,
    progress_deadline: Option<String>,
    revision_timeout_seconds: Option<u64>,
}

/// A duration as the settings file writes it (`2s`, `500ms`, `1m30s`), named by its key.
fn duration(key: &str, value: &str) -> Result<Duration> {
    humantime::parse_duration(value.trim())
        .with_context(|| format!("{key}: {value:?} is not a duration such as 2s or 500ms"))
}

/// Whether `host` (as written in a URL or `host:port`) names the loopback interface: the hop
/// must, and a `sablier-url` that does is served by Traefik's loopback `sablier` entry point.
pub fn is_loopback_host(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

impl Serverless {
    pub(super) fn apply(&mut self, file: ServerlessFile) -> Result<()> {
        let ServerlessFile {
            sablier_url,
            hop_address,
            ready_after,
            min_healthy_time,
            refresh_frequency,
            sablier_image,
            traefik_image,
            plugin_version,
            web_port,
            internal_port,
        } = file;
        let set = |target: &mut String, value: Option<String>| {
            if let Some(v) = value {
                *target = v;
            }
        };
        set(&mut self.sablier_url, sablier_url);
        set(&mut self.hop_address, hop_address);
        set(&mut self.sablier_image, sablier_image);
        set(&mut self.traefik_image, traefik_image);
        set(&mut self.plugin_version, plugin_version);
        for (key, value, target) in [
            ("serverless.ready-after", ready_after, &mut self.ready_after),
            (
                "serverless.min-healthy-time",
                min_healthy_time,
                &mut self.min_healthy_time,
            ),
            (
                "serverless.refresh-frequency",
                refresh_frequency,
                &mut self.refresh_frequency,
            ),
        ] {
            if let Some(v) = value {
                *target = duration(key, &v)?;
            }
        }
        self.web_port = web_port.unwrap_or(self.web_port);
        self.internal_port = internal_port.unwrap_or(self.internal_port);
        Ok(())
    }

    /// Refuses settings no route or platform job can use.
    pub fn check(&self) -> Result<()> {
        let url = self.sablier_url.as_str();
        anyhow::ensure!(
            (url.starts_with("http://") || url.starts_with("https://"))
                && !url.contains(char::is_whitespace),
            "serverless.sablier-url must be an http:// or https:// URL, not {url:?}"
        );
        let (host, port) = self.hop_host_port()?;
        anyhow::ensure!(
            is_loopback_host(host),
            "serverless.hop-address must be a loopback address (the hop must never be public), not {host:?}"
        );
        anyhow::ensure!(port > 0, "serverless.hop-address needs a port");
        anyhow::ensure!(
            self.refresh_frequency > Duration::ZERO,
            "serverless.refresh-frequency must be more than 0s"
        );
        for (key, value) in [
            ("serverless.sablier-image", &self.sablier_image),
            ("serverless.traefik-image", &self.traefik_image),
            ("serverless.plugin-version", &self.plugin_version),
        ] {
            anyhow::ensure!(
                !value.trim().is_empty() && !value.contains(char::is_whitespace),
                "{key} must not be empty or contain spaces"
            );
        }
        Ok(())
    }

    /// The hop entry point's host and port.
    pub fn hop_host_port(&self) -> Result<(&str, u16)> {
        let (host, port) = self.hop_address.rsplit_once(':').with_context(|| {
            format!(
                "serverless.hop-address must be host:port, not {:?}",
                self.hop_address
            )
        })?;
        let port = port.parse::<u16>().with_context(|| {
            format!(
                "serverless.hop-address: {port:?} is not a port ({:?})",
                self.hop_address
            )
        })?;
        Ok((host, port))
    }
}

impl KnativeDefaults {
    pub(super) fn apply(&mut self, file: KnativeDefaultsFile) -> Result<()> {
        let KnativeDefaultsFile {
            stable_window,
            scale_to_zero_grace_period,
            scale_to_zero_pod_retention_period,
            progress_deadline,
            revision_timeout_seconds,
        } = file;
        for (key, value, target) in [
            (
                "knative-defaults.stable-window",
                stable_window,
                &mut self.stable_window,
            ),
            (
                "knative-defaults.scale-to-zero-grace-period",
                scale_to_zero_grace_period,
                &mut self.scale_to_zero_grace_period,
            ),
            (
                "knative-defaults.scale-to-zero-pod-retention-period",
                scale_to_zero_pod_retention_period,
                &mut self.scale_to_zero_pod_retention_period,
            ),
            (
                "knative-defaults.progress-deadline",
                progress_deadline,
                &mut self.progress_deadline,
            ),
        ] {
            if let Some(v) = value {
                *target = duration(key, &v)?;
            }
        }
        if let Some(seconds) = revision_timeout_seconds {
            self.revision_timeout = Duration::from_secs(seconds);
        }
        Ok(())
    }

    pub fn check(&self) -> Result<()> {
        // Nomad needs progress_deadline > healthy_deadline (≥ 2s) > min_healthy_time.
        anyhow::ensure!(
            self.progress_deadline >= Duration::from_secs(3),
            "knative-defaults.progress-deadline must be at least 3s"
        );
        anyhow::ensure!(
            self.revision_timeout >= Duration::from_secs(1),
            "knative-defaults.revision-timeout-seconds must be at least 1"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_durations_and_refuses_a_public_hop() {
        let mut s = Serverless::default();
        let file: ServerlessFile =
            serde_yaml::from_str("ready-after: 500ms\nhop-address: 127.0.0.1:9999\n").unwrap();
        s.apply(file).unwrap();
        assert_eq!(s.ready_after, Duration::from_millis(500));
        assert_eq!(s.hop_host_port().unwrap(), ("127.0.0.1", 9999));
        s.check().unwrap();
        s.hop_address = "0.0.0.0:10080".into();
        assert!(s.check().unwrap_err().to_string().contains("loopback"));
        let bad: ServerlessFile = serde_yaml::from_str("ready-after: soon\n").unwrap();
        let err = Serverless::default().apply(bad).unwrap_err().to_string();
        assert!(err.contains("serverless.ready-after"), "{err}");
        assert!(serde_yaml::from_str::<ServerlessFile>("sablier: x\n").is_err());
    }

    #[test]
    fn knative_defaults_from_the_file() {
        let mut d = KnativeDefaults::default();
        let file: KnativeDefaultsFile = serde_yaml::from_str(
            "stable-window: 2m\nscale-to-zero-grace-period: 0s\nrevision-timeout-seconds: 60\n",
        )
        .unwrap();
        d.apply(file).unwrap();
        assert_eq!(d.stable_window, Duration::from_secs(120));
        assert_eq!(d.scale_to_zero_grace_period, Duration::ZERO);
        assert_eq!(d.revision_timeout, Duration::from_secs(60));
        d.check().unwrap();
    }
}
