//! Who is calling: the tenant credential from `Authorization` (Basic password or Bearer token), the
//! 401 challenge that tells clients where to get a token, and the check that the tenant still exists.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tenant_domain::{TenantId, TenantRepository, TenantState};

use crate::credentials::{CredentialError, CredentialIssuer, TenantScope};
use crate::error::RegistryError;

/// Path of the token endpoint of the Bearer flow (under `/v2` so the gateway owns one path prefix).
pub const TOKEN_PATH: &str = "/v2/token";

/// The credential a request carries, if any. Basic: the password is the credential, whatever the
/// username (`docker login` users type anything). Bearer: the credential itself, as the token endpoint
/// hands it back.
pub fn presented_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(rest).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (_, password) = decoded.split_once(':')?;
        return Some(password.to_owned());
    }
    None
}

/// `WWW-Authenticate` of a 401: the Bearer flow at this gateway's token endpoint.
pub fn challenge(scheme: &str, host: &str, scope: Option<&str>) -> String {
    let mut value = format!(r#"Bearer realm="{scheme}://{host}{TOKEN_PATH}",service="{host}""#);
    if let Some(scope) = scope {
        value.push_str(&format!(r#",scope="{scope}""#));
    }
    value
}

/// Verifies the request's credential; a 401 carrying `challenge` when absent or invalid.
pub fn authenticate(
    req: &HttpRequest,
    issuer: &CredentialIssuer,
    challenge: String,
) -> Result<TenantScope, RegistryError> {
    let Some(token) = presented_token(req) else {
        return Err(RegistryError::unauthorized(
            "authentication required",
            challenge,
        ));
    };
    issuer.verify(&token).map_err(|e| {
        let message = match e {
            CredentialError::Expired => "registry credential expired: request a new one",
            _ => "registry credential is invalid",
        };
        RegistryError::unauthorized(message, challenge)
    })
}

/// Whether a tenant may still use its credential, cached briefly so a push of many layers does not ask
/// the database on every request. Deleting or deleted (or unknown) tenants are refused: a push racing the
/// cleanup of the tenant's tag would leave an image nobody owns.
#[derive(Clone)]
pub struct TenantGate {
    tenants: Arc<dyn TenantRepository>,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<TenantId, (Instant, bool)>>>,
}

impl std::fmt::Debug for TenantGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantGate")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TenantGate {
    pub fn new(tenants: Arc<dyn TenantRepository>, ttl: Duration) -> Self {
        Self {
            tenants,
            ttl,
            cache: Arc::default(),
        }
    }

    pub fn with_ttl(self, ttl: Duration) -> Self {
        Self {
            ttl,
            cache: Arc::default(),
            ..self
        }
    }

    /// `Ok(true)` when the tenant may act, `Ok(false)` when it is gone.
    pub async fn allows(&self, tenant: TenantId) -> Result<bool, RegistryError> {
        if let Some(allowed) = self.cached(tenant) {
            return Ok(allowed);
        }
        let allowed = match self.tenants.get(tenant).await {
            Ok(t) => !matches!(t.state, TenantState::Deleting | TenantState::Deleted),
            Err(e) if e.is_not_found() => false,
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "registry gateway could not read the tenant");
                return Err(RegistryError::unavailable(
                    "tenant state unavailable; retry later",
                ));
            }
        };
        if !self.ttl.is_zero() {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            // Bounded: entries are tiny, but a long-lived process should not keep every tenant forever.
            if cache.len() > 10_000 {
                let ttl = self.ttl;
                cache.retain(|_, (at, _)| at.elapsed() < ttl);
            }
            cache.insert(tenant, (Instant::now(), allowed));
        }
        Ok(allowed)
    }

    fn cached(&self, tenant: TenantId) -> Option<bool> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&tenant)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, allowed)| *allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn basic_password_and_bearer_are_both_the_credential() {
        let basic = format!("Basic {}", STANDARD.encode("anyone:tok.en.value"));
        let req = TestRequest::default()
            .insert_header((AUTHORIZATION, basic))
            .to_http_request();
        assert_eq!(presented_token(&req).as_deref(), Some("tok.en.value"));
        let req = TestRequest::default()
            .insert_header((AUTHORIZATION, "Bearer abc.def"))
            .to_http_request();
        assert_eq!(presented_token(&req).as_deref(), Some("abc.def"));
        for junk in ["Basic !!!", "Digest x", "Bearer", "Basic bm9jb2xvbg=="] {
            let req = TestRequest::default()
                .insert_header((AUTHORIZATION, junk))
                .to_http_request();
            assert_eq!(presented_token(&req), None, "{junk}");
        }
        assert_eq!(
            presented_token(&TestRequest::default().to_http_request()),
            None
        );
    }
}
