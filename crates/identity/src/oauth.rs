//! CLI login through GitHub and Google (contract §6.1): the authorization-code flow with `state` and
//! PKCE (S256) between us and the provider, ending with the customer JWT in the CLI's `redirect_uri`.
//!
//! 1. [`LoginService::start`] checks the CLI's `redirect_uri` ([`redirect`]), records a random `state`
//!    (stored hashed, single-use, short-lived) with the PKCE verifier, the Google nonce and the
//!    `redirect_uri`, and returns the provider's authorize URL.
//! 2. [`LoginService::finish`] (our callback) consumes the state atomically, exchanges the code with
//!    the verifier, reads the verified email ([`providers`]), finds or creates the customer **by
//!    provider identity** and mints the login JWT ([`crate::TokenIssuer::mint_login`]).
//!
//! Linking: a customer is keyed by (provider, provider user id). A second provider with the same email
//! gets its own customer; nothing is merged by email, since an email at one provider does not prove
//! control of an account made through another. Linking is an operator act on `login_identities`.

pub mod providers;
pub mod redirect;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use mgmt_domain::email::is_valid_email;
use mgmt_domain::{
    CustomerStatus, LoginIdentityRepository, LoginProvider, LoginStateRepository, NewLoginIdentity,
    NewLoginState, TenantRepository,
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use url::Url;

pub use providers::{Http, Provider, ProviderConfig, ProviderFailure, ProviderUser};
pub use redirect::{BadOrigin, RedirectPolicy, RedirectRefused};

use crate::{LoginSubject, TokenIssuer};

/// How long a login may take between the authorize URL and the callback (the CLI waits 300 s).
pub const STATE_TTL_DEFAULT: Duration = Duration::from_secs(600);

/// Why no authorize URL was handed out.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("unknown login provider `{0}` (github or google)")]
    UnknownProvider(String),
    #[error("login with {0} is not configured on this server")]
    NotConfigured(LoginProvider),
    #[error(transparent)]
    RedirectRefused(#[from] RedirectRefused),
    #[error("login storage unavailable: {0}")]
    Unavailable(String),
}

/// What the provider sent to our callback.
#[derive(Debug, Clone, Default)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The callback's answer.
pub enum CallbackOutcome {
    /// 302 to this URL: the CLI's `redirect_uri` with `access_token` or `error`. A secret: it may
    /// hold the JWT.
    Redirect(SecretString),
    /// No `redirect_uri` is known (unknown/replayed state, wrong provider): a 400 with this code.
    Refused { code: &'static str, message: String },
}

impl std::fmt::Debug for CallbackOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Redirect(_) => f.write_str("Redirect(..)"),
            Self::Refused { code, message } => f
                .debug_struct("Refused")
                .field("code", code)
                .field("message", message)
                .finish(),
        }
    }
}

/// The login flow over the configured providers.
pub struct LoginService {
    providers: HashMap<LoginProvider, Provider>,
    redirects: RedirectPolicy,
    states: Arc<dyn LoginStateRepository>,
    identities: Arc<dyn LoginIdentityRepository>,
    tenants: Arc<dyn TenantRepository>,
    issuer: Arc<TokenIssuer>,
    state_ttl: Duration,
}

impl std::fmt::Debug for LoginService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginService")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .field("redirects", &self.redirects)
            .finish_non_exhaustive()
    }
}

/// Lowercase hex SHA-256: the key a state is stored under.
pub fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

