//! Sending one registry request: credentials only to the registry's own origin, the 401 challenge
//! answered once (through [`RegistryAuth`], the logic the registry gateway shares), redirects
//! followed by hand without credentials when they leave the origin, and error mapping from the
//! registry's error bodies.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use url::Url;

use super::auth::{RegistryAuth, same_origin};
use crate::error::FlyError;
use crate::machines::http::transport::map_transport;
use crate::resilience::guard::{Failure, Guard};
use crate::resilience::retry::retry_after;

const MAX_REDIRECTS: usize = 5;

/// A request against the registry.
#[derive(Debug, Clone)]
pub(crate) struct RegReq {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    /// Token scope, e.g. `repository:app:pull`.
    pub scope: String,
    /// Follow 3xx (blob reads may be redirected to storage).
    pub follow: bool,
}

#[derive(Debug)]
pub(crate) struct Transport {
    /// For registry requests (the request timeout of the configuration, no redirects).
    pub http: reqwest::Client,
    /// The same URL as `auth.base()`, kept here because URL building and redirects compare with it.
    pub base: Url,
    /// Credentials, scheme and token cache; probes and token fetches use its own bounded client.
    pub auth: RegistryAuth,
    pub guard: Guard,
}

impl Transport {
    async fn send_raw(
        &self,
        req: &RegReq,
        url: &Url,
        auth: Option<&HeaderValue>,
    ) -> Result<reqwest::Response, Failure> {
        let mut builder = self
            .http
            .request(req.method.clone(), url.clone())
            .headers(req.headers.clone());
        if let (Some(value), true) = (auth, same_origin(url, &self.base)) {
            builder = builder.header(header::AUTHORIZATION, value.clone());
        }
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        builder.send().await.map_err(map_transport)
    }

    /// Sends `req`, answering one 401 challenge; returns whatever the registry finally answered.
    /// The scheme is learnt from the first real 401 rather than a `/v2/` probe: the body is buffered,
    /// so replaying it once costs nothing, and registries needing no credentials get none.
    pub async fn send(&self, req: &RegReq) -> Result<reqwest::Response, Failure> {
        let mut cred = self.auth.credential(&req.scope).await?;
        let mut resp = self.send_raw(req, &req.url, cred.as_ref()).await?;
        if resp.status() == StatusCode::UNAUTHORIZED && same_origin(&req.url, &self.base) {
            let challenges: Vec<HeaderValue> = resp
                .headers()
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .cloned()
                .collect();
            if let Some(fresh) = self.auth.answer(&challenges, &req.scope).await? {
                resp = self.send_raw(req, &req.url, Some(&fresh)).await?;
                cred = Some(fresh);
            }
        }
        let mut hops = 0;
        while req.follow && resp.status().is_redirection() && hops < MAX_REDIRECTS {
            let Some(next) = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
            else {
                break;
            };
            let next = resp
                .url()
                .join(next)
                .map_err(|e| FlyError::Decode(format!("bad redirect: {e}")))?;
            // send_raw attaches credentials only when `next` is the registry's own origin.
            resp = self.send_raw(req, &next, cred.as_ref()).await?;
            hops += 1;
        }
        Ok(resp)
    }
}

/// The registry's error body: `{"errors": [{"code", "message"}]}`.
#[derive(Debug, Default, serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Debug, serde::Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The first error code of a registry error body (`MANIFEST_UNKNOWN`, `UNSUPPORTED`, ...).
pub(crate) fn error_code(body: &[u8]) -> Option<String> {
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    parsed.errors.into_iter().next().map(|e| e.code)
}

pub(crate) fn map_status(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Failure {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message = match parsed.errors.first() {
        Some(e) => format!("{} {}", e.code, e.message).trim().to_string(),
        None => String::from_utf8_lossy(&body[..body.len().min(256)])
            .trim()
            .to_string(),
    };
    Failure::from_status(status, message, retry_after(headers), false)
}

/// Reads a (small) body and maps a non-success status to a failure.
pub(crate) async fn read(
    resp: reqwest::Response,
) -> Result<(StatusCode, HeaderMap, Bytes), Failure> {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(map_transport)?;
    Ok((status, headers, body))
}
