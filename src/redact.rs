//! Removing credentials from text that came back from a server: a Nomad agent or a Kubernetes
//! API server (or something pretending to be one) may echo the request's headers into a body
//! or an error message, and whatever we print from it must not carry the token on.
//!
//! What it is not: a secret store. It only knows the strings it is given and replaces every
//! occurrence of each (raw, and as it looks JSON-escaped, percent-encoded or Debug-quoted) by
//! [`REDACTED`]. Tokens that a client obtains later (a kubeconfig `exec` plugin) are not known
//! here. Callers add the derived forms they send (the base64 pair of basic auth:
//! [`basic_auth_credentials`]). Percent-encoding and decoding live here too, shared with the
//! Nomad client's paths.

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
        // A quoted form as it appears inside a longer quoted string: without its quotes.
        let unquoted =
            |quoted: String| match quoted.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some(inner) => inner.to_string(),
                None => quoted,
            };
        for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
            for form in [
                secret.to_string(),
                unquoted(serde_json::to_string(secret).unwrap_or_default()),
                unquoted(format!("{secret:?}")),
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

/// The `Authorization: Basic` credentials a client sends for `user` and `password`: the base64
/// of `user:password` (RFC 7617). A server that echoes the header echoes this form, which none of
/// the password's own spellings matches, so it is a secret of its own.
pub fn basic_auth_credentials(user: &str, password: &str) -> String {
    base64_standard(format!("{user}:{password}").as_bytes())
}

/// `%XX` sequences decoded, as a URL's `user:password@` is before it becomes a header; invalid
/// sequences and non-UTF-8 results are kept as they are.
pub fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_or(Cow::Borrowed(text), Cow::Owned)
}

/// Base64 with the standard alphabet and padding (RFC 4648 §4).
fn base64_standard(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(group >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
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
    fn basic_auth_credentials_are_rfc_7617s() {
        // RFC 7617 section 2's example.
        assert_eq!(
            basic_auth_credentials("Aladdin", "open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        // RFC 4648 section 10's test vectors, through the ':' the format adds.
        assert_eq!(base64_standard(b""), "");
        assert_eq!(base64_standard(b"f"), "Zg==");
        assert_eq!(base64_standard(b"fo"), "Zm8=");
        assert_eq!(base64_standard(b"foo"), "Zm9v");
        assert_eq!(base64_standard(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("p%40ss%3Aw"), "p@ss:w");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%FF"), "%FF");
    }

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
