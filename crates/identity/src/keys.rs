//! The RS256 signing keys (`TOKEN_SIGNING_KEYS`) and the JWKS that publishes them.
//!
//! The setting lists one or more `kid=<path to an RSA private key PEM>`, comma-separated. The first key
//! signs; every listed key is published in the JWKS (and so accepted), so a key is rotated by putting a
//! new one first, waiting until the old key's tokens have expired, and then removing it: a removed key's
//! tokens stop verifying at once. Keys are read with `ring` (already what `jsonwebtoken` signs with),
//! which also gives the public modulus and exponent for the JWKS without another RSA crate; keys shorter
//! than 2048 bits are refused.

use std::collections::HashSet;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
    RSAKeyParameters, RSAKeyType,
};
use ring::rsa::{KeyPair, PublicKeyComponents};

/// The shortest RSA modulus accepted, in bits.
pub const RSA_BITS_MIN: usize = 2048;
/// The longest `kid` accepted.
const KID_LENGTH_MAX: usize = 64;

/// Why the signing keys cannot be used. Never carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("TOKEN_SIGNING_KEYS: no key listed")]
    Empty,
    #[error("TOKEN_SIGNING_KEYS: `{0}` is not of the form kid=<path to a PEM file>")]
    Entry(String),
    #[error(
        "TOKEN_SIGNING_KEYS: kid `{0}` is not 1-64 characters of letters, digits, `.`, `_` or `-`"
    )]
    Kid(String),
    #[error("TOKEN_SIGNING_KEYS: kid `{0}` is listed twice")]
    DuplicateKid(String),
    #[error("TOKEN_SIGNING_KEYS: cannot read the key file of kid `{kid}`")]
    Read {
        kid: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "TOKEN_SIGNING_KEYS: the key of kid `{kid}` is not an RSA private key in PEM form ({why})"
    )]
    NotRsa { kid: String, why: String },
    #[error("TOKEN_SIGNING_KEYS: the key of kid `{kid}` is shorter than {RSA_BITS_MIN} bits")]
    TooShort { kid: String },
}

/// One RSA key: signs when it is first, is published in the JWKS either way.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    /// The public modulus and exponent, unpadded base64url (JWK `n`, `e`).
    n: String,
    e: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key never appears; the kid and the public part are harmless.
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key from its PEM text: PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    pub fn from_pem(kid: &str, pem_text: &str) -> Result<Self, KeyError> {
        check_kid(kid)?;
        let not_rsa = |why: &str| KeyError::NotRsa {
            kid: kid.to_owned(),
            why: why.to_owned(),
        };
        let block = pem::parse(pem_text).map_err(|_| not_rsa("no PEM block"))?;
        let pair = match block.tag() {
            "PRIVATE KEY" => KeyPair::from_pkcs8(block.contents()),
            "RSA PRIVATE KEY" => KeyPair::from_der(block.contents()),
            _ => {
                return Err(not_rsa(
                    "expected BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY",
                ));
            }
        }
        .map_err(|e| {
            // ring itself refuses moduli under 2048 bits ("TooSmall"); say so plainly.
            if e.to_string() == "TooSmall" {
                KeyError::TooShort {
                    kid: kid.to_owned(),
                }
            } else {
                not_rsa(&e.to_string())
            }
        })?;
        let bits = pair.public().modulus_len() * 8;
        if bits < RSA_BITS_MIN {
            return Err(KeyError::TooShort {
                kid: kid.to_owned(),
            });
        }
        let components: PublicKeyComponents<Vec<u8>> = pair.public().into();
        // jsonwebtoken reads both PEM forms itself (PKCS#8 is unwrapped to the PKCS#1 key it signs with).
        let encoding =
            EncodingKey::from_rsa_pem(pem_text.as_bytes()).map_err(|e| not_rsa(&e.to_string()))?;
        Ok(Self {
            kid: kid.to_owned(),
            encoding,
            n: URL_SAFE_NO_PAD.encode(&components.n),
            e: URL_SAFE_NO_PAD.encode(&components.e),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The public half as a JWK: `kty=RSA`, `n`, `e`, `kid`, `alg=RS256`, `use=sig`.
    pub fn jwk(&self) -> Jwk {
        Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::RS256),
                key_id: Some(self.kid.clone()),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: self.n.clone(),
                e: self.e.clone(),
            }),
        }
    }
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    let ok = !kid.is_empty()
        && kid.len() <= KID_LENGTH_MAX
        && kid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(KeyError::Kid(kid.to_owned()))
    }
}

/// Every configured key; the first signs.
#[derive(Debug)]
pub struct SigningKeys {
    keys: Vec<SigningKey>,
}

