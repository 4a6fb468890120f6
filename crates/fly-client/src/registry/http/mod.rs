//! The reqwest implementation of [`Registry`](super::Registry): configuration, construction, URL and
//! scope building, and the breaker/observer accessors.

mod auth;
mod delete;
mod ops;
mod transport;

pub use auth::RegistryAuth;

use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, header};
use mgmt_domain::image_ref::{ManifestReference, validate_repository};
use secrecy::SecretString;
use url::Url;

use super::MANIFEST_ACCEPT;
use crate::error::{FlyError, FlyResult};
use crate::resilience::guard::Guard;
use crate::resilience::{BreakerConfig, BreakerState, CallObserver, CircuitBreaker, RetryPolicy};
use transport::{RegReq, Transport};

/// The upstream name used for the breaker, the observer and [`FlyError::CircuitOpen`].
pub const UPSTREAM: &str = "registry";

/// Where and how to reach one registry.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// e.g. `https://registry.fly.io` or `http://127.0.0.1:5000`.
    pub base_url: String,
    /// `x` for registry.fly.io.
    pub username: String,
    pub password: SecretString,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    pub breaker: BreakerConfig,
}

impl RegistryConfig {
    /// Defaults: 30 s per request, [`RetryPolicy::default`], [`BreakerConfig::default`].
    pub fn new(
        base_url: impl Into<String>,
        username: impl Into<String>,
        password: SecretString,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            username: username.into(),
            password,
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
        }
    }
}

/// Registry v2 client over HTTP (one per registry; its breaker is its own).
#[derive(Debug)]
pub struct HttpRegistry {
    t: Transport,
    /// 0 unknown, 1 `DELETE /manifests/<tag>` works, 2 it does not (skip trying it again).
    tag_delete: AtomicU8,
}

impl HttpRegistry {
    pub fn new(config: RegistryConfig) -> FlyResult<Self> {
        let mut base = Url::parse(config.base_url.trim())
            .map_err(|e| FlyError::Config(format!("invalid registry base URL: {e}")))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(FlyError::Config("registry base URL must be http(s)".into()));
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            // Redirects are followed by hand, so credentials never travel to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| FlyError::Config(format!("cannot build HTTP client: {e}")))?;
        let guard = Guard::new(
            UPSTREAM,
            config.retry,
            Arc::new(CircuitBreaker::new(UPSTREAM, config.breaker)),
        );
        // Token fetches get the shorter of the request timeout and RegistryAuth's 10 s: a token
        // endpoint slower than that is broken, and the attempt should fail into the retry loop.
        let auth = RegistryAuth::new(base.clone(), config.username, config.password)?
            .with_token_timeout(config.request_timeout.min(RegistryAuth::TOKEN_TIMEOUT));
        let t = Transport {
            http,
            base,
            auth,
            guard,
        };
        Ok(Self {
            t,
            tag_delete: AtomicU8::new(0),
        })
    }

    pub fn set_observer(&self, observer: Arc<dyn CallObserver>) {
        self.t.guard.set_observer(observer);
    }

    pub fn with_observer(self, observer: Arc<dyn CallObserver>) -> Self {
        self.set_observer(observer);
        self
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.t.guard.breaker.state()
    }

    fn guard(&self) -> &Guard {
        &self.t.guard
    }

    /// `<base>/v2/<repo>/<kind>/<reference>` after checking both against the distribution grammar.
    fn url(&self, repo: &str, kind: &str, reference: Option<&str>) -> FlyResult<Url> {
        check_repository(repo)?;
        let mut path = format!("v2/{repo}/{kind}");
        if let Some(r) = reference {
            check_reference(r)?;
            path = format!("{path}/{r}");
        }
        self.t
            .base
            .join(&path)
            .map_err(|e| FlyError::InvalidArgument(format!("{path}: {e}")))
    }

    fn req(&self, method: Method, url: Url, repo: &str, actions: &str) -> RegReq {
        RegReq {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            scope: format!("repository:{repo}:{actions}"),
            follow: false,
        }
    }

    /// A manifest request with every manifest media type in `Accept`.
    fn manifest_req(
        &self,
        method: Method,
        repo: &str,
        reference: &str,
        actions: &str,
    ) -> FlyResult<RegReq> {
        let mut req = self.req(
            method,
            self.url(repo, "manifests", Some(reference))?,
            repo,
            actions,
        );
        let accept = HeaderValue::try_from(MANIFEST_ACCEPT.join(", "))
            .map_err(|e| FlyError::Config(format!("manifest Accept header: {e}")))?;
        req.headers.insert(header::ACCEPT, accept);
        Ok(req)
    }
}

/// A repository name by the domain's (distribution's) grammar.
fn check_repository(repo: &str) -> FlyResult<()> {
    validate_repository(repo)
        .map_err(|e| FlyError::InvalidArgument(format!("invalid repository name {repo:?}: {e}")))
}

/// A tag or a digest by the domain's grammar.
fn check_reference(reference: &str) -> FlyResult<()> {
    ManifestReference::parse(reference)
        .map(drop)
        .map_err(|e| FlyError::InvalidArgument(format!("invalid tag or digest {reference:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_repository("sp-shared/images").is_ok());
        assert!(check_repository("../etc").is_err());
        assert!(check_repository("Upper").is_err());
        assert!(check_reference("tenant-0123").is_ok());
        assert!(check_reference(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(check_reference("a/b").is_err());
        assert!(check_reference("-x").is_err());
    }
}
