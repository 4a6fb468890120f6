//! Authentication: bearer JWT verification, the calling customer, and HS256 minting for local use.

mod cache;
mod caller;
mod revocation;
mod verifier;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{EncodingKey, Header, encode};
use secrecy::{ExposeSecret, SecretString};

pub use cache::CustomerCache;
pub use caller::{Caller, CustomerPolicy, authenticate};
pub use revocation::RevocationCache;
pub use verifier::{Audience, Claims, JwtSettings, JwtVerifier, KeyError, OwnTokens};

/// Why a request is not authenticated (401), or its user has no customer (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed bearer token")]
    Malformed,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token issuer or audience is not accepted")]
    WrongIssuerOrAudience,
    #[error("token algorithm is not accepted")]
    UnsupportedAlgorithm,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("token has been revoked")]
    Revoked,
    #[error("no customer exists for this user")]
    UnknownCustomer,
    #[error("storage error")]
    Storage(mgmt_domain::RepoError),
}

impl AuthError {
    /// Stable code for the error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "missing_token",
            Self::Expired => "token_expired",
            Self::Revoked => "token_revoked",
            Self::UnknownCustomer => "customer_not_found",
            Self::Storage(_) => "storage_error",
            _ => "invalid_token",
        }
    }

    fn from_jwt(e: jsonwebtoken::errors::Error) -> Self {
        match e.kind() {
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotYetValid,
            ErrorKind::InvalidSignature => Self::BadSignature,
            ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => Self::WrongIssuerOrAudience,
            ErrorKind::MissingRequiredClaim(c) => Self::Invalid(format!("missing claim {c}")),
            ErrorKind::InvalidAlgorithm => Self::UnsupportedAlgorithm,
            _ => Self::Malformed,
        }
    }
}

/// Signs `claims` with HS256 (for `management-api token mint` and tests).
pub fn mint_hs256(
    secret: &SecretString,
    claims: &Claims,
) -> Result<String, jsonwebtoken::errors::Error> {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretString {
        SecretString::from("0123456789abcdef0123456789abcdef".to_owned())
    }

    fn claims(exp_offset: i64) -> Claims {
        Claims {
            sub: "user-1".into(),
            email: Some("a@example.com".into()),
            name: None,
            exp: chrono::Utc::now().timestamp() + exp_offset,
            iat: None,
            nbf: None,
            iss: Some("issuer-a".into()),
            aud: None,
            jti: None,
            username: None,
            auth_time: None,
        }
    }

    fn verifier(issuer: Option<&str>) -> JwtVerifier {
        JwtVerifier::new(JwtSettings {
            hs256_secret: Some(secret()),
            issuer: issuer.map(Into::into),
            leeway_secs: 5,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn accepts_a_good_token_and_refuses_bad_ones() {
        let good = mint_hs256(&secret(), &claims(600)).unwrap();
        assert_eq!(
            verifier(Some("issuer-a")).verify(&good).unwrap().sub,
            "user-1"
        );
        assert_eq!(
            verifier(Some("issuer-b")).verify(&good).unwrap_err(),
            AuthError::WrongIssuerOrAudience
        );
        let expired = mint_hs256(&secret(), &claims(-600)).unwrap();
        assert_eq!(
            verifier(None).verify(&expired).unwrap_err(),
            AuthError::Expired
        );
        let other = SecretString::from("ffffffffffffffffffffffffffffffff".to_owned());
        let forged = mint_hs256(&other, &claims(600)).unwrap();
        assert_eq!(
            verifier(None).verify(&forged).unwrap_err(),
            AuthError::BadSignature
        );
        assert_eq!(
            verifier(None).verify("not.a.jwt").unwrap_err(),
            AuthError::Malformed
        );
    }

    #[test]
    fn weak_or_missing_keys_are_refused() {
        assert!(matches!(
            JwtVerifier::new(JwtSettings::default()),
            Err(KeyError::NoKeys)
        ));
        let weak = JwtSettings {
            hs256_secret: Some(SecretString::from("short".to_owned())),
            ..Default::default()
        };
        assert!(matches!(JwtVerifier::new(weak), Err(KeyError::WeakSecret)));
        let bad_pem = JwtSettings {
            public_keys_pem: vec![
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
            ],
            ..Default::default()
        };
        assert!(matches!(JwtVerifier::new(bad_pem), Err(KeyError::Pem(_))));
    }
}
