//! Verifier: cold-start and warm-latency parity between Knative and Nomad (issue #6).
//! Placeholder until the verifier lands.

use clap::Args;

#[derive(Debug, Args)]
pub struct VerifyArgs {}

pub fn run(_args: VerifyArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("verify is not available in this build yet")
}
