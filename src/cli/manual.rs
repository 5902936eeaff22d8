//! `completions` and `man`: shell completion scripts (clap_complete) and roff man pages
//! (clap_mangen), generated from the same clap definitions the tool parses with, so they list
//! exactly the subcommands and flags it has.
//!
//! What it is not: installation. Both print to stdout; where the output goes is the user's
//! (README.md, "Shell completions and man page").

use super::Cli;
use clap::{Args, CommandFactory};
use clap_complete::Shell;
use std::io::Write;

/// The name the scripts and pages are written for: the binary's.
const BIN: &str = "knative2nomad";

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand (e.g. `convert`) for its own page, knative2nomad-convert(1); without it,
    /// the page of knative2nomad itself, which lists the subcommands.
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
}

/// Writes the completion script for `shell`.
pub fn write_completions(shell: Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), BIN, out);
}

/// The names of the subcommands, in the order `--help` lists them (`help` excluded).
pub fn subcommand_names() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect()
}

/// Writes the man page of the tool, or of one subcommand. An unknown subcommand is an error
/// naming the ones there are.
pub fn write_man_page(subcommand: Option<&str>, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut command = Cli::command().disable_help_subcommand(true);
    // Building names the subcommands `knative2nomad-convert` and so on, as man pages are.
    command.build();
    let page = match subcommand {
        None => command,
        Some(name) => command
            .find_subcommand(name)
            .filter(|c| !c.is_hide_set())
            .cloned()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown subcommand {name:?}; the pages are: {}",
                    subcommand_names().join(", ")
                )
            })?,
    };
    // clap_mangen names a subcommand page's source after the subcommand alone.
    clap_mangen::Man::new(page)
        .source(format!("{BIN} {}", env!("CARGO_PKG_VERSION")))
        .render(out)?;
    Ok(())
}
