//! One request to the Nomad API and what every request shares: the base URL, the namespace and
//! region parameters, the token header, JSON bodies, the `X-Nomad-Index` header, retries with
//! backoff for transient failures, blocking queries, timeouts, and the two rules that keep the
//! token where it belongs: a redirect is reported, never followed, and every byte of an answer
//! (and of an error's text) has the credentials cut out before anything else reads it.

use super::NomadClient;
use super::error::{NomadError, classify_transport, error_chain};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Blocking-query options: return when the watched object's index exceeds `index`, or after
/// `wait` (the server caps it at 5 minutes and adds up to wait/16 of jitter).
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryOptions {
    pub index: u64,
    pub wait: Option<Duration>,
}

/// A decoded response and its `X-Nomad-Index`.
#[derive(Debug, Clone)]
pub struct Indexed<T> {
    pub value: T,
    pub index: u64,
}

/// A JSON request body, ready to send.
pub(super) struct JsonBody(Vec<u8>);

impl JsonBody {
    /// Encodes `body` for `method path`; a failure says which request it was for.
    pub(super) fn encode<B: Serialize>(
        method: &reqwest::Method,
        path: &str,
        body: &B,
    ) -> Result<JsonBody, NomadError> {
        serde_json::to_vec(body)
            .map(JsonBody)
            .map_err(|source| NomadError::Encode {
                method: method.to_string(),
                path: path.to_string(),
                source,
            })
    }
}

