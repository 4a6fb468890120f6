//! The upstream registry and the org credentials the gateway authenticates to it with.
//!
//! The upstream answers either to Basic credentials directly (registry.fly.io, distribution with
//! htpasswd) or through the Bearer token flow. Which one is found once, by probing `/v2/`; a Bearer token
//! is fetched with the same Basic credentials and cached until shortly before it expires. The credentials
//! never leave this module except as a sensitive `Authorization` header on upstream requests.

use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use reqwest::header::{HeaderValue, WWW_AUTHENTICATE};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use crate::error::RegistryError;

/// Where the shared repository lives and the org credentials for it (never sent to customers).
#[derive(Clone)]
pub struct UpstreamConfig {
    /// Origin of the upstream registry, e.g. `https://registry.fly.io` (any path is ignored).
    pub base_url: Url,
    /// `x` for registry.fly.io.
    pub username: String,
    pub password: SecretString,
}

impl fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("base_url", &self.base_url.as_str())
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .finish()
    }
}

#[derive(Debug, Clone)]
enum AuthMode {
    Unknown,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        token: Option<(SecretString, Instant)>,
    },
}

/// HTTP client for the upstream, holding the org credentials.
pub struct Upstream {
    client: reqwest::Client,
    /// `scheme://host[:port]` without a trailing slash.
    origin: String,
    username: String,
    password: SecretString,
    mode: Mutex<AuthMode>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl Upstream {
    pub fn new(config: UpstreamConfig) -> Self {
        // No overall timeout: a layer upload may take minutes. Redirects are the client's business
        // (blob downloads may redirect to storage), so they are passed through, not followed.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let origin = config.base_url.origin().ascii_serialization();
        Self {
            client,
            origin,
            username: config.username,
            password: config.password,
            mode: Mutex::new(AuthMode::Unknown),
        }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Absolute upstream URL of a path (with query) that starts with `/v2/`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.origin)
    }

    fn basic(&self) -> HeaderValue {
        let raw = format!("{}:{}", self.username, self.password.expose_secret());
        sensitive(format!("Basic {}", STANDARD.encode(raw)))
    }

    /// The `Authorization` header for a request on `repository`.
    pub async fn authorization(&self, repository: &str) -> Result<HeaderValue, RegistryError> {
        let mut mode = self.mode.lock().await;
        if matches!(*mode, AuthMode::Unknown) {
            *mode = self.probe().await?;
        }
        match &mut *mode {
            AuthMode::Unknown | AuthMode::Basic => Ok(self.basic()),
            AuthMode::Bearer {
                token: Some((token, until)),
                ..
            } if Instant::now() < *until => {
                Ok(sensitive(format!("Bearer {}", token.expose_secret())))
            }
            AuthMode::Bearer {
                realm,
                service,
                token,
            } => {
                let (fresh, until) = self
                    .fetch_token(realm, service.as_deref(), repository)
                    .await?;
                let header = sensitive(format!("Bearer {}", fresh.expose_secret()));
                *token = Some((fresh, until));
                Ok(header)
            }
        }
    }

    /// Forgets a Bearer token the upstream refused (it may have been revoked early).
    pub async fn token_refused(&self) {
        if let AuthMode::Bearer { token, .. } = &mut *self.mode.lock().await {
            *token = None;
        }
    }

    async fn probe(&self) -> Result<AuthMode, RegistryError> {
        let res = self
            .client
            .get(self.url("/v2/"))
            .header(reqwest::header::AUTHORIZATION, self.basic())
            .send()
            .await;
        let res = res.map_err(|e| upstream_error("probe", &e))?;
        if res.status() != StatusCode::UNAUTHORIZED {
            return Ok(AuthMode::Basic);
        }
        let challenge = res
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        match parse_bearer_challenge(challenge) {
            Some((realm, service)) => Ok(AuthMode::Bearer {
                realm,
                service,
                token: None,
            }),
            None => {
                tracing::error!("upstream registry refused the gateway's Basic credentials");
                Err(RegistryError::upstream(
                    "upstream registry refused the gateway's credentials",
                ))
            }
        }
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        repo: &str,
    ) -> Result<(SecretString, Instant), RegistryError> {
        let scope = format!("repository:{repo}:pull,push");
        let mut url = Url::parse(realm)
            .map_err(|_| RegistryError::upstream("upstream token realm is not a URL"))?;
        url.query_pairs_mut().append_pair("scope", &scope);
        if let Some(service) = service {
            url.query_pairs_mut().append_pair("service", service);
        }
        let res = self
            .client
            .get(url)
            .header(reqwest::header::AUTHORIZATION, self.basic())
            .send()
            .await;
        let res = res.map_err(|e| upstream_error("token", &e))?;
        if !res.status().is_success() {
            tracing::error!(
                status = res.status().as_u16(),
                "upstream token endpoint refused the gateway's credentials"
            );
            return Err(RegistryError::upstream(
                "upstream registry refused the gateway's credentials",
            ));
        }
        let body: TokenResponse = res
            .json()
            .await
            .map_err(|e| upstream_error("token body", &e))?;
        let token = body.token.or(body.access_token).filter(|t| !t.is_empty());
        let token = token
            .ok_or_else(|| RegistryError::upstream("upstream token endpoint returned no token"))?;
        // The spec's default lifetime is 60 s; renew 10 s early so no request races the expiry.
        let lifetime = body.expires_in.unwrap_or(60).max(20) - 10;
        Ok((
            SecretString::from(token),
            Instant::now() + Duration::from_secs(lifetime),
        ))
    }
}

fn sensitive(value: String) -> HeaderValue {
    let mut v = HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}

/// Logs a transport failure (reqwest errors name the URL, which carries no credentials) and answers 502.
pub fn upstream_error(what: &str, e: &reqwest::Error) -> RegistryError {
    tracing::warn!(step = what, error = %e, "upstream registry request failed");
    RegistryError::upstream("upstream registry unavailable")
}

/// `Bearer realm="...",service="..."` → (realm, service).
fn parse_bearer_challenge(value: &str) -> Option<(String, Option<String>)> {
    let (scheme, params) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    for part in params.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').to_owned();
        match k.trim().to_ascii_lowercase().as_str() {
            "realm" => realm = Some(v),
            "service" => service = Some(v),
            _ => {}
        }
    }
    Some((realm?, service))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_parsed_and_basic_ones_are_not() {
        let (realm, service) = parse_bearer_challenge(
            r#"Bearer realm="https://auth.example/token",service="reg.example",scope="x""#,
        )
        .unwrap();
        assert_eq!(realm, "https://auth.example/token");
        assert_eq!(service.as_deref(), Some("reg.example"));
        assert_eq!(
            parse_bearer_challenge(r#"Basic realm="Registry Realm""#),
            None
        );
        assert_eq!(parse_bearer_challenge("Bearer service=\"x\""), None);
    }

    #[test]
    fn debug_hides_the_org_password() {
        let cfg = UpstreamConfig {
            base_url: Url::parse("https://registry.fly.io").unwrap(),
            username: "x".into(),
            password: SecretString::from("fo1_org_token".to_owned()),
        };
        assert!(!format!("{cfg:?}").contains("fo1_org_token"));
        let up = Upstream::new(cfg);
        assert_eq!(up.origin(), "https://registry.fly.io");
        assert!(!format!("{up:?}").contains("fo1_org_token"));
    }
}
