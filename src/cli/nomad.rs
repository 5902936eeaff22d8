//! Nomad connection flags, one set for every subcommand that talks to Nomad (`deploy`, `verify`,
//! `validate`), named after the official `nomad` CLI and falling back to the environment
//! variables it reads. Two of its names carry a `nomad-` prefix because the bare ones mean
//! something else in this tool: `--namespace`/`-n` is kubectl's (cluster import) and `--region`
//! is the job's region (`convert`).
//!
//! Canonical spellings, with the replaced ones still accepted as hidden aliases:
//! `--address` (alias `--nomad-addr`, which `validate` used), `--token`, `--nomad-namespace`,
//! `--nomad-region`, `--ca-cert`, `--client-cert`, `--client-key`, `--tls-server-name`,
//! `--tls-skip-verify`, `--retry-attempts`, `--retry-base-delay`.

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
    /// Do not verify the agent's certificate (insecure; for test clusters only).
    #[arg(long = "tls-skip-verify", env = "NOMAD_SKIP_VERIFY")]
    pub tls_skip_verify: bool,
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
            tls_skip_verify: self.tls_skip_verify,
            retry: RetryPolicy {
                attempts: self.retry_attempts.max(1),
                base_delay: self.retry_base_delay,
                ..RetryPolicy::default()
            },
        }
    }
}
