//! Flags of `platform`: where to write the Sablier and Traefik jobs, which routes to embed, and
//! the settings they share with `convert` (`--config`, placement, service provider).

use super::mapping::{MappingArgs, PlacementArgs};
use super::values::{FormatArg, ServiceProviderArg};
use crate::platform::PlatformSettings;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct PlatformArgs {
    /// Directory to write the Sablier and Traefik jobs and their ACL policies into.
    #[arg(short = 'o', long = "output", value_name = "DIR", required = true)]
    pub output: PathBuf,
    /// The Traefik routes `convert -o OUT` wrote (OUT/traefik): each is embedded in the Traefik
    /// job, which serves them through its file provider.
    #[arg(long, value_name = "DIR")]
    pub routes: Option<PathBuf>,
    /// Output format of the two jobs.
    #[arg(long, value_enum, default_value_t = FormatArg::Hcl)]
    pub format: FormatArg,
    /// Overwrite existing files that this tool did not write.
    #[arg(long)]
    pub force: bool,
    /// The settings file `convert` used (`serverless:` addresses, timings and images).
    #[arg(long, value_name = "FILE", env = "K2N_CONFIG")]
    pub config: Option<PathBuf>,
    /// Datacenters the jobs may run in (repeatable). Default `*` (any).
    #[arg(long = "datacenter", value_name = "DC")]
    pub datacenters: Vec<String>,
    /// Where services are registered, as for `convert`: Traefik reads that catalog.
    #[arg(long, value_enum)]
    pub service_provider: Option<ServiceProviderArg>,
    #[command(flatten)]
    pub placement: PlacementArgs,
}

impl PlatformArgs {
    /// The settings file, then these flags, layered as for `convert` (by the same code, so the
    /// two commands cannot read a setting differently).
    pub fn settings(&self) -> anyhow::Result<PlatformSettings> {
        let shared = MappingArgs {
            config: self.config.clone(),
            datacenters: self.datacenters.clone(),
            service_provider: self.service_provider,
            ..MappingArgs::default()
        };
        PlatformSettings::from_options(&shared.convert_options(&self.placement)?)
    }
}
