//! Bearer JWT verification: HS256 secret, RS256/ES256 public keys of an external IdP (PEM or a JWKS
//! document), and the tokens this server issues itself (RS256, verified through its own public JWKS).
//!
//! The key is chosen by the token's `alg` (and `kid` when the JWKS has several), never by trying every
//! key with every algorithm, so an RSA public key can never be used as an HMAC secret. Our own keys are
//! matched by `kid` only (every token we issue has one) and checked against our own issuer and audience;
//! external keys against the configured `JWT_ISSUER` / `JWT_AUDIENCE`.

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
    /// The tokens we issue ourselves; `None` when no signing key is configured.
    pub own: Option<OwnTokens>,
}

/// How to verify the tokens this server issues: its public JWKS and its issuer (`PUBLIC_API_URL`),
/// which is also the audience every such token carries.
#[derive(Debug, Clone)]
pub struct OwnTokens {
    pub jwks_json: String,
    pub issuer: String,
}

/// `aud`: one string or an array of strings (RFC 7519 §4.1.3); our own tokens use the array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, value: &str) -> bool {
        match self {
            Self::One(a) => a == value,
            Self::Many(all) => all.iter().any(|a| a == value),
        }
    }
}

impl From<&str> for Audience {
    fn from(value: &str) -> Self {
        Self::One(value.to_owned())
    }
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
    pub aud: Option<Audience>,
    /// Token id: what a per-token revocation names (our tokens always carry one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Our tokens' display name (§8.6 `username`); `name` is what other issuers use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// When the user logged in (our tokens; kept across an exchange).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}

/// Whose key: ours (checked against our issuer) or an external IdP's (the configured iss/aud).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Own,
    External,
}

struct KeyEntry {
    alg: Algorithm,
    kid: Option<String>,
    key: DecodingKey,
    source: Source,
}

/// Verifies bearer tokens.
pub struct JwtVerifier {
    keys: Vec<KeyEntry>,
    /// One validation per algorithm in use, built once: building one allocates sets of claim names,
    /// which every request would otherwise pay for.
    validations: Vec<((Algorithm, Source), Validation)>,
    /// Our issuer, when we issue tokens.
    own_issuer: Option<String>,
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
    #[error(
        "JWT_ISSUER and JWT_AUDIENCE are required when external keys (JWT_PUBLIC_KEY_PEM or JWT_JWKS_FILE) are configured"
    )]
    ExternalWithoutIssuerOrAudience,
    #[error("our own JWKS: {0}")]
    Own(String),
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
                source: Source::External,
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
                    source: Source::External,
                }
            } else if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
                KeyEntry {
                    alg: Algorithm::ES256,
                    kid: None,
                    key,
                    source: Source::External,
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
                    source: Source::External,
                });
            }
        }
        let external_public = keys.iter().any(|k| k.alg != Algorithm::HS256);
        if external_public && (settings.issuer.is_none() || settings.audience.is_none()) {
            return Err(KeyError::ExternalWithoutIssuerOrAudience);
        }
        if let Some(own) = &settings.own {
            let set: JwkSet =
                serde_json::from_str(&own.jwks_json).map_err(|e| KeyError::Own(e.to_string()))?;
            for jwk in &set.keys {
                let kid = jwk
                    .common
                    .key_id
                    .clone()
                    .ok_or_else(|| KeyError::Own("a key without kid".into()))?;
                if !matches!(
                    jwk.algorithm,
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_)
                ) {
                    return Err(KeyError::Own("only RSA keys are issued".into()));
                }
                let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyError::Own(e.to_string()))?;
                keys.push(KeyEntry {
                    alg: Algorithm::RS256,
                    kid: Some(kid),
                    key,
                    source: Source::Own,
                });
            }
        }
        if keys.is_empty() {
            return Err(KeyError::NoKeys);
        }
        let mut validations: Vec<((Algorithm, Source), Validation)> = Vec::new();
        for entry in &keys {
            let id = (entry.alg, entry.source);
            if !validations.iter().any(|(v, _)| *v == id) {
                validations.push((id, validation(&settings, entry.alg, entry.source)));
            }
        }
        Ok(Self {
            keys,
            validations,
            own_issuer: settings.own.as_ref().map(|o| o.issuer.clone()),
        })
    }

    /// Whether `claims` come from a token we issued (our issuer); such tokens are subject tokens of the
    /// exchange.
    pub fn is_own(&self, claims: &Claims) -> bool {
        self.own_issuer.is_some() && claims.iss.as_deref() == self.own_issuer.as_deref()
    }

    /// Verifies signature, expiry, not-before, issuer and audience; returns the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = decode_header(token).map_err(|_| AuthError::Malformed)?;
        let candidates = self.keys.iter().filter(|k| {
            k.alg == header.alg
                && match k.source {
                    // Our keys only by their exact kid: every token we issue names its key.
                    Source::Own => header.kid.is_some() && k.kid == header.kid,
                    Source::External => {
                        header.kid.is_none() || k.kid.is_none() || k.kid == header.kid
                    }
                }
        });
        let mut last = AuthError::UnsupportedAlgorithm;
        for entry in candidates {
            let id = (entry.alg, entry.source);
            let Some((_, validation)) = self.validations.iter().find(|(v, _)| *v == id) else {
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
/// issuer and audience: ours for our keys (`aud` must contain our issuer; jsonwebtoken accepts a string
/// or an array and checks membership), the configured ones for the others.
fn validation(settings: &JwtSettings, alg: Algorithm, source: Source) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = settings.leeway_secs;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_required_spec_claims(&["exp", "sub"]);
    if let (Source::Own, Some(own)) = (source, &settings.own) {
        v.set_issuer(&[&own.issuer]);
        v.set_audience(&[&own.issuer]);
        v.required_spec_claims.insert("iss".into());
        v.required_spec_claims.insert("aud".into());
        return v;
    }
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
