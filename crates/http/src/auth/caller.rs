//! The `Caller` extractor: a verified bearer token mapped to its customer record.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use mgmt_domain::email::is_valid_email;
use mgmt_domain::{Customer, CustomerStatus, NewCustomer};

use super::{AuthError, Claims};
use crate::error::ApiError;
use crate::state::AppState;

/// What to do when a verified user has no customer record yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CustomerPolicy {
    /// Create the customer on first use (needs an `email` claim).
    #[default]
    CreateOnFirstUse,
    /// Only customers created elsewhere may call (others get 403 `customer_not_found`).
    RequireExisting,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: Claims,
    pub customer: Customer,
}

impl Caller {
    /// Mutations need an active customer.
    pub fn require_active(&self) -> Result<&Customer, ApiError> {
        match self.customer.status {
            CustomerStatus::Active => Ok(&self.customer),
            _ => Err(ApiError::forbidden(
                "customer_suspended",
                "this account is suspended",
            )),
        }
    }
}

fn bearer(req: &HttpRequest) -> Result<String, AuthError> {
    let value = req.headers().get(AUTHORIZATION).ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(token.trim().to_owned())
}

async fn resolve(state: &AppState, claims: Claims) -> Result<Caller, AuthError> {
    if let Some(customer) = state.customer_cache.get(&claims.sub) {
        return Ok(Caller { claims, customer });
    }
    let customers = &state.repos.customers;
    if let Some(customer) = customers
        .find_by_subject(&claims.sub)
        .await
        .map_err(AuthError::Storage)?
    {
        state.customer_cache.put(&customer);
        return Ok(Caller { claims, customer });
    }
    if state.customer_policy == CustomerPolicy::RequireExisting {
        return Err(AuthError::UnknownCustomer);
    }
    // The CLI panics on an address outside its rule (contract §3.1), so none is ever stored.
    let email = claims
        .email
        .clone()
        .filter(|e| is_valid_email(e))
        .ok_or_else(|| {
            AuthError::Invalid(
                "a valid email claim (one @, a dotted domain, a TLD of 2+ characters) is needed to create the customer"
                    .into(),
            )
        })?;
    let new = NewCustomer {
        subject: claims.sub.clone(),
        email,
        name: claims.name.clone().or_else(|| claims.username.clone()),
    };
    let customer = customers
        .find_or_create(new)
        .await
        .map_err(AuthError::Storage)?;
    state.customer_cache.put(&customer);
    tracing::info!(customer_id = %customer.id, "customer created on first use");
    Ok(Caller { claims, customer })
}

/// Refuses a token whose id or subject has been revoked (looked up at most once per cache lifetime).
async fn check_revocation(state: &AppState, claims: &Claims) -> Result<(), AuthError> {
    let jti = claims.jti.as_deref();
    let revocation = match state.revocation_cache.get(&claims.sub, jti) {
        Some(r) => r,
        None => {
            let r = state
                .repos
                .revocations
                .check(&claims.sub, jti)
                .await
                .map_err(AuthError::Storage)?;
            state.revocation_cache.put(&claims.sub, jti, r);
            r
        }
    };
    if revocation.revokes(claims.iat) {
        return Err(AuthError::Revoked);
    }
    Ok(())
}

/// A bearer token verified (signature, expiry, issuer, audience), checked against the revocations and
/// mapped to its customer: what every authenticated request and the token exchange's subject go through.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Caller, AuthError> {
    let claims = state.verifier.verify(token)?;
    check_revocation(state, &claims).await?;
    resolve(state, claims).await
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::internal("AppState missing from app data"))?;
            let token = token?;
            // Per-customer request rate (429 with Retry-After). A token verified before is checked
            // before it is verified again, so refusing a flood costs a hash and a map lookup; any
            // other is counted once its customer is known.
            let now = chrono::Utc::now().timestamp();
            let prechecked = state.limits.precheck(&token, now)?;
            let caller = match authenticate(&state, &token).await {
                Ok(caller) => caller,
                Err(e) => {
                    // Revoked (or its customer gone): it no longer counts against anyone's rate.
                    if prechecked.is_some() {
                        state.limits.forget_token(&token);
                    }
                    return Err(e.into());
                }
            };
            if prechecked != Some(caller.customer.id) {
                state.limits.check_request(caller.customer.id)?;
                state
                    .limits
                    .remember_token(&token, caller.customer.id, caller.claims.exp);
            }
            Ok(caller)
        })
    }
}