fn random(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn with_params(mut url: Url, params: &[(&str, &str)]) -> SecretString {
    url.query_pairs_mut().extend_pairs(params);
    SecretString::from(url.to_string())
}

impl LoginService {
    pub fn new(
        providers: Vec<Provider>,
        redirects: RedirectPolicy,
        repos: &mgmt_domain::Repositories,
        issuer: Arc<TokenIssuer>,
        state_ttl: Duration,
    ) -> Self {
        Self {
            providers: providers.into_iter().map(|p| (p.kind(), p)).collect(),
            redirects,
            states: repos.login_states.clone(),
            identities: repos.login_identities.clone(),
            tenants: repos.tenants.clone(),
            issuer,
            state_ttl,
        }
    }

    fn provider(&self, name: &str) -> Result<(LoginProvider, &Provider), StartError> {
        let kind: LoginProvider = name
            .parse()
            .map_err(|_| StartError::UnknownProvider(name.to_owned()))?;
        let p = self
            .providers
            .get(&kind)
            .ok_or(StartError::NotConfigured(kind))?;
        Ok((kind, p))
    }

    /// Step 1: the provider's authorize URL for a login that ends at `redirect_uri`.
    pub async fn start(&self, provider: &str, redirect_uri: &str) -> Result<String, StartError> {
        let (kind, p) = self.provider(provider)?;
        let redirect = self.redirects.check(redirect_uri)?;
        let state = random(32);
        let nonce = random(16);
        let (url, verifier) = p.authorize_url(&state, &nonce);
        self.states
            .insert(NewLoginState {
                state_hash: state_hash(&state),
                provider: kind,
                redirect_uri: redirect.to_string(),
                pkce_verifier: SecretString::from(verifier.secret().clone()),
                nonce,
                expires_at: Utc::now()
                    + chrono::Duration::from_std(self.state_ttl).unwrap_or(chrono::Duration::MAX),
            })
            .await
            .map_err(|e| StartError::Unavailable(e.to_string()))?;
        Ok(url)
    }

    /// Step 2: our callback.
    pub async fn finish(&self, provider: &str, q: CallbackQuery) -> CallbackOutcome {
        let refused = |code, message: &str| CallbackOutcome::Refused {
            code,
            message: message.to_owned(),
        };
        let kind: LoginProvider = match provider.parse() {
            Ok(k) => k,
            Err(_) => return refused("provider_not_found", "unknown login provider"),
        };
        let Some(state) = q
            .state
            .as_deref()
            .filter(|s| !s.is_empty() && s.len() <= 512)
        else {
            return refused(
                "invalid_state",
                "the login has no state; start it again from the CLI",
            );
        };
        let login = match self.states.consume(&state_hash(state)).await {
            Ok(Some(l)) => l,
            Ok(None) => {
                return refused(
                    "invalid_state",
                    "unknown or already used login state; start the login again from the CLI",
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "login state storage failed");
                return refused(
                    "temporarily_unavailable",
                    "login storage unavailable; retry",
                );
            }
        };
        // A state issued for the other provider: refuse without trusting its redirect_uri for this
        // provider's answer (it is consumed all the same, so it cannot be tried again).
        if login.provider != kind {
            return refused(
                "invalid_state",
                "the login state belongs to another provider",
            );
        }
        let Ok(back) = Url::parse(&login.redirect_uri) else {
            return refused("invalid_state", "the stored redirect is unusable");
        };
        let fail = |code: &str, description: &str| {
            CallbackOutcome::Redirect(with_params(
                back.clone(),
                &[("error", code), ("error_description", description)],
            ))
        };
        if login.expires_at < Utc::now() {
            return fail("expired_state", "the login took too long; start it again");
        }
        if let Some(error) = q.error.as_deref() {
            // The provider's own error words are passed on only when they are one of OAuth's codes.
            let code = match error {
                "access_denied" => "access_denied",
                _ => "provider_error",
            };
            let description = q
                .error_description
                .as_deref()
                .map(|d| d.chars().take(300).collect::<String>())
                .unwrap_or_else(|| format!("{kind} answered {error}"));
            return fail(code, &description);
        }
        let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) else {
            return fail("invalid_request", "the provider sent no authorization code");
        };
        let Some(p) = self.providers.get(&kind) else {
            return fail(
                "provider_not_configured",
                "this provider is no longer configured",
            );
        };
        let verifier =
            oauth2::PkceCodeVerifier::new(login.pkce_verifier.expose_secret().to_owned());
        let user = match p.user(code, verifier, &login.nonce).await {
            Ok(u) => u,
            Err(f) => {
                tracing::info!(provider = %kind, error = %f, "login refused by the provider step");
                return fail(f.code, &f.description);
            }
        };
        // The CLI panics on an email outside its rule: refuse it here like an unverified one.
        if !is_valid_email(&user.email) {
            return fail(
                "invalid_email",
                "the provider's email address is not usable; set another primary address",
            );
        }
        let logged_in = match self
            .identities
            .login(NewLoginIdentity {
                provider: kind,
                provider_user_id: user.id.clone(),
                email: user.email.clone(),
                name: user.name.clone(),
            })
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "login: customer lookup failed");
                return fail("server_error", "the login could not be recorded; retry");
            }
        };
        let customer = logged_in.customer;
        if customer.status == CustomerStatus::Suspended {
            return fail(
                "account_suspended",
                "this account is suspended; contact support",
            );
        }
        let tenants = match self.tenants.list_for_customer(customer.id).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "login: tenants lookup failed");
                return fail("server_error", "the login could not be completed; retry");
            }
        };
        let token = match self.issuer.mint_login(&LoginSubject {
            subject: customer.subject.clone(),
            email: user.email.clone(),
            username: user.username.clone(),
            tenant_ids: tenants.iter().map(|t| t.id).collect(),
        }) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "login: minting the token failed");
                return fail("server_error", "the login token could not be issued");
            }
        };
        tracing::info!(provider = %kind, customer = %customer.id, created = logged_in.created, jti = %token.jti, "customer logged in");
        CallbackOutcome::Redirect(with_params(
            back,
            &[("access_token", token.token.expose_secret())],
        ))
    }
}
