//! Bearer JWT verification: HS256 secret and/or RS256/ES256 public keys (PEM or a JWKS document).
//!
//! The key is chosen by the token's `alg` (and `kid` when the JWKS has several), never by trying every
//! key with every algorithm, so an RSA public key can never be used as an HMAC secret.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::AuthError;

/// What the verifier accepts; built from configuration.
#[derive(Debug, Clone, Default)]
pub struct JwtSettings {
    pub hs256_secret: Option<SecretString>,
    /// PEM public keys (RSA or EC P-256), one or more concatenated.
    pub public_keys_pem: Vec<String>,
    /// A JWKS document (JSON), e.g. read from a file.
    pub jwks_json: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

/// The claims the API reads. `sub` is the user; `email`/`name` describe a customer created on first use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

struct KeyEntry {
    alg: Algorithm,
    kid: Option<String>,
    key: DecodingKey,
}

/// Verifies bearer tokens.
pub struct JwtVerifier {
    keys: Vec<KeyEntry>,
    /// One validation per algorithm in use, built once: building one allocates sets of claim names,
    /// which every request would otherwise pay for.
    validations: Vec<(Algorithm, Validation)>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// Why the verifier could not be built from its settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error(
        "no JWT verification key configured (set JWT_SECRET, JWT_PUBLIC_KEY_PEM or JWT_JWKS_FILE)"
    )]
    NoKeys,
    #[error("JWT_PUBLIC_KEY_PEM: {0}")]
    Pem(String),
    #[error("JWT JWKS: {0}")]
    Jwks(String),
    #[error("JWT JWKS: not a JWKS document")]
    JwksDocument(#[source] serde_json::Error),
    #[error("JWT JWKS: a key cannot be used")]
    JwksKey(#[source] jsonwebtoken::errors::Error),
    #[error("JWT_SECRET is shorter than 32 bytes")]
    WeakSecret,
}

fn split_pem_blocks(pem: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in pem.lines() {
        current.push_str(line.trim());
        current.push('\n');
        if line.trim().starts_with("-----END ") {
            blocks.push(std::mem::take(&mut current));
        }
    }
    blocks
}

impl JwtVerifier {
    pub fn new(settings: JwtSettings) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        if let Some(secret) = &settings.hs256_secret {
            if secret.expose_secret().len() < 32 {
                return Err(KeyError::WeakSecret);
            }
            keys.push(KeyEntry {
                alg: Algorithm::HS256,
                kid: None,
                key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            });
        }
        for pem in settings
            .public_keys_pem
            .iter()
            .flat_map(|p| split_pem_blocks(p))
        {
            let bytes = pem.as_bytes();
            let entry = if let Ok(key) = DecodingKey::from_rsa_pem(bytes) {
                KeyEntry {
                    alg: Algorithm::RS256,
                    kid: None,
                    key,
                }
            } else if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
                KeyEntry {
                    alg: Algorithm::ES256,
                    kid: None,
                    key,
                }
            } else {
                return Err(KeyError::Pem(
                    "not an RSA or EC public key in PEM form".into(),
                ));
            };
            keys.push(entry);
        }
        if let Some(json) = &settings.jwks_json {
            let set: JwkSet = serde_json::from_str(json).map_err(KeyError::JwksDocument)?;
            for jwk in &set.keys {
                let key = DecodingKey::from_jwk(jwk).map_err(KeyError::JwksKey)?;
                let alg = match &jwk.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                    _ => return Err(KeyError::Jwks("only RSA and EC keys are supported".into())),
                };
                keys.push(KeyEntry {
                    alg,
                    kid: jwk.common.key_id.clone(),
                    key,
                });
            }
        }
        if keys.is_empty() {
            return Err(KeyError::NoKeys);
        }
        let mut validations: Vec<(Algorithm, Validation)> = Vec::new();
        for entry in &keys {
            if !validations.iter().any(|(alg, _)| *alg == entry.alg) {
                validations.push((entry.alg, validation(&settings, entry.alg)));
            }
        }
        Ok(Self { keys, validations })
    }

    /// Verifies signature, expiry, not-before, issuer and audience; returns the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = decode_header(token).map_err(|_| AuthError::Malformed)?;
        let candidates = self.keys.iter().filter(|k| {
            k.alg == header.alg && (header.kid.is_none() || k.kid.is_none() || k.kid == header.kid)
        });
        let mut last = AuthError::UnsupportedAlgorithm;
        for entry in candidates {
            let Some((_, validation)) = self.validations.iter().find(|(a, _)| *a == entry.alg)
            else {
                continue;
            };
            match decode::<Claims>(token, &entry.key, validation) {
                Ok(data) => {
                    if data.claims.sub.trim().is_empty() {
                        return Err(AuthError::Invalid("empty sub".into()));
                    }
                    return Ok(data.claims);
                }
                Err(e) => last = AuthError::from_jwt(e),
            }
        }
        Err(last)
    }
}

/// What a token signed with `alg` must satisfy: expiry and not-before (with leeway), `sub`, and the
/// configured issuer and audience.
fn validation(settings: &JwtSettings, alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = settings.leeway_secs;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_required_spec_claims(&["exp", "sub"]);
    match &settings.issuer {
        Some(iss) => {
            v.set_issuer(&[iss]);
            v.required_spec_claims.insert("iss".into());
        }
        None => v.iss = None,
    }
    match &settings.audience {
        Some(aud) => {
            v.set_audience(&[aud]);
            v.required_spec_claims.insert("aud".into());
        }
        None => v.validate_aud = false,
    }
    v
}