impl NomadClient {
    /// One request, no retry. `namespace` overrides the settings' namespace for this call.
    async fn send_once(
        &self,
        method: reqwest::Method,
        path: &str,
        namespace: Option<&str>,
        query: &[(&str, String)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<(u64, Vec<u8>), NomadError> {
        let mut url = format!("{}{}", self.base, path);
        let mut params: Vec<(&str, String)> = query.to_vec();
        if let Some(ns) = namespace.or(self.settings.namespace.as_deref()) {
            params.push(("namespace", ns.to_string()));
        }
        if let Some(region) = &self.settings.region {
            params.push(("region", region.clone()));
        }
        for (i, (key, value)) in params.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(key);
            url.push('=');
            url.push_str(&encode_segment(value));
        }
        let mut request = self.http.request(method.clone(), &url).timeout(timeout);
        if let Some(token) = &self.settings.token {
            request = request.header("X-Nomad-Token", token.expose());
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let address = self.settings.display_address();
        let transport = |source: reqwest::Error| {
            let source = source.without_url();
            let detail = self.redactor.redact(&error_chain(&source)).into_owned();
            if source.is_builder() {
                return NomadError::Config(format!(
                    "{method} {path}: cannot build a request to {address}: {detail}"
                ));
            }
            NomadError::Transport {
                method: method.to_string(),
                path: path.to_string(),
                address: address.clone(),
                maybe_sent: !source.is_connect(),
                failure: classify_transport(&source, timeout),
                detail,
            }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        if response.status().is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|l| location_origin(&String::from_utf8_lossy(l.as_bytes())))
                .unwrap_or_else(|| "nowhere (no Location header)".to_string());
            return Err(NomadError::Redirect {
                method: method.to_string(),
                path: path.to_string(),
                address,
                status,
                location: self.redactor.redact(&location).into_owned(),
            });
        }
        let index = response
            .headers()
            .get("X-Nomad-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let bytes = response.bytes().await.map_err(transport)?;
        // Before anything reads the answer: a server that echoes request headers must not
        // get the token printed, whichever field or message it puts it in.
        let bytes = self.redactor.redact_bytes(bytes.to_vec());
        if !(200..300).contains(&status) {
            return Err(NomadError::Api {
                method: method.to_string(),
                path: path.to_string(),
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok((index, bytes))
    }

    /// A request retried on transient failures. Only for requests that are safe to repeat
    /// (reads, validate, plan); register goes through [`NomadClient::register_once`].
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        namespace: Option<&str>,
        query: &[(&str, String)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Indexed<T>, NomadError> {
        let mut retry = 0;
        loop {
            match self
                .send_once(method.clone(), path, namespace, query, body, timeout)
                .await
            {
                Ok((index, body)) => return decode(&method, path, index, &body),
                Err(err) if err.is_transient() && retry + 1 < self.settings.retry.attempts => {
                    tokio::time::sleep(self.settings.retry.delay(retry)).await;
                    retry += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// A GET retried on transient failures; a blocking query when `options.index` > 0.
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        namespace: Option<&str>,
        options: QueryOptions,
    ) -> Result<Indexed<T>, NomadError> {
        let mut query = Vec::new();
        let mut timeout = self.settings.request_timeout;
        if options.index > 0 {
            let wait = options
                .wait
                .unwrap_or(Duration::from_secs(300))
                .min(Duration::from_secs(300));
            query.push(("index", options.index.to_string()));
            query.push(("wait", format!("{}ms", wait.as_millis())));
            // The server may hold the request for wait + wait/16 of jitter before it answers.
            timeout = wait + wait / 16 + self.settings.request_timeout;
        }
        self.call(reqwest::Method::GET, path, namespace, &query, None, timeout)
            .await
    }

    /// A JSON body sent with `method` and retried on transient failures: only for requests
    /// that are safe to repeat.
    pub(super) async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        namespace: Option<&str>,
        body: &B,
    ) -> Result<Indexed<T>, NomadError> {
        let body = JsonBody::encode(&method, path, body)?;
        let timeout = self.settings.request_timeout;
        self.call(method, path, namespace, &[], Some(&body.0), timeout)
            .await
    }

    /// A JSON body sent once, never retried: for requests whose repetition is not harmless.
    pub(super) async fn send_json_once<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        namespace: Option<&str>,
        body: &B,
    ) -> Result<Indexed<T>, NomadError> {
        let body = JsonBody::encode(&method, path, body)?;
        let (index, bytes) = self
            .send_once(
                method.clone(),
                path,
                namespace,
                &[],
                Some(&body.0),
                self.settings.request_timeout,
            )
            .await?;
        decode(&method, path, index, &bytes)
    }
}

/// The response body as `T`, with the index it came with.
fn decode<T: DeserializeOwned>(
    method: &reqwest::Method,
    path: &str,
    index: u64,
    body: &[u8],
) -> Result<Indexed<T>, NomadError> {
    let value = serde_json::from_slice(body).map_err(|source| NomadError::Decode {
        method: method.to_string(),
        path: path.to_string(),
        source,
    })?;
    Ok(Indexed { value, index })
}

/// `scheme://host:port` of a Location header, without its path and query; a relative one
/// stays on the same server.
fn location_origin(location: &str) -> String {
    let location = location.trim();
    match location.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}")
        }
        None => "a path on the same server".to_string(),
    }
}

/// Percent-encode one path segment (job IDs may hold any character but space and NUL).
pub(super) fn encode_segment(segment: &str) -> String {
    crate::redact::percent_encode(segment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_location_is_shown_as_its_origin_only() {
        assert_eq!(
            location_origin("http://u:p@10.0.0.9:4646/v1/jobs?token=x"),
            "http://10.0.0.9:4646"
        );
        assert_eq!(location_origin("/v1/jobs"), "a path on the same server");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("web/a b"), "web%2Fa%20b");
    }

    #[test]
    fn an_encode_failure_is_reported_as_encode() {
        // JSON object keys must be strings; a map keyed by pairs cannot be encoded.
        let body = BTreeMap::from([((1, 2), 3)]);
        let Err(error) = JsonBody::encode(&reqwest::Method::PUT, "/v1/jobs", &body) else {
            panic!("encoded");
        };
        assert!(matches!(error, NomadError::Encode { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with("PUT /v1/jobs: cannot encode the request body"),
            "{error}"
        );
    }
}
