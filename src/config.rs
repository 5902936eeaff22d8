//! Conversion settings: defaults and the optional settings file. Everything that changes what a
//! Service becomes is in [`ConvertOptions`], so one value describes a run and `check` can
//! regenerate exactly what `convert` wrote.
//!
//! Not here: the command line. `cli` puts the flags on top of these settings; this module
//! knows nothing of clap.

pub mod serverless;

use anyhow::{Context, Result};
use serde::Deserialize;
pub use serverless::{KnativeDefaults, Serverless};
use std::path::Path;

/// Nomad service discovery provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceProvider {
    #[default]
    Nomad,
    Consul,
}

impl ServiceProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceProvider::Nomad => "nomad",
            ServiceProvider::Consul => "consul",
        }
    }
}

/// What to do with Knative's scale to zero (min-scale 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleToZero {
    /// Keep at least one instance running (no request-driven activation).
    None,
    /// Scale to zero through Sablier: the group starts at 0, Sablier's Nomad provider scales it
    /// up when a request reaches the Traefik route written beside the job, and back to 0 when
    /// idle. The default, because a Knative Service scales to zero unless it says otherwise.
    #[default]
    Sablier,
}

/// Knative's default route host pattern (config-network `domain-template`).
pub const DEFAULT_DOMAIN_TEMPLATE: &str = "{name}.{namespace}.{domain}";

/// Every setting of a conversion run.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertOptions {
    /// MHz per Kubernetes core. 1000 by default: Kubernetes defines 1 CPU as one core (1000m), and
    /// Nomad's unit is MHz of one core, so 1000 keeps `250m` readable as `250`; sites with faster
    /// cores should set their clock (e.g. 2400) so shares match what the node fingerprints.
    pub cpu_mhz_per_core: u64,
    pub datacenters: Vec<String>,
    pub region: Option<String>,
    pub namespace_override: Option<String>,
    pub service_provider: ServiceProvider,
    pub traefik: bool,
    pub domain: String,
    pub domain_template: String,
    pub default_max_scale: u64,
    pub scale_to_zero: ScaleToZero,
    /// The scale-to-zero path: Sablier's address, Traefik's hop, timings, platform images.
    pub serverless: Serverless,
    /// The source cluster's defaults (idle windows, progress deadline, request timeout).
    pub knative_defaults: KnativeDefaults,
    pub strict: bool,
    pub allow: Vec<String>,
    /// Record where each generated element came from (for `--annotate`); off by default
    /// because a batch of thousands of Services would hold it all in memory for nothing.
    pub record_provenance: bool,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            cpu_mhz_per_core: 1000,
            datacenters: vec!["*".to_string()],
            region: None,
            namespace_override: None,
            service_provider: ServiceProvider::Nomad,
            traefik: false,
            domain: "example.com".to_string(),
            domain_template: DEFAULT_DOMAIN_TEMPLATE.to_string(),
            default_max_scale: 10,
            scale_to_zero: ScaleToZero::Sablier,
            serverless: Serverless::default(),
            knative_defaults: KnativeDefaults::default(),
            strict: false,
            allow: Vec::new(),
            record_provenance: false,
        }
    }
}

/// The settings file: the same keys as the flags, in kebab-case, YAML or JSON.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct SettingsFile {
    cpu_mhz_per_core: Option<u64>,
    datacenters: Option<Vec<String>>,
    region: Option<String>,
    nomad_namespace: Option<String>,
    service_provider: Option<ServiceProvider>,
    traefik: Option<bool>,
    domain: Option<String>,
    domain_template: Option<String>,
    default_max_scale: Option<u64>,
    scale_to_zero: Option<ScaleToZero>,
    serverless: Option<serverless::ServerlessFile>,
    knative_defaults: Option<serverless::KnativeDefaultsFile>,
    strict: Option<bool>,
    allow: Option<Vec<String>>,
}

impl ConvertOptions {
    /// The defaults, then what the settings file at `path` sets. Flags go on top of this
    /// (`cli` applies them), then [`ConvertOptions::check`].
    pub fn from_file(path: &Path) -> Result<ConvertOptions> {
        let mut opts = ConvertOptions::default();
        opts.apply_file(path)?;
        Ok(opts)
    }

    /// Accepts a finding code under `strict`, written as users write it (`k2n020 `).
    pub fn allow_code(&mut self, code: &str) {
        self.allow.push(code.trim().to_ascii_uppercase());
    }

    fn apply_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read settings file {}", path.display()))?;
        let file: SettingsFile = serde_yaml::from_str(&text)
            .with_context(|| format!("{}: invalid settings file", path.display()))?;
        let SettingsFile {
            cpu_mhz_per_core,
            datacenters,
            region,
            nomad_namespace,
            service_provider,
            traefik,
            domain,
            domain_template,
            default_max_scale,
            scale_to_zero,
            serverless,
            knative_defaults,
            strict,
            allow,
        } = file;
        if let Some(v) = cpu_mhz_per_core {
            self.cpu_mhz_per_core = v;
        }
        if let Some(v) = datacenters {
            self.datacenters = v;
        }
        self.region = region.or(self.region.take());
        self.namespace_override = nomad_namespace.or(self.namespace_override.take());
        if let Some(v) = service_provider {
            self.service_provider = v;
        }
        self.traefik = traefik.unwrap_or(self.traefik);
        if let Some(v) = domain {
            self.domain = v;
        }
        if let Some(v) = domain_template {
            self.domain_template = v;
        }
        if let Some(v) = default_max_scale {
            self.default_max_scale = v;
        }
        if let Some(v) = scale_to_zero {
            self.scale_to_zero = v;
        }
        let named =
            |e: anyhow::Error| e.context(format!("{}: invalid settings file", path.display()));
        if let Some(v) = serverless {
            self.serverless.apply(v).map_err(named)?;
        }
        if let Some(v) = knative_defaults {
            self.knative_defaults.apply(v).map_err(named)?;
        }
        self.strict = strict.unwrap_or(self.strict);
        for code in allow.iter().flatten() {
            self.allow_code(code);
        }
        Ok(())
    }

    /// Refuses settings no conversion can use; messages name the flag that sets each one.
    pub fn check(&self) -> Result<()> {
        anyhow::ensure!(
            self.cpu_mhz_per_core > 0,
            "--cpu-mhz-per-core must be at least 1"
        );
        anyhow::ensure!(
            self.default_max_scale > 0,
            "--default-max-scale must be at least 1"
        );
        anyhow::ensure!(
            !self.datacenters.iter().any(|d| d.is_empty()),
            "--datacenter must not be empty"
        );
        self.serverless.check()?;
        self.knative_defaults.check()?;
        Ok(())
    }
}
