//! Flags of `deploy`, turned into [`DeploySettings`].

use super::mapping::{MappingArgs, PlacementArgs};
use super::nomad::NomadArgs;
use super::variables::VariableArgs;
use crate::deploy::{DeploySettings, PipelineOptions, Stage};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Knative sources (converted in-process as `convert` does), Nomad job files (JSON:
    /// `{"Job": ...}` or a bare job, several per file; HCL: those `convert` wrote are read
    /// here, any other by the cluster's own parser), directories holding them, or `-` for JSON
    /// on stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub nomad: NomadArgs,
    /// Input variables of HCL job files that Nomad parses.
    #[command(flatten)]
    pub variables: VariableArgs,
    /// Conversion settings for Knative sources, as for `convert`.
    #[command(flatten)]
    pub mapping: MappingArgs,
    /// Validate and plan only; register nothing.
    #[arg(long, conflicts_with = "detach")]
    pub plan: bool,
    /// Return after registering, without following the evaluation and deployment.
    #[arg(long)]
    pub detach: bool,
    /// Jobs deployed at the same time.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
    /// Do not start further jobs once one has failed.
    #[arg(long)]
    pub fail_fast: bool,
    /// Longest wait of one blocking query (the server caps it at 5m).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub blocking_wait: Duration,
    /// Print only the summary, not each job's progress.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl DeployArgs {
    pub fn settings(&self) -> anyhow::Result<DeploySettings> {
        // Converted sources are placed in the namespace and region the jobs are sent to.
        let placement = PlacementArgs {
            namespace: self.nomad.namespace.clone(),
            region: self.nomad.region.clone(),
        };
        Ok(DeploySettings {
            paths: self.paths.clone(),
            convert: self.mapping.convert_options(&placement)?,
            connection: self.nomad.settings(),
            pipeline: PipelineOptions {
                stage: if self.plan {
                    Stage::Plan
                } else if self.detach {
                    Stage::Register
                } else {
                    Stage::Follow
                },
                blocking_wait: self.blocking_wait,
                quiet: self.quiet,
            },
            parallel: usize::from(self.parallel),
            fail_fast: self.fail_fast,
            variables: self.variables.variables(),
        })
    }
}
