//! The claim set of the tokens we issue, exactly as a tenant decodes it (contract §8.6).
//!
//! A tenant accepts our JWT as a subject token only if it decodes into the platform's claim set: every
//! field below is present (none is optional), `aud` is a JSON array, `scope` a space-separated
//! permission string, `user_type` lowercase and `token_type` `Bearer`.

use serde::{Deserialize, Serialize};

/// `scope` of a customer's token: the plain user permission.
pub const SCOPE_USER: &str = "user";
/// `user_type` of a customer (lowercase, as the tenant's enum spells it).
pub const USER_TYPE_USER: &str = "user";
/// `token_type`: a bearer token.
pub const TOKEN_TYPE_BEARER: &str = "Bearer";

/// The claims of a token we issue. Times are integer seconds since the epoch (the CLI reads an
/// integer `exp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedClaims {
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    /// The API's public base URL without a trailing slash.
    pub iss: String,
    /// Our own audience (`iss`) followed by every tenant the customer owns.
    pub aud: Vec<String>,
    /// Unique per token: what `token revoke --jti` names.
    pub jti: String,
    pub scope: String,
    pub username: String,
    pub email: String,
    pub user_type: String,
    pub token_type: String,
    /// When the customer logged in (kept across exchanges: an exchanged token is not a new login).
    pub auth_time: i64,
}
