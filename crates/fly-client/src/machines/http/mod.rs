//! The reqwest implementation of [`FlyMachines`](super::FlyMachines): configuration, construction,
//! and the breaker/observer accessors the server exports as metrics.

mod apps;
mod machine_ops;
mod trait_impl;
pub(crate) mod transport;

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::error::{FlyError, FlyResult};
use crate::resilience::guard::Guard;
use crate::resilience::{BreakerConfig, BreakerState, CallObserver, CircuitBreaker, RetryPolicy};
use transport::{Api, auth_header};

/// The upstream name used for the breaker, the observer and [`FlyError::CircuitOpen`].
pub const UPSTREAM: &str = "machines";

/// Where and how to reach the Machines API.
#[derive(Debug, Clone)]
pub struct MachinesConfig {
    /// e.g. `https://api.machines.dev` (or `.../v1`; `/v1` is appended when missing).
    pub base_url: String,
    pub token: SecretString,
    /// The organization new apps are created in, and the one `create_app` adopts apps from.
    pub org_slug: String,
    /// Timeout of each single request (`wait` uses its own, longer one).
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    pub breaker: BreakerConfig,
    /// How long a `name_taken` app is polled for when not yet visible (Fly is eventually consistent).
    pub consistency_wait: Duration,
}

impl MachinesConfig {
    /// Defaults: 30 s per request, 5 s consistency wait, [`RetryPolicy::default`], [`BreakerConfig::default`].
    pub fn new(
        base_url: impl Into<String>,
        token: SecretString,
        org_slug: impl Into<String>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            token,
            org_slug: org_slug.into(),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
            consistency_wait: Duration::from_secs(5),
        }
    }
}

/// Machines API client over HTTP. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct HttpFlyMachines {
    api: Api,
    org_slug: String,
    consistency_wait: Duration,
}

impl HttpFlyMachines {
    pub fn new(config: MachinesConfig) -> FlyResult<Self> {
        let root = api_root(&config.base_url)?;
        // Fail at construction, not on the first call, when the token cannot be a header.
        auth_header(&config.token)?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| FlyError::Config(format!("cannot build HTTP client: {e}")))?;
        let breaker = Arc::new(CircuitBreaker::new(UPSTREAM, config.breaker));
        let guard = Guard::new(UPSTREAM, config.retry, breaker);
        Ok(Self {
            api: Api {
                http,
                root,
                token: config.token,
                guard,
            },
            org_slug: config.org_slug,
            consistency_wait: config.consistency_wait,
        })
    }

    /// Reports every upstream call to `observer` (replaces the previous one).
    pub fn set_observer(&self, observer: Arc<dyn CallObserver>) {
        self.api.guard.set_observer(observer);
    }

    pub fn with_observer(self, observer: Arc<dyn CallObserver>) -> Self {
        self.set_observer(observer);
        self
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.api.guard.breaker.state()
    }

    pub fn org_slug(&self) -> &str {
        &self.org_slug
    }
}

fn api_root(base: &str) -> FlyResult<Url> {
    let mut url = Url::parse(base.trim())
        .map_err(|e| FlyError::Config(format!("invalid Machines API base URL: {e}")))?;
    if url.cannot_be_a_base() || !matches!(url.scheme(), "http" | "https") {
        return Err(FlyError::Config(
            "Machines API base URL must be http(s)".into(),
        ));
    }
    let path = url.path().trim_end_matches('/').to_string();
    if path.ends_with("/v1") {
        url.set_path(&path);
    } else {
        url.set_path(&format!("{path}/v1"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_is_appended_once() {
        assert_eq!(
            api_root("https://api.machines.dev").unwrap().as_str(),
            "https://api.machines.dev/v1"
        );
        assert_eq!(
            api_root("http://127.0.0.1:9/v1/").unwrap().as_str(),
            "http://127.0.0.1:9/v1"
        );
        assert!(api_root("not a url").is_err());
    }

    #[test]
    fn token_schemes() {
        use secrecy::ExposeSecret as _;
        let h = |t: &str| {
            auth_header(&SecretString::from(t.to_string()))
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(h("fm2_abc"), "FlyV1 fm2_abc");
        assert_eq!(h("fm1r_abc"), "FlyV1 fm1r_abc");
        assert_eq!(h("FlyV1 fm2_abc"), "FlyV1 fm2_abc");
        assert_eq!(h("plain"), "Bearer plain");
        let cfg = MachinesConfig::new(
            "http://x",
            SecretString::from("s3cr3t-token".to_string()),
            "org",
        );
        assert!(!format!("{cfg:?}").contains(cfg.token.expose_secret()));
    }
}
