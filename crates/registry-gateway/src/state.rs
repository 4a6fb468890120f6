//! The gateway's shared state and how a server mounts it.

use std::sync::Arc;

use actix_web::web;
use mgmt_domain::RegistryPushRepository;
use tokio::sync::Semaphore;

use crate::auth::TOKEN_PATH;
use crate::credentials::CredentialIssuer;
use crate::handlers;
use crate::limits::GatewayLimits;
use crate::rate::TenantRateLimiter;
use crate::upstream::{Upstream, UpstreamConfig};

/// Everything a gateway request needs; cheap to clone.
#[derive(Clone)]
pub struct GatewayState {
    pub(crate) issuer: Arc<CredentialIssuer>,
    pub(crate) upstream: Arc<Upstream>,
    /// Push records, upload sessions and the per-request "may this tenant still push" check. Asked on
    /// every request, never cached: a suspension or deletion takes effect at once on every replica.
    pub(crate) pushes: Arc<dyn RegistryPushRepository>,
    pub(crate) limits: GatewayLimits,
    pub(crate) rate: Arc<TenantRateLimiter>,
    /// Bytes of manifest bodies this process may buffer at once (one permit per byte).
    pub(crate) manifest_buffer: Arc<Semaphore>,
    /// Scheme clients use to reach the gateway; `None`: the scheme of each request (behind a TLS
    /// terminating proxy, configure `https`).
    pub(crate) public_scheme: Option<String>,
}

impl std::fmt::Debug for GatewayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayState")
            .field("issuer", &self.issuer)
            .field("upstream", &self.upstream)
            .field("limits", &self.limits)
            .field("public_scheme", &self.public_scheme)
            .finish_non_exhaustive()
    }
}

impl GatewayState {
    /// A gateway with the default [`GatewayLimits`].
    pub fn new(
        issuer: Arc<CredentialIssuer>,
        upstream: UpstreamConfig,
        pushes: Arc<dyn RegistryPushRepository>,
    ) -> Self {
        let limits = GatewayLimits::default();
        Self {
            issuer,
            upstream: Arc::new(Upstream::new(upstream)),
            pushes,
            rate: Arc::new(TenantRateLimiter::new(&limits)),
            manifest_buffer: Arc::new(Semaphore::new(limits.max_buffered_manifest_bytes)),
            limits,
            public_scheme: None,
        }
    }

    /// Replaces the quotas and fairness limits.
    pub fn with_limits(mut self, limits: GatewayLimits) -> Self {
        self.rate = Arc::new(TenantRateLimiter::new(&limits));
        self.manifest_buffer = Arc::new(Semaphore::new(limits.max_buffered_manifest_bytes));
        self.limits = limits;
        self
    }

    /// The scheme in challenges and rewritten `Location`s (`https` behind a TLS-terminating proxy).
    pub fn with_public_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.public_scheme = Some(scheme.into());
        self
    }

    pub fn issuer(&self) -> &CredentialIssuer {
        &self.issuer
    }

    pub fn limits(&self) -> &GatewayLimits {
        &self.limits
    }
}

/// Mounts the Registry v2 API (`/v2/...`) and the token endpoint (`/v2/token`) on an actix app or scope.
/// Do not wrap it in a compression middleware: blobs are already compressed and digests are of the bytes.
pub fn configure(state: GatewayState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state))
            .route(TOKEN_PATH, web::get().to(handlers::token))
            .route("/v2", web::route().to(handlers::dispatch))
            .route("/v2/{tail:.*}", web::route().to(handlers::dispatch));
    }
}
