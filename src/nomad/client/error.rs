//! What can go wrong talking to Nomad, with what a caller needs to decide whether to retry
//! (transient), and whether a failed request may still have been applied (ambiguous). Server
//! text reaches these only after `transport` has cut the credentials out of it.

use std::time::Duration;

/// Errors from the Nomad API, with what a caller needs to decide whether to retry. Every text
/// in them that came from the server has had the credentials cut out (see `transport`), so
/// `Display` and `Debug` are both safe to print.
#[derive(Debug, thiserror::Error)]
pub enum NomadError {
    /// The agent answered with an error status; `body` is its plain-text message.
    #[error("{method} {path}: {status} {body}", body = .body.trim_end())]
    Api {
        method: String,
        path: String,
        status: u16,
        body: String,
    },
    /// The agent answered with a redirect, which is never followed: the token goes only to the
    /// address the user gave.
    #[error(
        "{method} {path}: Nomad at {address} answered {status} with a redirect to {location}; \
         redirects are not followed (the token is only sent to the address given): point \
         --address (NOMAD_ADDR) at the agent itself"
    )]
    Redirect {
        method: String,
        path: String,
        address: String,
        status: u16,
        /// The Location's scheme, host and port only (its path and query may hold anything).
        location: String,
    },
    /// No answer: connection refused/reset, TLS failure, or nothing within the timeout.
    #[error("{method} {path}: {}", failure.describe(address, detail))]
    Transport {
        method: String,
        path: String,
        /// Where the request went, without a password.
        address: String,
        /// The request may have reached the server (it was not a connect failure).
        maybe_sent: bool,
        failure: TransportFailure,
        /// The error and its causes, credentials cut out.
        detail: String,
    },
    /// The request body could not be written as JSON.
    #[error("{method} {path}: cannot encode the request body: {source}")]
    Encode {
        method: String,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// The answer was not the JSON expected (decoded from the body with credentials cut out).
    #[error("{method} {path}: unexpected response body: {source}")]
    Decode {
        method: String,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// Settings are unusable (bad address, unreadable certificate).
    #[error("{0}")]
    Config(String),
}

/// Why no answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// Refused, unreachable, name not resolved.
    Connect,
    /// No connection within the timeout.
    ConnectTimeout(Duration),
    /// Connected and sent, but no answer within the timeout: a server that went silent.
    NoAnswer(Duration),
    /// Certificate not trusted, client certificate refused, handshake failed.
    Tls,
    /// Reset or closed before the answer was complete.
    Broken,
}

impl TransportFailure {
    fn describe(&self, address: &str, detail: &str) -> String {
        match self {
            TransportFailure::Connect => format!("cannot reach Nomad at {address}: {detail}"),
            TransportFailure::ConnectTimeout(timeout) => format!(
                "cannot reach Nomad at {address}: no connection within {} (--request-timeout)",
                humantime::format_duration(*timeout)
            ),
            TransportFailure::NoAnswer(timeout) => format!(
                "Nomad at {address} accepted the connection but did not answer within {} \
                 (--request-timeout)",
                humantime::format_duration(*timeout)
            ),
            TransportFailure::Tls => format!("TLS with Nomad at {address} failed: {detail}"),
            TransportFailure::Broken => {
                format!("the connection to Nomad at {address} broke: {detail}")
            }
        }
    }
}

/// 500 bodies that mean "not processed, try again" rather than a rejection of the request.
const TRANSIENT_500_BODIES: [&str; 6] = [
    "No cluster leader",
    "No path to region",
    "rpc error: EOF",
    "i/o timeout",
    "connection reset",
    "context deadline exceeded",
];

impl NomadError {
    /// Worth retrying: the failure says nothing about the request itself.
    pub fn is_transient(&self) -> bool {
        match self {
            NomadError::Api { status, body, .. } => match status {
                429 | 502 | 503 | 504 => true,
                500 => TRANSIENT_500_BODIES.iter().any(|t| body.contains(t)),
                _ => false,
            },
            // Refused, reset, closed early: all say nothing about the request. A TLS failure
            // (untrusted certificate, client certificate refused) will not heal, and a server
            // that took a connection and then said nothing for the whole timeout is not one
            // that a retry gets an answer from: both fail at once.
            NomadError::Transport { failure, .. } => matches!(
                failure,
                TransportFailure::Connect
                    | TransportFailure::ConnectTimeout(_)
                    | TransportFailure::Broken
            ),
            NomadError::Redirect { .. }
            | NomadError::Encode { .. }
            | NomadError::Decode { .. }
            | NomadError::Config(_) => false,
        }
    }

    /// The request may have been applied even though no answer arrived.
    pub fn is_ambiguous(&self) -> bool {
        matches!(
            self,
            NomadError::Transport {
                maybe_sent: true,
                ..
            }
        )
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            NomadError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn body(&self) -> Option<&str> {
        match self {
            NomadError::Api { body, .. } => Some(body),
            _ => None,
        }
    }
}

/// An error and its causes, `outer: inner: innermost` (reqwest's own text says only "error
/// sending request").
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

/// What kind of failure a reqwest error is, given the timeout the request had.
pub(super) fn classify_transport(error: &reqwest::Error, timeout: Duration) -> TransportFailure {
    if is_tls_failure(error) {
        TransportFailure::Tls
    } else if error.is_connect() && error.is_timeout() {
        TransportFailure::ConnectTimeout(timeout)
    } else if error.is_connect() {
        TransportFailure::Connect
    } else if error.is_timeout() {
        TransportFailure::NoAnswer(timeout)
    } else {
        TransportFailure::Broken
    }
}

/// True when the error chain holds a TLS verification or handshake failure.
fn is_tls_failure(error: &reqwest::Error) -> bool {
    // hyper-rustls wraps rustls errors in io::Error, whose `source()` skips the wrapped error,
    // so the chain is matched on its debug rendering.
    let chain = format!("{error:?}");
    [
        "InvalidCertificate",
        "AlertReceived",
        "NoCertificatesPresented",
        "UnknownIssuer",
        "certificate",
    ]
    .iter()
    .any(|marker| chain.contains(marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_leaderless_500s_are_transient() {
        let api = |status, body: &str| NomadError::Api {
            method: "PUT".into(),
            path: "/v1/jobs".into(),
            status,
            body: body.into(),
        };
        assert!(api(500, "No cluster leader").is_transient());
        assert!(api(429, "").is_transient());
        assert!(!api(500, "1 error occurred:\n\t* Missing job ID\n\n").is_transient());
        assert!(
            !api(
                500,
                "Enforcing job modify index 3: job exists with conflicting job modify index: 5"
            )
            .is_transient()
        );
        assert!(!api(403, "Permission denied").is_transient());
    }
}
