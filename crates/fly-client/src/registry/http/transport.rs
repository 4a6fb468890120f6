//! Sending one registry request: credentials only to the registry's own origin, the 401 challenge
//! answered once (Basic, or a bearer token from the realm), redirects followed by hand without
//! credentials when they leave the origin, and error mapping from the registry's error bodies.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::auth::{AuthCache, Scheme, TokenResponse, parse_challenge};
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
    pub http: reqwest::Client,
    pub base: Url,
    pub username: String,
    pub password: SecretString,
    pub auth: AuthCache,
    pub guard: Guard,
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn sensitive(value: String) -> Result<HeaderValue, Failure> {
    let mut v = HeaderValue::from_str(&value)
        .map_err(|_| FlyError::Config("credential is not a valid header".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

impl Transport {
    fn basic(&self) -> Result<HeaderValue, Failure> {
        let raw = format!("{}:{}", self.username, self.password.expose_secret());
        sensitive(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    }

    /// The credential to send up front, from what the registry asked for before.
    async fn credential(&self, scope: &str) -> Result<Option<HeaderValue>, Failure> {
        match self.auth.scheme() {
            Scheme::Unknown => Ok(None),
            Scheme::Basic => self.basic().map(Some),
            Scheme::Bearer { realm, service } => {
                let token = match self.auth.token(scope) {
                    Some(t) => t,
                    None => {
                        self.fetch_token(&realm, service.as_deref(), scope, scope)
                            .await?
                    }
                };
                sensitive(format!("Bearer {token}")).map(Some)
            }
        }
    }

    /// `GET realm?service=..&scope=..` with Basic credentials; caches the token under `cache_key`.
    async fn fetch_token(
        &self,
        realm: &Url,
        service: Option<&str>,
        scope: &str,
        cache_key: &str,
    ) -> Result<String, Failure> {
        let mut url = realm.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", scope);
        }
        let mut req = self.http.get(url);
        // The realm is named by the registry itself; plain-http realms on other hosts get nothing.
        if !self.username.is_empty()
            && (same_origin(realm, &self.base) || realm.scheme() == "https")
        {
            req = req.header(header::AUTHORIZATION, self.basic()?);
        }
        let resp = req.send().await.map_err(map_transport)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(map_transport)?;
        if !status.is_success() {
            return Err(map_status(status, &headers, &body));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| FlyError::Decode(format!("token response: {e}")))?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| FlyError::Decode("token response without a token".into()))?;
        self.auth.store_token(
            cache_key,
            token.clone(),
            Duration::from_secs(parsed.expires_in.unwrap_or(60)),
        );
        Ok(token)
    }

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
    pub async fn send(&self, req: &RegReq) -> Result<reqwest::Response, Failure> {
        let mut cred = self.credential(&req.scope).await?;
        let mut resp = self.send_raw(req, &req.url, cred.as_ref()).await?;
        if resp.status() == StatusCode::UNAUTHORIZED && same_origin(&req.url, &self.base) {
            let challenge = resp
                .headers()
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok().and_then(parse_challenge))
                .find(|c| c.scheme == "bearer" || c.scheme == "basic");
            let fresh = match challenge {
                Some(c) if c.scheme == "basic" => {
                    self.auth.set_scheme(Scheme::Basic);
                    Some(self.basic()?)
                }
                Some(c) => {
                    let realm = c
                        .param("realm")
                        .and_then(|r| Url::parse(r).ok())
                        .ok_or_else(|| {
                            FlyError::Unauthorized(
                                "registry sent a bearer challenge without a usable realm".into(),
                            )
                        })?;
                    let service = c.param("service").map(str::to_string);
                    self.auth.set_scheme(Scheme::Bearer {
                        realm: realm.clone(),
                        service: service.clone(),
                    });
                    // The cached token was refused (expired, `invalid_token`, `insufficient_scope`):
                    // get a fresh one for the scope the registry names, and try exactly once more.
                    self.auth.forget_token(&req.scope);
                    let scope = c.param("scope").unwrap_or(&req.scope).to_string();
                    let token = self
                        .fetch_token(&realm, service.as_deref(), &scope, &req.scope)
                        .await?;
                    Some(sensitive(format!("Bearer {token}"))?)
                }
                None => None,
            };
            if let Some(fresh) = fresh {
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
