//! One Machines API request: URL building, the auth header, timeouts, error mapping from Fly's error
//! bodies, and the retry loop around it.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{FlyError, FlyResult};
use crate::resilience::guard::{Failure, Guard, RetryMode};
use crate::resilience::retry::retry_after;

/// Header carrying a machine lease nonce.
const LEASE_HEADER: &str = "fly-machine-lease-nonce";

/// A request relative to the API root (`.../v1`). Its `Debug` leaves out the body (secret values).
#[derive(Clone)]
pub(crate) struct Req {
    pub method: Method,
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
    pub lease: Option<String>,
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for Req {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Req")
            .field("method", &self.method)
            .field("segments", &self.segments)
            .finish_non_exhaustive()
    }
}

impl Req {
    pub fn new(method: Method, segments: &[&str]) -> Self {
        Self {
            method,
            segments: segments.iter().map(|s| s.to_string()).collect(),
            query: Vec::new(),
            body: None,
            lease: None,
            timeout: None,
        }
    }
    pub fn get(segments: &[&str]) -> Self {
        Self::new(Method::GET, segments)
    }
    pub fn post(segments: &[&str], body: serde_json::Value) -> Self {
        Self {
            body: Some(body),
            ..Self::new(Method::POST, segments)
        }
    }
    pub fn delete(segments: &[&str]) -> Self {
        Self::new(Method::DELETE, segments)
    }
    pub fn query(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_string(), value.into()));
        self
    }
    pub fn lease(mut self, nonce: Option<&str>) -> Self {
        self.lease = nonce.map(str::to_string);
        self
    }
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Fly's error body: `{"error": "...", "status"?: "..."}`, or the lease flavour
/// `{"status": "error", "message": "...", "code": "..."}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Api {
    pub http: reqwest::Client,
    pub root: Url,
    pub token: SecretString,
    pub guard: Guard,
}

/// `FlyV1 <token>` for macaroons (`fm1r_`, `fm2_`, or already prefixed), `Bearer <token>` otherwise.
pub(crate) fn auth_header(token: &SecretString) -> FlyResult<HeaderValue> {
    let raw = token.expose_secret().trim();
    let value = if raw.starts_with("FlyV1 ") || raw.starts_with("Bearer ") {
        raw.to_string()
    } else if raw.starts_with("fm1r_") || raw.starts_with("fm2_") || raw.contains("FlyV1 ") {
        format!("FlyV1 {raw}")
    } else {
        format!("Bearer {raw}")
    };
    let mut header = HeaderValue::from_str(&value)
        .map_err(|_| FlyError::Config("the configured token is not a valid header value".into()))?;
    header.set_sensitive(true);
    Ok(header)
}

/// Maps a non-2xx answer to the error a caller can act on.
pub(crate) fn map_status(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    redact: impl Fn(&str) -> String,
) -> Failure {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let raw = String::from_utf8_lossy(&body[..body.len().min(512)])
        .trim()
        .to_string();
    let message = redact(
        &parsed
            .error
            .clone()
            .or(parsed.message.clone())
            .unwrap_or(raw),
    );
    let name_taken = parsed.status.as_deref() == Some("name_taken") || says_name_taken(&message);
    Failure::from_status(status, message, retry_after(headers), name_taken)
}

/// Fly does not always send the `name_taken` status field with its 422 (older endpoints and the
/// GraphQL-backed ones answer only a message such as "Name has already been taken"), so the message
/// is read too. Only an app's *name* counts: "Hostname x has already been taken" (a certificate held
/// by another app) stays an ordinary 422.
pub(crate) fn says_name_taken(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("name_taken")
        || m.contains("name has already been taken")
        || m.contains("name is already taken")
        || (m.contains("app name") && m.contains("taken"))
}

/// Maps a transport error (no HTTP answer) to a transient failure.
pub(crate) fn map_transport(err: reqwest::Error) -> Failure {
    let not_sent = err.is_connect();
    let what = if err.is_timeout() {
        "request timed out"
    } else if not_sent {
        "connection failed"
    } else {
        "request failed"
    };
    // `without_url` keeps paths out of the message; the token is never part of a reqwest error.
    Failure {
        error: FlyError::Transient(format!("{what}: {}", err.without_url())),
        retry_after: None,
        not_sent,
        status: None,
    }
}

impl Api {
    pub fn url(&self, req: &Req) -> Url {
        let mut url = self.root.clone();
        {
            // `root` is validated as a base URL at construction, so path_segments_mut cannot fail.
            let mut segs = url.path_segments_mut().expect("base url");
            segs.pop_if_empty();
            for s in &req.segments {
                segs.push(s);
            }
        }
        if !req.query.is_empty() {
            url.query_pairs_mut().extend_pairs(req.query.iter());
        }
        url
    }

    fn redact(&self, text: &str) -> String {
        let secret = self.token.expose_secret();
        if secret.len() >= 4 {
            text.replace(secret, "[redacted]")
        } else {
            text.to_string()
        }
    }

    /// One attempt: the 2xx body, or the mapped failure.
    pub async fn once(&self, req: &Req) -> Result<Bytes, Failure> {
        let mut builder = self
            .http
            .request(req.method.clone(), self.url(req))
            .header(http::header::AUTHORIZATION, auth_header(&self.token)?)
            .header(http::header::ACCEPT, "application/json");
        if let Some(body) = &req.body {
            builder = builder.json(body);
        }
        if let Some(nonce) = &req.lease {
            builder = builder.header(LEASE_HEADER, nonce);
        }
        if let Some(timeout) = req.timeout {
            builder = builder.timeout(timeout);
        }
        let response = builder.send().await.map_err(map_transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(map_transport)?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(map_status(status, &headers, &body, |t| self.redact(t)))
        }
    }

    pub async fn run(&self, op: &str, mode: RetryMode, req: &Req) -> FlyResult<Bytes> {
        self.guard.run(op, mode, || self.once(req)).await
    }

    pub async fn json<T: DeserializeOwned>(
        &self,
        op: &str,
        mode: RetryMode,
        req: &Req,
    ) -> FlyResult<T> {
        decode(&self.run(op, mode, req).await?)
    }

    pub async fn unit(&self, op: &str, mode: RetryMode, req: &Req) -> FlyResult<()> {
        self.run(op, mode, req).await.map(drop)
    }
}

pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> FlyResult<T> {
    serde_json::from_slice(body).map_err(|e| FlyError::Decode(format!("{e}")))
}

#[cfg(test)]
mod name_taken_tests {
    use super::says_name_taken;

    #[test]
    fn name_taken_is_read_from_the_message_too() {
        assert!(says_name_taken("Name has already been taken"));
        assert!(says_name_taken("Validation failed: name_taken"));
        assert!(says_name_taken("app name sp-1 is already taken"));
        assert!(!says_name_taken(
            "Hostname a.example.com has already been taken by another app"
        ));
        assert!(!says_name_taken("invalid hostname"));
    }
}
