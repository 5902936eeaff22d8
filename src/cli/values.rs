//! The choices flags take (`--format hcl|json`, ...), as clap value enums mapped onto the
//! library's own enums, so the library's types carry no command-line derive. The names users
//! type are the variant names in lowercase, and each variant's doc comment is its help text.

use crate::config::{ScaleToZero, ServiceProvider};
use crate::output::OutputFormat;

/// `--format`: HCL2 job files or Nomad API JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum FormatArg {
    #[default]
    Hcl,
    Json,
}

impl From<FormatArg> for OutputFormat {
    fn from(value: FormatArg) -> Self {
        match value {
            FormatArg::Hcl => OutputFormat::Hcl,
            FormatArg::Json => OutputFormat::Json,
        }
    }
}

/// `--service-provider`: Nomad's built-in service discovery or Consul.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceProviderArg {
    Nomad,
    Consul,
}

impl From<ServiceProviderArg> for ServiceProvider {
    fn from(value: ServiceProviderArg) -> Self {
        match value {
            ServiceProviderArg::Nomad => ServiceProvider::Nomad,
            ServiceProviderArg::Consul => ServiceProvider::Consul,
        }
    }
}

/// `--scale-to-zero`: what to do with Knative's min-scale 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScaleToZeroArg {
    /// Keep at least one instance running (no request-driven activation).
    None,
    /// Start at 0; Sablier scales the group up on the first request through its Traefik route.
    Sablier,
}

impl From<ScaleToZeroArg> for ScaleToZero {
    fn from(value: ScaleToZeroArg) -> Self {
        match value {
            ScaleToZeroArg::None => ScaleToZero::None,
            ScaleToZeroArg::Sablier => ScaleToZero::Sablier,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// The settings file spells these the same way (serde, lowercase); a new variant on either
    /// side must be added to both.
    #[test]
    fn flag_values_match_the_settings_file_names() {
        for value in ServiceProviderArg::value_variants() {
            let name = value.to_possible_value().map(|v| v.get_name().to_string());
            let parsed: ServiceProvider =
                serde_yaml::from_str(name.as_deref().unwrap_or_default()).unwrap();
            assert_eq!(parsed, ServiceProvider::from(*value));
        }
        for value in ScaleToZeroArg::value_variants() {
            let name = value.to_possible_value().map(|v| v.get_name().to_string());
            let parsed: ScaleToZero =
                serde_yaml::from_str(name.as_deref().unwrap_or_default()).unwrap();
            assert_eq!(parsed, ScaleToZero::from(*value));
        }
        for value in FormatArg::value_variants() {
            let name = value.to_possible_value().map(|v| v.get_name().to_string());
            assert_eq!(
                name.as_deref(),
                Some(match OutputFormat::from(*value) {
                    OutputFormat::Hcl => "hcl",
                    OutputFormat::Json => "json",
                })
            );
        }
    }
}
