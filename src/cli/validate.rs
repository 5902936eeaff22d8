//! Flags of `validate` (offline rules, and optionally the cluster's own check) and `explain`.

use super::nomad::NomadArgs;
use super::variables::VariableArgs;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Nomad job files: API JSON (`{"Job": ...}` or a bare job) or HCL2 job files (with an
    /// address, HCL not written by this tool is parsed by the cluster).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// With an address (--address or NOMAD_ADDR), also ask that cluster's `/v1/validate/job`
    /// (its errors and warnings are shown).
    #[command(flatten)]
    pub nomad: NomadArgs,
    /// Input variables, for HCL job files the cluster parses (only with an address: files not
    /// written by this tool then go to its `/v1/jobs/parse`).
    #[command(flatten)]
    pub variables: VariableArgs,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A finding code such as K2N020.
    pub code: String,
}
