//! Removing credentials from text that came back from a server: a Nomad agent or a Kubernetes
//! API server (or something pretending to be one) may echo the request's headers into a body
//! or an error message, and whatever we print from it must not carry the token on.
//!
//! What it is not: a secret store. It only knows the strings it is given and replaces every
//! occurrence of each (raw, and as it looks JSON-escaped, percent-encoded or Debug-quoted) by
//! [`REDACTED`]. Tokens that a client obtains later (a kubeconfig `exec` plugin) are not known
//! here.

use std::borrow::Cow;
use std::fmt;

/// What a credential is replaced with.
pub const REDACTED: &str = "<redacted>";

/// The credentials to cut out of server-derived text. `Debug` shows how many, never which.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Every spelling to replace, longest first so that a longer form is not cut in half by a
    /// shorter one it contains.
    needles: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} spellings)", self.needles.len())
    }
}

impl Redactor {
    /// A redactor for these secrets; empty strings are ignored.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut needles = Vec::new();
        for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
            let json = serde_json::to_string(secret).unwrap_or_default();
            let json_inner = json
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(&json)
                .to_string();
            let debug = format!("{secret:?}");
            let debug_inner = debug
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(&debug)
                .to_string();
            for form in [
                secret.to_string(),
                json_inner,
                debug_inner,
                percent_encode(secret),
            ] {
                if !form.is_empty() && !needles.contains(&form) {
                    needles.push(form);
                }
            }
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Redactor { needles }
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with every spelling of every secret replaced by [`REDACTED`].
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if !self.needles.iter().any(|n| text.contains(n.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), REDACTED);
            }
        }
        Cow::Owned(out)
    }

    /// A response body with every spelling of every secret replaced. Bytes that are not UTF-8
    /// are compared as bytes, so a body in any encoding loses the raw secret too.
    pub fn redact_bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        let mut out = bytes;
        for needle in &self.needles {
            out = replace_bytes(out, needle.as_bytes(), REDACTED.as_bytes());
        }
        out
    }
}

fn replace_bytes(haystack: Vec<u8>, needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return haystack;
    }
    let Some(first) = haystack.windows(needle.len()).position(|w| w == needle) else {
        return haystack;
    };
    let mut out = Vec::with_capacity(haystack.len());
    out.extend_from_slice(&haystack[..first]);
    out.extend_from_slice(with);
    let mut rest = &haystack[first + needle.len()..];
    while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Every byte but unreserved characters as `%XX`, as a URL query or a Location would carry it.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_the_secret_is_replaced() {
        let secret = "s3cr\"et/tok en";
        let redactor = Redactor::new([secret]);
        let echoed = format!(
            "raw {secret}; json {}; debug {:?}; url {}",
            serde_json::to_string(secret).unwrap(),
            secret,
            percent_encode(secret)
        );
        let clean = redactor.redact(&echoed);
        assert!(!clean.contains("s3cr"), "{clean}");
        assert_eq!(clean.matches(REDACTED).count(), 4, "{clean}");
        let bytes = redactor.redact_bytes(echoed.into_bytes());
        assert!(!String::from_utf8_lossy(&bytes).contains("s3cr"));
    }

    #[test]
    fn text_without_the_secret_is_untouched_and_debug_hides_it() {
        let redactor = Redactor::new(["0c9e8f2a-token", ""]);
        assert!(matches!(
            redactor.redact("Permission denied"),
            Cow::Borrowed("Permission denied")
        ));
        assert!(!format!("{redactor:?}").contains("0c9e"));
        assert!(Redactor::new([""]).is_empty());
        assert_eq!(
            redactor.redact_bytes(b"a 0c9e8f2a-token b 0c9e8f2a-token".to_vec()),
            b"a <redacted> b <redacted>".to_vec()
        );
    }
}
