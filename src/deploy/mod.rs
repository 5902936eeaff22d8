//! Deployer: registers jobs on a Nomad cluster and follows them to healthy (issue #5).
//! Placeholder until the deployer lands.

use clap::Args;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Knative sources or job files written by `convert`.
    #[arg(value_name = "PATH")]
    pub paths: Vec<std::path::PathBuf>,
}

pub fn run(_args: DeployArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("deploy is not available in this build yet")
}
