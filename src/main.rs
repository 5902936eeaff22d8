//! Entry point: parse the command line, run the subcommand, map the outcome to an exit code
//! (0 success, 1 failure, 2 usage error — clap exits with 2 itself).

use clap::Parser;
use knative2nomad::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Deploy(args) => knative2nomad::deploy::run(args),
        Command::Verify(args) => knative2nomad::verify::run(args),
        _ => Err(anyhow::anyhow!("not wired yet")),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
