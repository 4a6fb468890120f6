//! `token mint`: an HS256 token from the configured secret, carrying the configured issuer/audience.

use anyhow::{Context, bail};
use mgmt_http::auth::{Claims, mint_hs256};

use crate::settings::TokenSettings;

/// Mints a token for `sub`; refused when no `JWT_SECRET` is configured.
pub fn mint(
    raw: &TokenSettings,
    sub: &str,
    email: &str,
    name: Option<String>,
    ttl_secs: u64,
) -> anyhow::Result<String> {
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use mgmt_http::auth::{JwtSettings, JwtVerifier};
    use secrecy::SecretString;

    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> TokenSettings {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        TokenSettings::load(None, Some(env)).unwrap()
    }

    #[test]
    fn minted_tokens_verify_with_the_configured_secret_and_issuer() {
        let secret = "0123456789abcdef0123456789abcdef";
        let r = raw(&[("JWT_SECRET", secret), ("JWT_ISSUER", "iss-x")]);
        let token = mint(&r, "user-7", "u7@example.com", Some("U".into()), 60).unwrap();
        let verifier = JwtVerifier::new(JwtSettings {
            hs256_secret: Some(SecretString::from(secret.to_owned())),
            issuer: Some("iss-x".into()),
            ..Default::default()
        })
        .unwrap();
        let claims = verifier.verify(&token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.email.as_deref()),
            ("user-7", Some("u7@example.com"))
        );
    }

    #[test]
    fn minting_is_refused_without_a_secret() {
        let err = mint(&raw(&[]), "u", "u@example.com", None, 60)
            .unwrap_err()
            .to_string();
        assert!(err.contains("JWT_SECRET"), "{err}");
    }
}
