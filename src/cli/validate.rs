//! Flags of `validate` (offline rules, and optionally the cluster's own check) and `explain`.

use super::nomad::NomadArgs;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Nomad job files: API JSON (`{"Job": ...}` or a bare job) or HCL2 job files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// With an address (--address or NOMAD_ADDR), also ask that cluster's `/v1/validate/job`
    /// (its errors and warnings are shown).
    #[command(flatten)]
    pub nomad: NomadArgs,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A finding code such as K2N020.
    pub code: String,
}
