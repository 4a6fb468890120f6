//! `token mint`: an HS256 token from the configured secret, carrying the configured issuer/audience.

use anyhow::{Context, bail};
use management_http::auth::{Claims, mint_hs256};

use crate::settings::RawSettings;

/// Mints a token for `sub`; refused when no `JWT_SECRET` is configured.
pub fn mint(raw: &RawSettings, sub: &str, email: &str, name: Option<String>, ttl_secs: u64) -> anyhow::Result<String> {
    let Some(secret) = &raw.jwt_secret else {
        bail!("JWT_SECRET is not configured: token mint signs with the HS256 secret only");
    };
    if sub.trim().is_empty() || !email.contains('@') {
        bail!("--sub must be non-empty and --email an email address");
    }
    let now = chrono::Utc::now().timestamp();
    let ttl = i64::try_from(ttl_secs).context("--ttl is too large")?;
    let claims = Claims {
        sub: sub.to_owned(),
        email: Some(email.to_owned()),
        name,
        exp: now.checked_add(ttl).context("--ttl is too large")?,
        iat: Some(now),
        nbf: None,
        iss: raw.jwt_issuer.clone(),
        aud: raw.jwt_audience.clone(),
    };
    mint_hs256(secret, &claims).context("signing the token")
}
