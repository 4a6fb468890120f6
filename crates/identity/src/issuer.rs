//! [`TokenIssuer`]: mints the customer's login JWT and the short-lived tokens of the RFC 8693
//! exchange, RS256 with the current key's `kid`, claims exactly per contract §8.6.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::{Algorithm, Header, encode};
use mgmt_domain::TenantId;
use mgmt_domain::email::is_valid_email;
use secrecy::SecretString;

use crate::claims::{IssuedClaims, SCOPE_USER, TOKEN_TYPE_BEARER, USER_TYPE_USER};
use crate::keys::SigningKeys;

/// How the issuer is configured.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// `iss`: the API's public base URL (`PUBLIC_API_URL`); a trailing slash is dropped.
    pub issuer: String,
    /// Lifetime of a login token (`LOGIN_TOKEN_TTL_SECS`; the CLI has no refresh, so a session long).
    pub login_ttl: Duration,
    /// Lifetime of an exchanged token (`EXCHANGE_TOKEN_TTL_SECS`).
    pub exchange_ttl: Duration,
}

/// Default login token lifetime: 30 days.
pub const LOGIN_TTL_DEFAULT: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default exchanged token lifetime: 5 minutes (what the CLI assumes when `expires_in` is absent).
pub const EXCHANGE_TTL_DEFAULT: Duration = Duration::from_secs(300);

/// Who logs in: the customer's subject, contact and the tenants it owns (each becomes an audience).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSubject {
    /// `sub`: the customer's user id (stable across logins).
    pub subject: String,
    /// Must satisfy [`is_valid_email`] (the CLI panics otherwise).
    pub email: String,
    /// `username`: the provider login or display name.
    pub username: String,
    /// The ids of the tenants the customer owns.
    pub tenant_ids: Vec<TenantId>,
}

/// The caller of a token exchange: the subject token's identity, kept as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeSubject {
    pub subject: String,
    pub email: String,
    pub username: String,
    pub tenant_ids: Vec<TenantId>,
    /// The login time of the subject token (`auth_time`, else its `iat`): an exchange is not a login.
    pub auth_time: DateTime<Utc>,
}

/// A freshly minted token. `Debug` does not show the token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: SecretString,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    #[error("the subject is empty")]
    EmptySubject,
    #[error("the email address is not one the CLI accepts")]
    InvalidEmail,
    #[error("the token lifetime is out of range")]
    Lifetime,
    #[error("signing the token failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// Mints our tokens with the first configured key.
#[derive(Debug)]
pub struct TokenIssuer {
    keys: SigningKeys,
    config: IssuerConfig,
}

impl TokenIssuer {
    pub fn new(keys: SigningKeys, mut config: IssuerConfig) -> Self {
        config.issuer = config.issuer.trim_end_matches('/').to_owned();
        Self { keys, config }
    }

