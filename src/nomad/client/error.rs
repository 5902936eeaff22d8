//! What can go wrong talking to Nomad, with what a caller needs to decide whether to retry
//! (transient), and whether a failed request may still have been applied (ambiguous).

/// Errors from the Nomad API, with what a caller needs to decide whether to retry.
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
    /// No answer: connection refused/reset, timeout, TLS failure.
    #[error("{method} {path}: {}", error_chain(source))]
    Transport {
        method: String,
        path: String,
        /// The request may have reached the server (it was not a connect failure).
        maybe_sent: bool,
        #[source]
        source: reqwest::Error,
    },
    /// The request body could not be written as JSON.
    #[error("{method} {path}: cannot encode the request body: {source}")]
    Encode {
        method: String,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// The answer was not the JSON expected.
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
            // Refused, reset, closed early, timed out: all say nothing about the request.
            // A TLS failure (untrusted certificate, client certificate refused) will not heal.
            NomadError::Transport { source, .. } => !source.is_builder() && !is_tls_failure(source),
            NomadError::Encode { .. } | NomadError::Decode { .. } | NomadError::Config(_) => false,
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
