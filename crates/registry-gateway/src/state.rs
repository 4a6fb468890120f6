//! The gateway's shared state and how a server mounts it.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use tenant_domain::{RegistryPushRepository, TenantRepository};

use crate::auth::{TOKEN_PATH, TenantGate};
use crate::credentials::CredentialIssuer;
use crate::handlers;
use crate::upstream::{Upstream, UpstreamConfig};

/// How long a tenant's "may push" answer is reused before asking the database again.
pub const DEFAULT_TENANT_CACHE_TTL: Duration = Duration::from_secs(5);
/// Largest manifest accepted (distribution's own limit).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// Everything a gateway request needs; cheap to clone.
#[derive(Clone)]
pub struct GatewayState {
    pub(crate) issuer: Arc<CredentialIssuer>,
    pub(crate) upstream: Arc<Upstream>,
    pub(crate) gate: TenantGate,
    pub(crate) pushes: Arc<dyn RegistryPushRepository>,
    /// Scheme clients use to reach the gateway; `None`: the scheme of each request (behind a TLS
    /// terminating proxy, configure `https`).
    pub(crate) public_scheme: Option<String>,
}

impl std::fmt::Debug for GatewayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayState")
            .field("issuer", &self.issuer)
            .field("upstream", &self.upstream)
            .field("gate", &self.gate)
            .field("public_scheme", &self.public_scheme)
            .finish_non_exhaustive()
    }
}

impl GatewayState {
    pub fn new(
        issuer: Arc<CredentialIssuer>,
        upstream: UpstreamConfig,
        tenants: Arc<dyn TenantRepository>,
        pushes: Arc<dyn RegistryPushRepository>,
    ) -> Self {
        Self {
            issuer,
            upstream: Arc::new(Upstream::new(upstream)),
            gate: TenantGate::new(tenants, DEFAULT_TENANT_CACHE_TTL),
            pushes,
            public_scheme: None,
        }
    }

    /// How long a tenant's state is cached (zero: ask on every request).
    pub fn with_tenant_cache_ttl(mut self, ttl: Duration) -> Self {
        self.gate = self.gate.with_ttl(ttl);
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
