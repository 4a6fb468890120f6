//! Tenant-scoped registry credentials: short-lived signed tokens valid for one tenant's tag only.
//!
//! The management API hands these out from `registry-token`; the gateway verifies them on every request.
//! A credential is an HS256 JWT signed with a key only the gateway knows (not the API's user-token key),
//! with its own audience so a token minted for any other purpose is never accepted here.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use mgmt_domain::{TenantId, naming};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Audience of every gateway credential.
pub const AUDIENCE: &str = "registry-gateway";
/// Issuer of every gateway credential.
pub const ISSUER: &str = "management-api";

/// Why a credential is refused. Messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    #[error("registry credential expired")]
    Expired,
    #[error("registry credential signature or claims are invalid")]
    Invalid,
    #[error("registry credential is malformed")]
    Malformed,
}

/// What a verified credential allows: push and pull of `repository:tag`, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    pub tenant: TenantId,
    pub repository: String,
    pub tag: String,
    pub expires_at: DateTime<Utc>,
}

/// A credential as handed to the CLI (`registry-token`).
#[derive(Clone)]
pub struct IssuedCredential {
    /// Gateway host (with port) the customer pushes to.
    pub registry: String,
    pub username: String,
    pub token: SecretString,
    pub repository: String,
    pub tag: String,
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for IssuedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCredential")
            .field("registry", &self.registry)
            .field("username", &self.username)
            .field("token", &"[REDACTED]")
            .field("repository", &self.repository)
            .field("tag", &self.tag)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    aud: String,
    iss: String,
    iat: i64,
    exp: i64,
    /// Repository the credential is for.
    repo: String,
    /// The one tag it may write.
    tag: String,
}

/// Issues and verifies tenant credentials.
#[derive(Clone)]
pub struct CredentialIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
    public_host: String,
    repository: String,
}

impl fmt::Debug for CredentialIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialIssuer")
            .field("signing_key", &"[REDACTED]")
            .field("ttl", &self.ttl)
            .field("public_host", &self.public_host)
            .field("repository", &self.repository)
            .finish()
    }
}

impl CredentialIssuer {
    /// `public_host` is the gateway's `host[:port]` customers push to; `repository` the shared repository.
    pub fn new(
        signing_key: SecretString,
        ttl: Duration,
        public_host: String,
        repository: String,
    ) -> Self {
        let key = signing_key.expose_secret().as_bytes();
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            ttl,
            public_host,
            repository,
        }
    }

    pub fn public_host(&self) -> &str {
        &self.public_host
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A fresh credential for the tenant's tag, valid for the configured time to live.
    pub fn issue(&self, tenant: TenantId) -> IssuedCredential {
        self.issue_at(tenant, Utc::now())
    }

    /// Like [`Self::issue`] with an explicit issue time (tests mint expired credentials with it).
    pub fn issue_at(&self, tenant: TenantId, now: DateTime<Utc>) -> IssuedCredential {
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::hours(1));
        let expires_at = now + ttl;
        let tag = naming::image_tag(&tenant);
        let claims = Claims {
            sub: tenant.to_string(),
            aud: AUDIENCE.to_owned(),
            iss: ISSUER.to_owned(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            repo: self.repository.clone(),
            tag: tag.clone(),
        };
        // Encoding plain claims with an HMAC key cannot fail (no key parsing, serializable struct).
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding of plain claims is infallible");
        IssuedCredential {
            registry: self.public_host.clone(),
            username: format!("tenant-{tenant}"),
            token: SecretString::from(token),
            repository: self.repository.clone(),
            tag,
            expires_at: Utc
                .timestamp_opt(expires_at.timestamp(), 0)
                .single()
                .unwrap_or(expires_at),
        }
    }

    /// Checks signature, audience, issuer and expiry (no leeway), and that the credential names this
    /// gateway's repository and the tenant's own tag.
    pub fn verify(&self, token: &str) -> Result<TenantScope, CredentialError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => CredentialError::Expired,
                ErrorKind::InvalidToken
                | ErrorKind::Base64(_)
                | ErrorKind::Json(_)
                | ErrorKind::Utf8(_) => CredentialError::Malformed,
                _ => CredentialError::Invalid,
            },
        )?;
        let claims = data.claims;
        let tenant = TenantId::parse(&claims.sub).map_err(|_| CredentialError::Invalid)?;
        if claims.repo != self.repository || claims.tag != naming::image_tag(&tenant) {
            return Err(CredentialError::Invalid);
        }
        let expires_at = Utc
            .timestamp_opt(claims.exp, 0)
            .single()
            .ok_or(CredentialError::Invalid)?;
        Ok(TenantScope {
            tenant,
            repository: claims.repo,
            tag: claims.tag,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(key: &str) -> CredentialIssuer {
        CredentialIssuer::new(
            SecretString::from(key.to_owned()),
            Duration::from_secs(3600),
            "gw.example.com".into(),
            "shared".into(),
        )
    }

    #[test]
    fn issued_credential_verifies_to_its_scope() {
        let iss = issuer("k1-0123456789abcdef0123456789abcdef");
        let t = TenantId::new_random();
        let c = iss.issue(t);
        assert_eq!(c.registry, "gw.example.com");
        assert_eq!(c.repository, "shared");
        assert_eq!(c.tag, format!("tenant-{t}"));
        let scope = iss.verify(c.token.expose_secret()).unwrap();
        assert_eq!(scope.tenant, t);
        assert_eq!(scope.tag, c.tag);
        assert_eq!(scope.repository, "shared");
        assert_eq!(scope.expires_at, c.expires_at);
    }

    #[test]
    fn expired_tampered_foreign_and_malformed_are_refused() {
        let iss = issuer("k1-0123456789abcdef0123456789abcdef");
        let t = TenantId::new_random();
        let old = iss.issue_at(t, Utc::now() - chrono::Duration::hours(2));
        assert_eq!(
            iss.verify(old.token.expose_secret()),
            Err(CredentialError::Expired)
        );

        let tok = iss.issue(t).token.expose_secret().to_owned();
        let mut parts: Vec<String> = tok.split('.').map(str::to_owned).collect();
        // Swap the payload for another tenant's: the signature no longer matches.
        let other = iss
            .issue(TenantId::new_random())
            .token
            .expose_secret()
            .to_owned();
        parts[1] = other.split('.').nth(1).unwrap().to_owned();
        assert_eq!(iss.verify(&parts.join(".")), Err(CredentialError::Invalid));

        let foreign = issuer("another-key-0123456789abcdef012345").issue(t);
        assert_eq!(
            iss.verify(foreign.token.expose_secret()),
            Err(CredentialError::Invalid)
        );

        let other_repo = CredentialIssuer::new(
            SecretString::from("k1-0123456789abcdef0123456789abcdef".to_owned()),
            Duration::from_secs(60),
            "gw.example.com".into(),
            "other".into(),
        )
        .issue(t);
        assert_eq!(
            iss.verify(other_repo.token.expose_secret()),
            Err(CredentialError::Invalid)
        );

        for junk in ["", "abc", "a.b.c", "x.y"] {
            assert!(iss.verify(junk).is_err(), "{junk} accepted");
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let key = "super-secret-signing-key-0123456789";
        let iss = issuer(key);
        let c = iss.issue(TenantId::new_random());
        let dbg = format!("{iss:?} {c:?}");
        assert!(!dbg.contains(key));
        assert!(!dbg.contains(c.token.expose_secret()));
        assert!(dbg.contains("REDACTED"));
    }
}
