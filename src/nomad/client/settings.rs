//! Where and how to reach a Nomad agent: address, token (kept out of every `Debug`), namespace,
//! region, TLS files and the retry policy. Plain data; `cli` resolves it from flags and the
//! official CLI's environment variables.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The address the official `nomad` CLI uses when neither `-address` nor `NOMAD_ADDR` is set.
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:4646";

/// A secret string whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the token came from, so that an ACL error can say what to fix without showing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    None,
    Environment,
    Flag,
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenSource::None => "no token was given (set NOMAD_TOKEN or pass --token)",
            TokenSource::Environment => "the token from the environment variable NOMAD_TOKEN",
            TokenSource::Flag => "the token from --token",
        })
    }
}

/// Capped, jittered exponential backoff for transient failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `retry` (0-based): uniform in [d/2, d] where
    /// d = min(max, base × 2^retry). Half-jitter keeps a floor so that a leaderless cluster gets
    /// some rest, and spreads parallel deploys apart.
    pub fn delay(&self, retry: u32) -> Duration {
        let exponential = self.base_delay.saturating_mul(1u32 << retry.min(20));
        let capped = exponential.min(self.max_delay);
        capped.mul_f64(0.5 + fastrand::f64() / 2.0)
    }
}

/// Where and how to reach a Nomad agent: the official CLI's settings (`NOMAD_ADDR`,
/// `NOMAD_TOKEN`, ...), resolved by `cli` from flags and environment.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    pub address: String,
    pub token: Option<Secret>,
    pub token_source: TokenSource,
    pub namespace: Option<String>,
    pub region: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub tls_server_name: Option<String>,
    pub tls_skip_verify: bool,
    pub retry: RetryPolicy,
}

impl ConnectionSettings {
    /// An address alone: no token, namespace, region or TLS options, default retries.
    pub fn plain(address: impl Into<String>) -> ConnectionSettings {
        ConnectionSettings {
            address: address.into(),
            token: None,
            token_source: TokenSource::None,
            namespace: None,
            region: None,
            ca_cert: None,
            client_cert: None,
            client_key: None,
            tls_server_name: None,
            tls_skip_verify: false,
            retry: RetryPolicy::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_in_debug() {
        let settings = format!("{:?}", Secret::new("s3cr3t".to_string()));
        assert!(!settings.contains("s3cr3t"));
    }

    #[test]
    fn retry_delay_is_capped_and_jittered() {
        let policy = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for retry in 0..10 {
            let d = policy.delay(retry);
            let full = (Duration::from_millis(100) * (1 << retry)).min(Duration::from_secs(1));
            assert!(d <= full && d >= full / 2, "retry {retry}: {d:?}");
        }
    }
}
