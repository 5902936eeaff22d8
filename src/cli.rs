//! Command-line definitions (clap). Only argument shapes live here; behaviour is in the library
//! modules that each subcommand calls from `main.rs`.

use crate::config::{OutputFormat, ScaleToZero, ServiceProvider};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Convert Knative Services to Nomad jobs, deploy them, and verify the migration.
#[derive(Debug, Parser)]
#[command(name = "knative2nomad", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert Knative Service YAML/JSON (files, directories or `-` for stdin) to Nomad jobs.
    Convert(ConvertArgs),
    /// Exit 0 when the committed job files in --against equal what `convert -o` would write now.
    Check(CheckArgs),
    /// Check Nomad job files (API JSON or the HCL this tool writes) against Nomad's rules offline.
    Validate(ValidateArgs),
    /// Print the documentation of a finding code, e.g. `knative2nomad explain K2N020`.
    Explain(ExplainArgs),
    /// Register jobs on a Nomad cluster and follow them to healthy, like `nomad job run`.
    Deploy(crate::deploy::DeployArgs),
    /// Benchmark cold start and warm latency of the Knative original and the Nomad migration.
    Verify(crate::verify::VerifyArgs),
}

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
    pub service_provider: Option<ServiceProvider>,
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
    /// How to keep Knative's scale to zero: `none` keeps one instance up, `sablier` adds the
    /// group meta that Sablier's Nomad provider reads.
    #[arg(long, value_enum)]
    pub scale_to_zero: Option<ScaleToZero>,
    /// Fail (exit 1) when any warning is reported.
    #[arg(long)]
    pub strict: bool,
    /// Accept a finding code under --strict (repeatable, or comma-separated).
    #[arg(long = "allow", value_name = "CODE", value_delimiter = ',')]
    pub allow: Vec<String>,
}

/// Where the jobs go: shared by `convert` and `check`; `deploy` takes the same values from its
/// Nomad connection settings (`--nomad-namespace`, `--nomad-region`, NOMAD_NAMESPACE, ...).
#[derive(Debug, Clone, Args, Default)]
pub struct PlacementArgs {
    /// Nomad region of the jobs. Default: unset (the agent's region).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Nomad namespace for every job, instead of the Service's metadata.namespace.
    #[arg(long = "nomad-namespace", value_name = "NS")]
    pub namespace: Option<String>,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Files, directories (walked for *.yaml, *.yml, *.json) or `-` for standard input; with
    /// --from-cluster, names of Services to read (none: all in the namespace).
    #[arg(required_unless_present = "k8s_from_cluster", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub cluster: crate::knative::cluster::ClusterArgs,
    /// Write one file per job under this directory instead of printing to stdout.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Output format: HCL2 job files or Nomad API JSON (`{"Job": ...}`).
    #[arg(long, value_enum, default_value_t = OutputFormat::Hcl)]
    pub format: OutputFormat,
    /// Overwrite existing files that this tool did not write.
    #[arg(long)]
    pub force: bool,
    /// HCL only: add a comment beside each generated attribute or block naming the Knative
    /// field it came from, and marking defaults and assumptions, for line-by-line review.
    #[arg(long)]
    pub annotate: bool,
    /// How findings are printed on stderr.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
    /// Write a migration report: JSON when FILE ends in .json, Markdown otherwise (repeatable).
    #[arg(long, value_name = "FILE")]
    pub report: Vec<PathBuf>,
    /// Write a JUnit XML file with one test case per Service, for CI test views.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the Nomad Variables (paths and item names, never values) the jobs need, with
    /// `nomad var put` commands to create them.
    #[arg(long, value_name = "FILE")]
    pub secrets_manifest: Option<PathBuf>,
    #[command(flatten)]
    pub mapping: MappingArgs,
    #[command(flatten)]
    pub placement: PlacementArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Knative sources, as for `convert`.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Directory holding the committed job files.
    #[arg(long, value_name = "DIR")]
    pub against: PathBuf,
    /// Format of the committed job files.
    #[arg(long, value_enum, default_value_t = OutputFormat::Hcl)]
    pub format: OutputFormat,
    /// The committed files were written with `convert --annotate`.
    #[arg(long)]
    pub annotate: bool,
    #[command(flatten)]
    pub mapping: MappingArgs,
    #[command(flatten)]
    pub placement: PlacementArgs,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Nomad job files: API JSON (`{"Job": ...}` or a bare job) or HCL2 job files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Also ask this Nomad cluster's `/v1/validate/job` (its errors and warnings are shown).
    #[arg(long = "nomad-addr", env = "NOMAD_ADDR", value_name = "URL")]
    pub nomad_addr: Option<String>,
    /// ACL token for the cluster check (never printed).
    #[arg(long = "token", env = "NOMAD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate for an HTTPS cluster address.
    #[arg(long = "ca-cert", env = "NOMAD_CACERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A finding code such as K2N020.
    pub code: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}