    /// `iss` of every token minted here.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    pub fn keys(&self) -> &SigningKeys {
        &self.keys
    }

    /// The exchanged tokens' lifetime, for `expires_in`.
    pub fn exchange_ttl(&self) -> Duration {
        self.config.exchange_ttl
    }

    /// The customer's login JWT (what the CLI stores; the session's lifetime).
    pub fn mint_login(&self, subject: &LoginSubject) -> Result<IssuedToken, IssueError> {
        let now = Utc::now();
        self.mint(
            &subject.subject,
            &subject.email,
            &subject.username,
            &subject.tenant_ids,
            now,
            now,
            self.config.login_ttl,
        )
    }

    /// A short-lived token for the caller of an RFC 8693 exchange: same `sub`, its own `jti`, the
    /// tenants it owns now as audiences.
    pub fn mint_exchanged(&self, subject: &ExchangeSubject) -> Result<IssuedToken, IssueError> {
        self.mint(
            &subject.subject,
            &subject.email,
            &subject.username,
            &subject.tenant_ids,
            Utc::now(),
            subject.auth_time,
            self.config.exchange_ttl,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn mint(
        &self,
        sub: &str,
        email: &str,
        username: &str,
        tenants: &[TenantId],
        now: DateTime<Utc>,
        auth_time: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<IssuedToken, IssueError> {
        if sub.trim().is_empty() {
            return Err(IssueError::EmptySubject);
        }
        if !is_valid_email(email) {
            return Err(IssueError::InvalidEmail);
        }
        let ttl = i64::try_from(ttl.as_secs()).map_err(|_| IssueError::Lifetime)?;
        let iat = now.timestamp();
        let exp = iat.checked_add(ttl).ok_or(IssueError::Lifetime)?;
        let expires_at = Utc
            .timestamp_opt(exp, 0)
            .single()
            .ok_or(IssueError::Lifetime)?;
        let mut aud = vec![self.config.issuer.clone()];
        aud.extend(tenants.iter().map(ToString::to_string));
        let jti = uuid::Uuid::new_v4().to_string();
        let username = if username.trim().is_empty() {
            // The tenant decodes `username` as a required string; the address is the best fallback.
            email
        } else {
            username
        };
        let claims = IssuedClaims {
            sub: sub.to_owned(),
            iat,
            exp,
            iss: self.config.issuer.clone(),
            aud,
            jti: jti.clone(),
            scope: SCOPE_USER.to_owned(),
            username: username.to_owned(),
            email: email.to_owned(),
            user_type: USER_TYPE_USER.to_owned(),
            token_type: TOKEN_TYPE_BEARER.to_owned(),
            auth_time: auth_time.timestamp(),
        };
        let key = self.keys.current();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid().to_owned());
        let token = encode(&header, &claims, key.encoding()).map_err(IssueError::Signing)?;
        Ok(IssuedToken {
            token: SecretString::from(token),
            jti,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
    use secrecy::ExposeSecret;

    use super::*;
    use crate::keys::SigningKey;
    use crate::keys::tests::testdata;

    const ISS: &str = "https://api.example.test";
    const T1: &str = "6f1c2b7e-8a3d-4c5e-9f10-112233445566";
    const T2: &str = "0a0b0c0d-0e0f-4a1b-8c2d-3e4f5a6b7c8d";

    fn keys(names: &[(&str, &str)]) -> SigningKeys {
        SigningKeys::new(
            names
                .iter()
                .map(|(kid, file)| SigningKey::from_pem(kid, &testdata(file)).unwrap())
                .collect(),
        )
        .unwrap()
    }

    fn issuer(names: &[(&str, &str)]) -> TokenIssuer {
        TokenIssuer::new(
            keys(names),
            IssuerConfig {
                issuer: format!("{ISS}/"),
                login_ttl: LOGIN_TTL_DEFAULT,
                exchange_ttl: EXCHANGE_TTL_DEFAULT,
            },
        )
    }

    fn subject() -> LoginSubject {
        LoginSubject {
            subject: "user-42".into(),
            email: "jane@example.com".into(),
            username: "jane".into(),
            tenant_ids: vec![TenantId::parse(T1).unwrap(), TenantId::parse(T2).unwrap()],
        }
    }

    /// Verifies like a tenant: the key picked by `kid` from the published JWKS.
    fn verify_with_jwks(
        jwks: &str,
        token: &str,
    ) -> Result<IssuedClaims, jsonwebtoken::errors::Error> {
        let set: JwkSet = serde_json::from_str(jwks).unwrap();
        let kid = decode_header(token)?.kid.expect("kid");
        let Some(jwk) = set.find(&kid) else {
            return Err(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into());
        };
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&[ISS]);
        v.set_audience(&[T1]);
        decode::<IssuedClaims>(token, &DecodingKey::from_jwk(jwk)?, &v).map(|d| d.claims)
    }

    #[test]
    fn login_tokens_carry_exactly_the_contract_claims() {
        let issuer = issuer(&[("k1", "key-a.pem")]);
        let issued = issuer.mint_login(&subject()).unwrap();
        let token = issued.token.expose_secret();
        let header = decode_header(token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some("k1"));

        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert!(!parts[1].contains('='), "unpadded base64url");
        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let mut names: Vec<&str> = payload
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "aud",
                "auth_time",
                "email",
                "exp",
                "iat",
                "iss",
                "jti",
                "scope",
                "sub",
                "token_type",
                "user_type",
                "username"
            ]
        );
        assert!(payload["exp"].is_i64() && payload["iat"].is_i64());
        assert_eq!(payload["aud"], serde_json::json!([ISS, T1, T2]));

        let claims = verify_with_jwks(&issuer.keys().jwks_json(), token).unwrap();
        assert_eq!(claims.iss, ISS, "no trailing slash");
        assert_eq!(claims.sub, "user-42");
        assert_eq!(claims.jti, issued.jti);
        assert_eq!(
            (
                claims.scope.as_str(),
                claims.user_type.as_str(),
                claims.token_type.as_str()
            ),
            ("user", "user", "Bearer")
        );
        assert_eq!(claims.exp - claims.iat, 30 * 24 * 3600);
        assert_eq!(claims.exp, issued.expires_at.timestamp());
        assert_eq!(claims.auth_time, claims.iat);
    }

    #[test]
    fn each_token_has_its_own_jti_and_the_debug_output_hides_it() {
        let issuer = issuer(&[("k1", "key-a.pem")]);
        let a = issuer.mint_login(&subject()).unwrap();
        let b = issuer.mint_login(&subject()).unwrap();
        assert_ne!(a.jti, b.jti);
        let shown = format!("{a:?}");
        assert!(!shown.contains(a.token.expose_secret()), "{shown}");
    }

    #[test]
    fn exchanged_tokens_are_short_lived_and_keep_the_login_time() {
        let issuer = issuer(&[("k1", "key-a.pem")]);
        let login_time = Utc::now() - chrono::Duration::hours(3);
        let issued = issuer
            .mint_exchanged(&ExchangeSubject {
                subject: "user-42".into(),
                email: "jane@example.com".into(),
                username: "jane".into(),
                tenant_ids: vec![TenantId::parse(T1).unwrap()],
                auth_time: login_time,
            })
            .unwrap();
        let claims =
            verify_with_jwks(&issuer.keys().jwks_json(), issued.token.expose_secret()).unwrap();
        assert_eq!(claims.exp - claims.iat, 300);
        assert_eq!(claims.auth_time, login_time.timestamp());
    }

    #[test]
    fn invalid_subjects_are_refused() {
        let issuer = issuer(&[("k1", "key-a.pem")]);
        let mut bad = subject();
        bad.email = "jane@localhost".into();
        assert!(matches!(
            issuer.mint_login(&bad),
            Err(IssueError::InvalidEmail)
        ));
        let mut bad = subject();
        bad.subject = " ".into();
        assert!(matches!(
            issuer.mint_login(&bad),
            Err(IssueError::EmptySubject)
        ));
    }

    #[test]
    fn rotation_keeps_old_tokens_while_their_key_is_listed() {
        let old = issuer(&[("old", "key-a.pem")]);
        let token = old.mint_login(&subject()).unwrap();
        let token = token.token.expose_secret();

        // The new key signs; the old one is still published: the old token still verifies.
        let rotated = issuer(&[("new", "key-b.pem"), ("old", "key-a.pem")]);
        let jwks = rotated.keys().jwks_json();
        assert!(verify_with_jwks(&jwks, token).is_ok());
        let fresh = rotated.mint_login(&subject()).unwrap();
        assert_eq!(
            decode_header(fresh.token.expose_secret())
                .unwrap()
                .kid
                .as_deref(),
            Some("new")
        );
        assert!(verify_with_jwks(&jwks, fresh.token.expose_secret()).is_ok());

        // The old key removed: its tokens no longer verify, the new key's still do.
        let after = issuer(&[("new", "key-b.pem")]);
        let jwks = after.keys().jwks_json();
        assert!(verify_with_jwks(&jwks, token).is_err());
        assert!(verify_with_jwks(&jwks, fresh.token.expose_secret()).is_ok());
    }

    #[test]
    fn a_key_reused_under_another_kid_does_not_verify_another_keys_token() {
        // Token signed by key A but claiming kid "b" (which publishes key B): the signature fails.
        let a = issuer(&[("b", "key-a.pem")]);
        let b = issuer(&[("b", "key-b.pem")]);
        let token = a.mint_login(&subject()).unwrap();
        assert!(verify_with_jwks(&b.keys().jwks_json(), token.token.expose_secret()).is_err());
    }
}