impl SigningKeys {
    /// The keys in order; refuses an empty list and a repeated `kid`.
    pub fn new(keys: Vec<SigningKey>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        let mut seen = HashSet::new();
        for key in &keys {
            if !seen.insert(key.kid.clone()) {
                return Err(KeyError::DuplicateKid(key.kid.clone()));
            }
        }
        Ok(Self { keys })
    }

    /// Parses `TOKEN_SIGNING_KEYS` (`kid=path[,kid=path…]`) and reads each file (paths relative to
    /// `base`, when given).
    pub fn from_setting(spec: &str, base: Option<&Path>) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, path) = entry
                .split_once('=')
                .map(|(k, p)| (k.trim(), p.trim()))
                .filter(|(k, p)| !k.is_empty() && !p.is_empty())
                .ok_or_else(|| KeyError::Entry(entry.to_owned()))?;
            check_kid(kid)?;
            let path = match base {
                Some(base) => base.join(path),
                None => Path::new(path).to_path_buf(),
            };
            let text = std::fs::read_to_string(&path).map_err(|source| KeyError::Read {
                kid: kid.to_owned(),
                source,
            })?;
            keys.push(SigningKey::from_pem(kid, &text)?);
        }
        Self::new(keys)
    }

    /// The key that signs new tokens.
    pub fn current(&self) -> &SigningKey {
        &self.keys[0]
    }

    pub fn iter(&self) -> impl Iterator<Item = &SigningKey> {
        self.keys.iter()
    }

    /// Every key's public half.
    pub fn jwk_set(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().map(SigningKey::jwk).collect(),
        }
    }

    /// The JWKS document served at `/.well-known/jwks.json`.
    pub fn jwks_json(&self) -> String {
        serde_json::to_string(&self.jwk_set()).unwrap_or_else(|_| r#"{"keys":[]}"#.to_owned())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn testdata(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(name);
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn reads_pkcs8_and_pkcs1_keys_and_publishes_their_public_half() {
        let a = SigningKey::from_pem("a", &testdata("key-a.pem")).unwrap();
        let c = SigningKey::from_pem("c", &testdata("key-c-pkcs1.pem")).unwrap();
        let set = SigningKeys::new(vec![a, c]).unwrap();
        let jwks: serde_json::Value = serde_json::from_str(&set.jwks_json()).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        for (key, kid) in keys.iter().zip(["a", "c"]) {
            assert_eq!(key["kty"], "RSA");
            assert_eq!(key["kid"], kid);
            assert_eq!(key["alg"], "RS256");
            assert_eq!(key["use"], "sig");
            assert_eq!(key["e"], "AQAB");
            // 2048-bit modulus: 256 bytes, 342 unpadded base64url characters.
            assert_eq!(key["n"].as_str().unwrap().len(), 342);
            assert!(key.get("d").is_none(), "no private part: {key}");
        }
        assert_eq!(set.current().kid(), "a");
    }

    #[test]
    fn short_foreign_or_missing_keys_are_refused() {
        assert!(matches!(
            SigningKey::from_pem("w", &testdata("weak-1024.pem")),
            Err(KeyError::TooShort { .. })
        ));
        let public = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(matches!(
            SigningKey::from_pem("p", public),
            Err(KeyError::NotRsa { .. })
        ));
        assert!(matches!(SigningKeys::new(vec![]), Err(KeyError::Empty)));
        assert!(matches!(
            SigningKey::from_pem("bad kid", &testdata("key-a.pem")),
            Err(KeyError::Kid(_))
        ));
    }

    #[test]
    fn the_setting_lists_kid_path_pairs() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        let set = SigningKeys::from_setting(" k2=key-b.pem , k1=key-a.pem", Some(&dir)).unwrap();
        let kids: Vec<&str> = set.iter().map(SigningKey::kid).collect();
        assert_eq!(kids, ["k2", "k1"]);
        assert!(matches!(
            SigningKeys::from_setting("k1=key-a.pem,k1=key-b.pem", Some(&dir)),
            Err(KeyError::DuplicateKid(_))
        ));
        assert!(matches!(
            SigningKeys::from_setting("key-a.pem", Some(&dir)),
            Err(KeyError::Entry(_))
        ));
        assert!(matches!(
            SigningKeys::from_setting("k=missing.pem", Some(&dir)),
            Err(KeyError::Read { .. })
        ));
        assert!(matches!(
            SigningKeys::from_setting(" , ", Some(&dir)),
            Err(KeyError::Empty)
        ));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let a = SigningKey::from_pem("a", &testdata("key-a.pem")).unwrap();
        let shown = format!("{a:?}");
        assert!(shown.contains("\"a\"") && !shown.contains("MII"), "{shown}");
    }
}
