//! `token mint` and `token revoke`. Minting signs RS256 like a login (our `iss`, `aud`, `jti`) when
//! `TOKEN_SIGNING_KEYS` and `PUBLIC_API_URL` are configured, else HS256 with `JWT_SECRET` and the
//! configured issuer/audience. Revoking records a token id or a subject in the database.

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
    if sub.trim().is_empty() || !mgmt_domain::email::is_valid_email(email) {
        bail!(
            "--sub must be non-empty and --email an address the CLI accepts (one @, a dotted domain, a TLD of 2+ characters)"
        );
    }
    if let Some(spec) = raw
        .token_signing_keys
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        let Some(iss) = raw
            .public_api_url
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        else {
            bail!("PUBLIC_API_URL is required when TOKEN_SIGNING_KEYS is set");
        };
        let keys = mgmt_identity::SigningKeys::from_setting(spec, None)
            .map_err(|e| anyhow::anyhow!(mgmt_domain::ErrorChain(&e).to_string()))?;
        let issuer = mgmt_identity::TokenIssuer::new(
            keys,
            mgmt_identity::IssuerConfig {
                issuer: iss.to_owned(),
                login_ttl: std::time::Duration::from_secs(ttl_secs),
                exchange_ttl: mgmt_identity::issuer::EXCHANGE_TTL_DEFAULT,
            },
        );
        let issued = issuer
            .mint_login(&mgmt_identity::LoginSubject {
                subject: sub.to_owned(),
                email: email.to_owned(),
                username: name.unwrap_or_default(),
                tenant_ids: Vec::new(),
            })
            .context("minting the token")?;
        return Ok(secrecy::ExposeSecret::expose_secret(&issued.token).to_owned());
    }
    let Some(secret) = &raw.jwt_secret else {
        bail!("neither TOKEN_SIGNING_KEYS nor JWT_SECRET is configured: nothing to sign with");
    };
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
        aud: raw.jwt_audience.as_deref().map(Into::into),
        jti: None,
        username: None,
        auth_time: None,
    };
    mint_hs256(secret, &claims).context("signing the token")
}

/// What `token revoke` revokes.
#[derive(Debug)]
pub enum Revoke {
    Token {
        jti: String,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    Subject(String),
}

/// Records the revocation (every server refuses the token(s) within its revocation cache lifetime).
pub async fn revoke(raw: &TokenSettings, what: Revoke) -> anyhow::Result<()> {
    let Some(url) = &raw.database_url else {
        bail!("DATABASE_URL is required to revoke tokens");
    };
    let pool = mgmt_persistence::build_pool(&mgmt_persistence::PoolConfig::new(url.clone()))
        .context("DATABASE_URL: cannot build the connection pool")?;
    let repos = mgmt_persistence::PgRepositories::new(pool);
    match what {
        Revoke::Token { jti, expires_at } => {
            if jti.trim().is_empty() {
                bail!("--jti must be non-empty");
            }
            repos.revocations.revoke_token(&jti, expires_at).await
        }
        Revoke::Subject(sub) => {
            if sub.trim().is_empty() {
                bail!("--sub must be non-empty");
            }
            repos
                .revocations
                .revoke_subject(&sub, chrono::Utc::now())
                .await
        }
    }
    .context("recording the revocation")
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
