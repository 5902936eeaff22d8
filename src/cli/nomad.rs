//! Nomad connection flags, one set for every subcommand that talks to Nomad (`deploy`, `verify`,
//! `validate`), named after the official `nomad` CLI and falling back to the environment
//! variables it reads. Two of its names carry a `nomad-` prefix because the bare ones mean
//! something else in this tool: `--namespace`/`-n` is kubectl's (cluster import) and `--region`
//! is the job's region (`convert`).
//!
//! Canonical spellings, with the replaced ones still accepted as hidden aliases:
//! `--address` (alias `--nomad-addr`, which `validate` used), `--token`, `--nomad-namespace`,
//! `--nomad-region`, `--ca-cert`, `--client-cert`, `--client-key`, `--tls-server-name`,
//! `--tls-skip-verify`, `--request-timeout`, `--retry-attempts`, `--retry-base-delay`.
//!
//! `NOMAD_SKIP_VERIFY` is read here rather than by clap, because the `nomad` CLI reads it with
//! Go's `strconv.ParseBool` (api/api.go `DefaultConfig`) and silently ignores anything else,
//! where clap would make `NOMAD_SKIP_VERIFY=1` a usage error.

use crate::nomad::client::{ConnectionSettings, DEFAULT_ADDRESS, RetryPolicy, Secret, TokenSource};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct NomadArgs {
    /// Address of the Nomad HTTP API (deploy and verify default to http://127.0.0.1:4646;
    /// validate asks a cluster only when this is set).
    #[arg(
        long = "address",
        alias = "nomad-addr",
        env = "NOMAD_ADDR",
        value_name = "URL"
    )]
    pub address: Option<String>,
    /// ACL token (sent as X-Nomad-Token; never printed).
    #[arg(long = "token", env = "NOMAD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Nomad namespace (default: the job's own Namespace, else "default").
    #[arg(long = "nomad-namespace", env = "NOMAD_NAMESPACE", value_name = "NS")]
    pub namespace: Option<String>,
    /// Nomad region (default: the agent's region).
    #[arg(long = "nomad-region", env = "NOMAD_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// PEM file of the CA that signed the agent's certificate.
    #[arg(long = "ca-cert", env = "NOMAD_CACERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate for mutual TLS.
    #[arg(long = "client-cert", env = "NOMAD_CLIENT_CERT", value_name = "FILE")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long = "client-key", env = "NOMAD_CLIENT_KEY", value_name = "FILE")]
    pub client_key: Option<PathBuf>,
    /// Server name expected in the agent's certificate, when it differs from the address host.
    #[arg(
        long = "tls-server-name",
        env = "NOMAD_TLS_SERVER_NAME",
        value_name = "NAME"
    )]
    pub tls_server_name: Option<String>,
    /// Do not verify the agent's certificate (insecure; for test clusters only). Also set by
    /// NOMAD_SKIP_VERIFY=1/t/true (the values Go's strconv.ParseBool takes, as `nomad` does).
    #[arg(long = "tls-skip-verify")]
    pub tls_skip_verify: bool,
    /// Longest wait for the answer to one request, connecting included (kubectl's name); a
    /// blocking query may take its wait (--blocking-wait) plus Nomad's jitter on top.
    #[arg(long = "request-timeout", default_value = "30s", value_parser = parse_request_timeout, value_name = "DURATION")]
    pub request_timeout: Duration,
    /// Attempts for a request that fails transiently (connection refused/reset, timeout, 429,
    /// 502–504, 500 "No cluster leader"), including the first.
    #[arg(long = "retry-attempts", default_value_t = 6, value_name = "N")]
    pub retry_attempts: u32,
    /// First retry delay; doubled per attempt, capped at 10s, each delay drawn from [d/2, d].
    #[arg(long = "retry-base-delay", default_value = "250ms", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub retry_base_delay: Duration,
}

impl NomadArgs {
    /// The connection settings, at the default address when none was given.
    pub fn settings(&self) -> ConnectionSettings {
        self.settings_at(self.address.as_deref().unwrap_or(DEFAULT_ADDRESS))
    }

    /// The connection settings when an address was given (flag or NOMAD_ADDR); `validate`
    /// only asks a cluster then.
    pub fn settings_if_given(&self) -> Option<ConnectionSettings> {
        self.address
            .as_deref()
            .map(|address| self.settings_at(address))
    }

    fn settings_at(&self, address: &str) -> ConnectionSettings {
        let token = self.token.clone().filter(|t| !t.is_empty());
        // clap folds the flag and NOMAD_TOKEN into one value; the source is the environment
        // when the variable holds exactly that value.
        let token_source = match &token {
            None => TokenSource::None,
            Some(t) if std::env::var("NOMAD_TOKEN").ok().as_ref() == Some(t) => {
                TokenSource::Environment
            }
            Some(_) => TokenSource::Flag,
        };
        ConnectionSettings {
            address: address.trim_end_matches('/').to_string(),
            token: token.map(Secret::new),
            token_source,
            namespace: self.namespace.clone().filter(|n| !n.is_empty()),
            region: self.region.clone().filter(|r| !r.is_empty()),
            ca_cert: self.ca_cert.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
            tls_server_name: self.tls_server_name.clone().filter(|n| !n.is_empty()),
            tls_skip_verify: self.tls_skip_verify || skip_verify_from_environment(),
            request_timeout: self.request_timeout,
            retry: RetryPolicy {
                attempts: self.retry_attempts.max(1),
                base_delay: self.retry_base_delay,
                ..RetryPolicy::default()
            },
        }
    }
}

/// `NOMAD_SKIP_VERIFY` as the `nomad` CLI reads it: Go's `strconv.ParseBool`; a value it does
/// not accept is ignored (with a warning here, where `nomad` says nothing).
fn skip_verify_from_environment() -> bool {
    let Ok(value) = std::env::var("NOMAD_SKIP_VERIFY") else {
        return false;
    };
    if value.is_empty() {
        return false;
    }
    match parse_go_bool(&value) {
        Some(skip) => skip,
        None => {
            eprintln!(
                "warning: NOMAD_SKIP_VERIFY={value:?} is not a boolean (1, t, T, TRUE, true, True, \
                 0, f, F, FALSE, false, False); ignored, as the nomad CLI ignores it: the \
                 certificate is verified"
            );
            false
        }
    }
}

/// Go's `strconv.ParseBool` (strconv/atob.go): exactly these spellings.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A request timeout: a duration above zero (zero would mean waiting forever, which is the
/// hang the timeout exists to prevent).
pub(super) fn parse_request_timeout(text: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if timeout.is_zero() {
        return Err("must be more than 0 (e.g. 30s)".to_string());
    }
    Ok(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_parse_bool_spellings() {
        for yes in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(yes), Some(true), "{yes}");
        }
        for no in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(no), Some(false), "{no}");
        }
        for other in ["yes", "tRUE", "on", " 1", "2"] {
            assert_eq!(parse_go_bool(other), None, "{other}");
        }
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        assert!(parse_request_timeout("0s").is_err());
        assert_eq!(parse_request_timeout("2s"), Ok(Duration::from_secs(2)));
    }
}
