//! Identity: the tokens this control plane issues and the tenants trust (contract §8.6).
//!
//! - [`keys`]: the RS256 signing keys from configuration (`TOKEN_SIGNING_KEYS`), several at once so a
//!   key can be rotated without logging anyone out, and the JWKS that publishes their public halves;
//! - [`claims`]: the exact claim set a tenant decodes;
//! - [`issuer`]: [`TokenIssuer`], which mints the customer's login JWT and the short-lived tokens of the
//!   RFC 8693 exchange.
//!
//! Verification is not here: the HTTP layer verifies every bearer (ours through the JWKS this crate
//! publishes), so it never depends on this crate.

pub mod claims;
pub mod issuer;
pub mod keys;
pub mod oauth;

pub use claims::{IssuedClaims, SCOPE_USER, TOKEN_TYPE_BEARER, USER_TYPE_USER};
pub use issuer::{
    EXCHANGE_TTL_DEFAULT, ExchangeSubject, IssueError, IssuedToken, IssuerConfig,
    LOGIN_TTL_DEFAULT, LoginSubject, TokenIssuer,
};
pub use keys::{KeyError, SigningKey, SigningKeys};
