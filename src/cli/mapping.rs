//! Conversion flags (`convert`, `check`, `deploy`): what a Knative Service becomes, and where its
//! job is placed. They go on top of the defaults and the settings file (`--config`), which
//! [`crate::config`] owns.

use super::values::{ScaleToZeroArg, ServiceProviderArg};
use crate::config::ConvertOptions;
use clap::Args;
use std::path::PathBuf;

/// Settings that change what a Knative Service becomes. Flags override the config file.
#[derive(Debug, Clone, Args, Default)]
pub struct MappingArgs {
    /// A settings file (YAML or JSON) with the same keys as these flags, in kebab-case.
    #[arg(long, value_name = "FILE", env = "K2N_CONFIG")]
    pub config: Option<PathBuf>,
    /// Nomad MHz given for one Kubernetes CPU core (`cpu = cores × this`). Default 1000.
    #[arg(long, value_name = "MHZ")]
    pub cpu_mhz_per_core: Option<u64>,
    /// Datacenters the jobs may run in (repeatable). Default `*` (any).
    #[arg(long = "datacenter", value_name = "DC")]
    pub datacenters: Vec<String>,
    /// Service discovery provider for the generated services.
    #[arg(long, value_enum)]
    pub service_provider: Option<ServiceProviderArg>,
    /// Add Traefik router tags so each public service gets a host like Knative's route.
    #[arg(long)]
    pub traefik: bool,
    /// Domain for ingress hosts (Knative's config-domain), used with --traefik.
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Host pattern for ingress, with Knative's {name}, {namespace} and {domain} placeholders.
    #[arg(long, value_name = "PATTERN")]
    pub domain_template: Option<String>,
    /// Scaling maximum used when the Service sets no max-scale (Knative: unlimited). Default 10.
    #[arg(long, value_name = "N")]
    pub default_max_scale: Option<u64>,
    /// What min-scale 0 becomes: `sablier` (default) starts the job at 0 with the meta Sablier's
    /// Nomad provider reads and writes a Traefik route through Sablier beside it (with -o);
    /// `none` keeps one instance up.
    #[arg(long, value_enum)]
    pub scale_to_zero: Option<ScaleToZeroArg>,
    /// Fail (exit 1) when any warning is reported.
    #[arg(long)]
    pub strict: bool,
    /// Accept a finding code under --strict (repeatable, or comma-separated).
    #[arg(long = "allow", value_name = "CODE", value_delimiter = ',')]
    pub allow: Vec<String>,
}

/// Where the jobs go: shared by `convert` and `check`. `deploy` takes the same values from its
/// Nomad connection settings (`--nomad-namespace`, `--nomad-region`, NOMAD_NAMESPACE, ...), so
/// the namespace flag is spelled the same in both.
#[derive(Debug, Clone, Args, Default)]
pub struct PlacementArgs {
    /// Nomad region of the jobs. Default: unset (the agent's region).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Nomad namespace for every job, instead of the Service's metadata.namespace.
    #[arg(long = "nomad-namespace", value_name = "NS")]
    pub namespace: Option<String>,
}

impl MappingArgs {
    /// The conversion settings: defaults, then the settings file (if any), then these flags.
    pub fn convert_options(&self, placement: &PlacementArgs) -> anyhow::Result<ConvertOptions> {
        let mut opts = match &self.config {
            Some(path) => ConvertOptions::from_file(path)?,
            None => ConvertOptions::default(),
        };
        if let Some(v) = self.cpu_mhz_per_core {
            opts.cpu_mhz_per_core = v;
        }
        if !self.datacenters.is_empty() {
            opts.datacenters = self.datacenters.clone();
        }
        if placement.region.is_some() {
            opts.region = placement.region.clone();
        }
        if placement.namespace.is_some() {
            opts.namespace_override = placement.namespace.clone();
        }
        if let Some(p) = self.service_provider {
            opts.service_provider = p.into();
        }
        opts.traefik |= self.traefik;
        if let Some(d) = &self.domain {
            opts.domain = d.clone();
        }
        if let Some(t) = &self.domain_template {
            opts.domain_template = t.clone();
        }
        if let Some(m) = self.default_max_scale {
            opts.default_max_scale = m;
        }
        if let Some(s) = self.scale_to_zero {
            opts.scale_to_zero = s.into();
        }
        opts.strict |= self.strict;
        for code in &self.allow {
            opts.allow_code(code);
        }
        opts.check()?;
        Ok(opts)
    }
}
