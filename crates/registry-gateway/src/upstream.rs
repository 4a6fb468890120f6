//! The upstream registry and the org credentials the gateway authenticates to it with.
//!
//! The upstream answers either to Basic credentials directly (registry.fly.io, distribution with
//! htpasswd) or through the Bearer token flow (Docker Hub, GHCR, distribution with token auth). The
//! challenge parsing, token fetching and per-scope token cache are fly-client's [`RegistryAuth`], the
//! same code fly-client's own registry client uses, so the two cannot drift apart. This module adds
//! what is particular to the gateway: the scheme is learnt by probing `/v2/` *before* the first
//! forwarded request (a streamed upload cannot be replayed after a 401), fly-client errors become the
//! gateway's 502s, and the data client used for forwarding has no overall timeout.
//!
//! Token fetches run with `RegistryAuth`'s own timeout and no lock held across them, so a slow or dead
//! token endpoint fails the requests that need a new token instead of stalling every gateway request.
//! The credentials never leave this module except as a sensitive `Authorization` header on upstream
//! requests.

use std::fmt;
use std::time::Duration;

use mgmt_fly_client::{FlyError, RegistryAuth};
use reqwest::header::HeaderValue;
use secrecy::SecretString;
use url::Url;

use crate::error::{ErrorChain, RegistryError};

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

/// Time allowed to open a forwarding connection to the upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const UNAVAILABLE: &str = "upstream registry unavailable";
const REFUSED: &str = "upstream registry refused the gateway's credentials";

/// HTTP client for the upstream, holding the org credentials.
pub struct Upstream {
    /// For forwarding: no overall timeout, since a layer upload may take minutes.
    client: reqwest::Client,
    /// `scheme://host[:port]` without a trailing slash.
    origin: String,
    /// `None` only when the configured URL is not http(s) (or no HTTP client could be built); every
    /// request then fails with a 502 rather than the gateway refusing to start, as before.
    auth: Option<RegistryAuth>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // RegistryAuth's Debug shows the scheme and cached scopes, never the password or a token.
        f.debug_struct("Upstream")
            .field("origin", &self.origin)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    pub fn new(config: UpstreamConfig) -> Self {
        // No overall timeout: a layer upload may take minutes. Redirects are the client's business
        // (blob downloads may redirect to storage), so they are passed through, not followed.
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let origin = config.base_url.origin().ascii_serialization();
        // Only the origin counts (as for forwarded requests), so the probe goes to `{origin}/v2/`.
        let auth = Url::parse(&format!("{origin}/"))
            .map_err(|e| FlyError::Config(format!("upstream origin: {e}")))
            .and_then(|base| RegistryAuth::new(base, config.username, config.password));
        let auth = match auth {
            Ok(auth) => Some(auth),
            Err(e) => {
                tracing::error!(error = %e, "unusable upstream registry configuration");
                None
            }
        };
        Self {
            client,
            origin,
            auth,
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

    /// The `Authorization` header for a request on `repository`.
    ///
    /// The scheme is made known first (one probe of `/v2/`, then never again): forwarded bodies are
    /// streamed and cannot be resent after a 401, so the first request must already carry the right
    /// credentials.
    pub async fn authorization(&self, repository: &str) -> Result<HeaderValue, RegistryError> {
        let Some(auth) = &self.auth else {
            return Err(RegistryError::upstream(UNAVAILABLE));
        };
        auth.ensure_scheme()
            .await
            .map_err(|e| auth_error("probe", &e))?;
        match auth
            .authorization(&scope(repository))
            .await
            .map_err(|e| auth_error("token", &e))?
        {
            Some(value) => Ok(value),
            // ensure_scheme succeeded, so the scheme is known and a header is always produced.
            None => {
                tracing::error!("upstream registry scheme still unknown after probing");
                Err(RegistryError::upstream(UNAVAILABLE))
            }
        }
    }

    /// Forgets the Bearer tokens the upstream may have refused (one may have been revoked early); the
    /// next [`Self::authorization`] fetches a fresh one. The scheme itself is kept.
    pub async fn token_refused(&self) {
        if let Some(auth) = &self.auth {
            auth.forget_all();
        }
    }
}

/// The token scope the gateway needs on `repository`: it both reads and writes.
fn scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// Maps a fly-client failure to the gateway's 502, logging the detail. fly-client's errors carry no
/// credentials (tokens, passwords and URLs are kept out of them), so logging them is safe.
fn auth_error(step: &str, e: &FlyError) -> RegistryError {
    match e {
        FlyError::Unauthorized(_) => {
            tracing::error!(step, error = %e, "upstream registry refused the gateway's credentials");
            RegistryError::upstream(REFUSED)
        }
        _ => {
            tracing::warn!(step, error = %e, "upstream registry authentication failed");
            RegistryError::upstream(UNAVAILABLE)
        }
    }
}

/// Logs a transport failure (reqwest errors name the URL, which carries no credentials) and answers 502.
pub fn upstream_error(what: &str, e: &reqwest::Error) -> RegistryError {
    tracing::warn!(step = what, error = %ErrorChain(e), "upstream registry request failed");
    RegistryError::upstream(UNAVAILABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base: &str) -> UpstreamConfig {
        UpstreamConfig {
            base_url: Url::parse(base).unwrap(),
            username: "x".into(),
            password: SecretString::from("fo1_org_token".to_owned()),
        }
    }

    #[test]
    fn debug_hides_the_org_password() {
        let cfg = config("https://registry.fly.io");
        assert!(!format!("{cfg:?}").contains("fo1_org_token"));
        let up = Upstream::new(cfg);
        assert_eq!(up.origin(), "https://registry.fly.io");
        assert!(!format!("{up:?}").contains("fo1_org_token"));
    }

    #[test]
    fn only_the_origin_of_the_configured_url_is_used() {
        let up = Upstream::new(config("http://127.0.0.1:5000/ignored/path"));
        assert_eq!(up.origin(), "http://127.0.0.1:5000");
        assert_eq!(
            up.url("/v2/shared/tags/list?n=1"),
            "http://127.0.0.1:5000/v2/shared/tags/list?n=1"
        );
        assert_eq!(scope("shared"), "repository:shared:pull,push");
    }

    #[tokio::test]
    async fn an_unreachable_upstream_is_a_502_not_a_hang() {
        // Port 9 (discard) on localhost: refused at once, so the probe fails and no header is made.
        let up = Upstream::new(config("http://127.0.0.1:9"));
        let err = up.authorization("shared").await.unwrap_err();
        assert_eq!(err.message, UNAVAILABLE);
        up.token_refused().await;
    }

    #[tokio::test]
    async fn a_non_http_upstream_is_a_502() {
        let up = Upstream::new(config("ftp://registry.example"));
        let err = up.authorization("shared").await.unwrap_err();
        assert_eq!(err.message, UNAVAILABLE);
    }
}
