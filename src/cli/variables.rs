//! Input-variable flags for job files that Nomad parses (`deploy`, `validate`), named as
//! `nomad job run` names them (`-var`, `-var-file`; clap spells them with two dashes), plus the
//! `NOMAD_VAR_*` environment variables it reads.

use crate::deploy::variables::JobVariables;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, Args)]
pub struct VariableArgs {
    /// A value for an input variable of an HCL job file, NAME=VALUE (nomad's -var; repeatable,
    /// the last one wins). Also read: NOMAD_VAR_NAME from the environment.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_assignment)]
    pub vars: Vec<(String, String)>,
    /// A file of variable values, HCL (`name = value`) or JSON (nomad's -var-file; repeatable).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

impl VariableArgs {
    /// The flags, and `NOMAD_VAR_*` from the environment.
    pub fn variables(&self) -> JobVariables {
        let env = std::env::vars()
            .filter_map(|(key, value)| {
                let name = key.strip_prefix("NOMAD_VAR_")?;
                (!name.is_empty()).then(|| (name.to_string(), value))
            })
            .collect();
        JobVariables {
            args: self.vars.clone(),
            files: self.var_files.clone(),
            env,
        }
    }
}

/// `NAME=VALUE`, split at the first `=` (a value may hold more).
fn parse_assignment(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("expected NAME=VALUE, got {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_assignment("args=a=b"),
            Ok(("args".to_string(), "a=b".to_string()))
        );
        assert!(parse_assignment("=x").is_err());
        assert!(parse_assignment("novalue").is_err());
    }
}
