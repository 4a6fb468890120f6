//! CLI login through an identity provider: the providers, the login in flight (`state`) and the
//! provider identity a customer is found by.

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::model::Customer;

/// The identity providers a customer can log in with (the `{provider}` of `/auth/oauth/{provider}`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
    strum::EnumIter,
)]
#[strum(serialize_all = "snake_case")]
pub enum LoginProvider {
    Github,
    Google,
}

impl LoginProvider {
    /// The URL and database spelling (`github`, `google`).
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

/// A login in flight, recorded when the authorize URL is handed out and consumed by the callback.
/// The state itself is never stored: only its SHA-256 (`state_hash`, lowercase hex).
pub struct NewLoginState {
    pub state_hash: String,
    pub provider: LoginProvider,
    pub redirect_uri: String,
    pub pkce_verifier: SecretString,
    pub nonce: String,
    pub expires_at: DateTime<Utc>,
}

/// A consumed login state (the row is gone once this is returned).
pub struct LoginState {
    pub provider: LoginProvider,
    pub redirect_uri: String,
    pub pkce_verifier: SecretString,
    pub nonce: String,
    pub expires_at: DateTime<Utc>,
}

// By hand: the PKCE verifier must not reach a log through `{:?}`.
impl std::fmt::Debug for NewLoginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewLoginState")
            .field("provider", &self.provider)
            .field("redirect_uri", &self.redirect_uri)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for LoginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginState")
            .field("provider", &self.provider)
            .field("redirect_uri", &self.redirect_uri)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A provider account that proved who it is, with its verified email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLoginIdentity {
    pub provider: LoginProvider,
    /// The provider's stable user id (GitHub's numeric `id`, Google's `sub`), never the email.
    pub provider_user_id: String,
    pub email: String,
    pub name: Option<String>,
}

impl NewLoginIdentity {
    /// The customer `subject` an identity creates (`github:12345`): the same namespace as the `sub` of
    /// the tokens we mint, distinct per provider so two providers never share a customer by accident.
    pub fn subject(&self) -> String {
        format!("{}:{}", self.provider.as_str(), self.provider_user_id)
    }
}

/// The customer an identity belongs to, and whether this login created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedInCustomer {
    pub customer: Customer,
    pub created: bool,
}
