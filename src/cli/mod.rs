//! The command line: every clap definition, and the conversion of each into the plain settings
//! the library takes ([`ConvertOptions`](crate::config::ConvertOptions),
//! [`ConnectionSettings`](crate::nomad::client::ConnectionSettings),
//! [`KubeSettings`](crate::knative::cluster::KubeSettings),
//! [`DeploySettings`](crate::deploy::DeploySettings),
//! [`VerifySettings`](crate::verify::VerifySettings)).
//!
//! What it is not: behaviour. `main.rs` runs the subcommands with those settings; no library
//! module refers to this one, so the library can be driven without clap (tests, benchmarks).
//!
//! One flag group per concern, flattened into every subcommand that needs it, so that a setting
//! has one spelling everywhere: [`NomadArgs`] (the official `nomad` CLI's names), [`KubeArgs`]
//! (kubectl's), [`MappingArgs`] and [`PlacementArgs`] (conversion). Spellings that were replaced
//! stay accepted as hidden aliases, so scripts keep working.

mod convert;
mod deploy;
mod kube;
mod manual;
mod mapping;
mod nomad;
mod platform;
mod validate;
mod values;
mod variables;
mod verify;

pub use convert::{CheckArgs, ConvertArgs, MessageFormat};
pub use deploy::DeployArgs;
pub use kube::{ClusterArgs, KubeArgs};
pub use manual::{CompletionsArgs, ManArgs, subcommand_names, write_completions, write_man_page};
pub use mapping::{MappingArgs, PlacementArgs};
pub use nomad::NomadArgs;
pub use platform::PlatformArgs;
pub use validate::{ExplainArgs, ValidateArgs};
pub use values::{FormatArg, ScaleToZeroArg, ServiceProviderArg};
pub use variables::VariableArgs;
pub use verify::VerifyArgs;

use clap::{Parser, Subcommand};

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
    Deploy(DeployArgs),
    /// Benchmark cold start and warm latency of the Knative original and the Nomad migration.
    Verify(VerifyArgs),
    /// Print a shell completion script, e.g. `knative2nomad completions bash`.
    Completions(CompletionsArgs),
    /// Print a man page in roff, e.g. `knative2nomad man > knative2nomad.1`.
    Man(ManArgs),
    /// Write the Sablier and Traefik jobs that scale converted Services to zero and wake them.
    Platform(PlatformArgs),
}
