//! Where and how to reach a Nomad agent: address, token (kept out of every `Debug`), namespace,
//! region, TLS files, how long a request may wait for its answer, and the retry policy. Plain
//! data; `cli` resolves it from flags and the official CLI's environment variables.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The address the official `nomad` CLI uses when neither `-address` nor `NOMAD_ADDR` is set.
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:4646";

/// How long one request may wait for its answer unless `--request-timeout` says otherwise.
/// A healthy agent answers a non-blocking request in well under a second, and one without a
/// leader says so within its RPC hold timeout (5 s by default); 30 s only gives up on a server
/// that accepted the connection and went silent.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// Longest wait for the answer to one request (connecting included). A blocking query may
    /// take its `wait` plus Nomad's jitter on top of this.
    pub request_timeout: Duration,
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
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// The address as messages show it: without a `user:password@` part, which reqwest would
    /// send as basic authentication and which is as secret as the token.
    pub fn display_address(&self) -> String {
        match self.address.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{}", without_userinfo(rest)),
            None => without_userinfo(&self.address).to_string(),
        }
    }

    /// Every credential that a server could echo back: the token and a password in the address.
    pub(super) fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = self.token.iter().map(|t| t.expose().to_string()).collect();
        let rest = self
            .address
            .split_once("://")
            .map_or(self.address.as_str(), |(_, rest)| rest);
        let authority = rest.split('/').next().unwrap_or(rest);
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            secrets.push(userinfo.to_string());
            if let Some((user, password)) = userinfo.split_once(':') {
                secrets.push(password.to_string());
                // The header reqwest sends carries the decoded pair, base64-encoded.
                let password = crate::redact::percent_decode(password);
                secrets.push(password.to_string());
                let user = crate::redact::percent_decode(user);
                secrets.push(crate::redact::basic_auth_credentials(&user, &password));
            }
        }
        secrets
    }
}

/// `host:port/...` without a leading `user:password@`.
fn without_userinfo(rest: &str) -> &str {
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
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
    fn the_displayed_address_has_no_password() {
        let settings = ConnectionSettings::plain("https://ops:hunter2@nomad.example:4646/ui");
        assert_eq!(settings.display_address(), "https://nomad.example:4646/ui");
        let secrets = settings.secrets();
        assert!(secrets.contains(&"hunter2".to_string()));
        // base64("ops:hunter2"), as in the Authorization header sent.
        assert!(secrets.contains(&"b3BzOmh1bnRlcjI=".to_string()));
        assert_eq!(
            ConnectionSettings::plain("127.0.0.1:4646").display_address(),
            "127.0.0.1:4646"
        );
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
