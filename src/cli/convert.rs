//! Flags of `convert` and `check`, which share the conversion flags so that `check` can
//! regenerate exactly what `convert` wrote.

use super::kube::ClusterArgs;
use super::mapping::{MappingArgs, PlacementArgs};
use super::values::FormatArg;
use crate::config::ConvertOptions;
use crate::output::Rendering;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Files, directories (walked for *.yaml, *.yml, *.json) or `-` for standard input; with
    /// --from-cluster, names of Services to read (none: all in the namespace).
    #[arg(required_unless_present = "k8s_from_cluster", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Write one file per job under this directory instead of printing to stdout.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Output format: HCL2 job files or Nomad API JSON (`{"Job": ...}`).
    #[arg(long, value_enum, default_value_t = FormatArg::Hcl)]
    pub format: FormatArg,
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
    #[arg(long, value_enum, default_value_t = FormatArg::Hcl)]
    pub format: FormatArg,
    /// The committed files were written with `convert --annotate`.
    #[arg(long)]
    pub annotate: bool,
    #[command(flatten)]
    pub mapping: MappingArgs,
    #[command(flatten)]
    pub placement: PlacementArgs,
}

impl ConvertArgs {
    /// The conversion settings and how each job is rendered.
    pub fn conversion(&self) -> anyhow::Result<(ConvertOptions, Rendering)> {
        conversion(&self.mapping, &self.placement, self.format, self.annotate)
    }
}

impl CheckArgs {
    /// The conversion settings and rendering `convert` used with the same flags.
    pub fn conversion(&self) -> anyhow::Result<(ConvertOptions, Rendering)> {
        conversion(&self.mapping, &self.placement, self.format, self.annotate)
    }
}

/// Made in one place for `convert` and `check`, so that `check` regenerates exactly what
/// `convert` wrote: `--annotate` both records where each field came from and renders it.
fn conversion(
    mapping: &MappingArgs,
    placement: &PlacementArgs,
    format: FormatArg,
    annotate: bool,
) -> anyhow::Result<(ConvertOptions, Rendering)> {
    let mut opts = mapping.convert_options(placement)?;
    opts.record_provenance = annotate;
    let rendering = Rendering {
        format: format.into(),
        annotate,
    };
    Ok((opts, rendering))
}

/// How findings are printed on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}
