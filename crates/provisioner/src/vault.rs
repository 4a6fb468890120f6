//! The vault: tenant credentials (database password, platform `JWT_SECRET`) sealed with
//! XChaCha20-Poly1305 before they reach the database, so a copy of the database alone reveals none.
//!
//! Each value gets a fresh random 24-byte nonce and is bound to its place by the associated data
//! (tenant id and value name): a ciphertext copied onto another tenant's row, or renamed, fails to open.
//! Each sealed value records the id of the key that sealed it, so keys rotate without re-encrypting
//! anything at once: `SECRETS_ENCRYPTION_KEYS` lists `keyid:base64-32-bytes` entries, the first seals
//! new values and every one of them opens old ones.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use mgmt_domain::{SealedCredential, TenantId};
use rand::RngCore;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretBox, SecretString};

/// Bytes of a key (XChaCha20-Poly1305 takes 256-bit keys).
pub const KEY_BYTES: usize = 32;
/// Bytes of a nonce (XChaCha20's extended nonce: random nonces cannot collide in practice).
pub const NONCE_BYTES: usize = 24;
/// Bytes the authentication tag adds to every ciphertext.
pub const TAG_BYTES: usize = 16;
/// Longest key id: it is stored next to every value and named in errors.
pub const MAX_KEY_ID_CHARS: usize = 32;

/// Domain separation: the associated data of this vault's values can never equal another use's.
const AAD_PREFIX: &[u8] = b"mgmt-tenant-credential/v1\0";

struct KeyEntry {
    id: String,
    key: SecretBox<[u8; KEY_BYTES]>,
}

/// The keys that seal and open tenant credentials. The first key seals; all of them open.
/// `Debug` shows the key ids only.
#[derive(Clone)]
pub struct Keyring {
    keys: Arc<[KeyEntry]>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring")
            .field("key_ids", &ids)
            .finish_non_exhaustive()
    }
}

/// Why a keyring specification was refused. Never holds key material (nor anything that might be
/// key material put in the wrong place): only positions and well-formed key ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    #[error("no key given; expected comma-separated `keyid:base64-of-32-bytes` entries")]
    Empty,
    #[error("entry {position} is not `keyid:base64-of-32-bytes`")]
    Malformed { position: usize },
    #[error(
        "entry {position}: a key id is 1 to {MAX_KEY_ID_CHARS} characters of A-Z, a-z, 0-9, `_` and `-`"
    )]
    BadKeyId { position: usize },
    #[error("key `{id}` is not valid base64")]
    NotBase64 { id: String },
    #[error("key `{id}` is {len} bytes; a key is exactly {KEY_BYTES} bytes")]
    WrongLength { id: String, len: usize },
    #[error("key id `{id}` is given twice")]
    DuplicateId { id: String },
}

/// Why a value could not be sealed or opened. Names key ids and value names, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    #[error(
        "credential `{name}` was sealed with key `{key_id}`, which is not in SECRETS_ENCRYPTION_KEYS"
    )]
    UnknownKey { name: String, key_id: String },
    #[error(
        "credential `{name}` does not open with key `{key_id}`: it was altered, or it belongs to another tenant or name"
    )]
    DoesNotOpen { name: String, key_id: String },
    #[error("credential `{name}` is malformed: {why}")]
    Malformed { name: String, why: &'static str },
}

fn valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_CHARS).contains(&id.chars().count())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The associated data of a value: what it is (`name`) and whose (`tenant`).
fn associated_data(tenant: TenantId, name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + 16 + 1 + name.len());
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(tenant.as_uuid().as_bytes());
    aad.push(0);
    aad.extend_from_slice(name.as_bytes());
    aad
}

impl Keyring {
    /// Reads `keyid:base64-32-bytes[,keyid:base64-32-bytes...]` (whitespace around entries is ignored).
    /// The first entry becomes the sealing key.
    pub fn parse(spec: &SecretString) -> Result<Self, KeyringError> {
        let mut keys: Vec<KeyEntry> = Vec::new();
        let spec = spec.expose_secret();
        if spec.trim().is_empty() {
            return Err(KeyringError::Empty);
        }
        for (i, entry) in spec.split(',').enumerate() {
            let position = i + 1;
            let (id, material) = entry
                .trim()
                .split_once(':')
                .ok_or(KeyringError::Malformed { position })?;
            let id = id.trim();
            if !valid_key_id(id) {
                return Err(KeyringError::BadKeyId { position });
            }
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(material.trim())
                    .map_err(|_| KeyringError::NotBase64 { id: id.to_owned() })?,
            );
            let key: [u8; KEY_BYTES] =
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| KeyringError::WrongLength {
                        id: id.to_owned(),
                        len: bytes.len(),
                    })?;
            if keys.iter().any(|k| k.id == id) {
                return Err(KeyringError::DuplicateId { id: id.to_owned() });
            }
            keys.push(KeyEntry {
                id: id.to_owned(),
                key: SecretBox::new(Box::new(key)),
            });
        }
        Ok(Self { keys: keys.into() })
    }

    /// The id of the key new values are sealed with.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Every key id, the sealing key first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    fn cipher(entry: &KeyEntry) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(entry.key.expose_secret()))
    }

    /// Seals `value` as the credential `name` of `tenant`, with the current key and a fresh nonce.
    pub fn seal(
        &self,
        tenant: TenantId,
        name: &str,
        value: &SecretString,
    ) -> Result<SealedCredential, VaultError> {
        let entry = &self.keys[0];
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = associated_data(tenant, name);
        let ciphertext = Self::cipher(entry)
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.expose_secret().as_bytes(),
                    aad: &aad,
                },
            )
            // Only a message beyond the cipher's 256 GiB limit fails; never a credential.
            .map_err(|_| VaultError::Malformed {
                name: name.to_owned(),
                why: "the value cannot be sealed",
            })?;
        Ok(SealedCredential {
            name: name.to_owned(),
            key_id: entry.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Opens `sealed` as the credential of `tenant` it claims to be (its name is part of the check).
    pub fn open(
        &self,
        tenant: TenantId,
        sealed: &SealedCredential,
    ) -> Result<SecretString, VaultError> {
        let name = &sealed.name;
        let entry = self
            .keys
            .iter()
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| VaultError::UnknownKey {
                name: name.clone(),
                key_id: sealed.key_id.clone(),
            })?;
        if sealed.nonce.len() != NONCE_BYTES {
            return Err(VaultError::Malformed {
                name: name.clone(),
                why: "the nonce is not 24 bytes",
            });
        }
        let aad = associated_data(tenant, name);
        let plain = Self::cipher(entry)
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::DoesNotOpen {
                name: name.clone(),
                key_id: entry.id.clone(),
            })?;
        match String::from_utf8(plain) {
            Ok(s) => Ok(SecretString::from(s)),
            Err(e) => {
                // Authentic but not text: not something this vault sealed. Wipe it before dropping.
                drop(Zeroizing::new(e.into_bytes()));
                Err(VaultError::Malformed {
                    name: name.clone(),
                    why: "the value is not text",
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(entries: &[(&str, [u8; KEY_BYTES])]) -> SecretString {
        let s: Vec<String> = entries
            .iter()
            .map(|(id, k)| format!("{id}:{}", STANDARD.encode(k)))
            .collect();
        SecretString::from(s.join(","))
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn round_trip_binds_the_value_to_its_tenant_and_name() {
        let ring = Keyring::parse(&spec(&[("k1", [7; 32])])).unwrap();
        let tenant = TenantId::new_random();
        let sealed = ring
            .seal(tenant, "database_password", &secret("s3cret-pass"))
            .unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert_eq!(sealed.nonce.len(), NONCE_BYTES);
        assert_eq!(sealed.ciphertext.len(), "s3cret-pass".len() + TAG_BYTES);
        assert!(
            !sealed.ciphertext.windows(6).any(|w| w == b"s3cret"),
            "ciphertext holds the plaintext"
        );
        assert_eq!(
            ring.open(tenant, &sealed).unwrap().expose_secret(),
            "s3cret-pass"
        );
        // Two seals of one value differ (fresh nonce), and both open.
        let again = ring
            .seal(tenant, "database_password", &secret("s3cret-pass"))
            .unwrap();
        assert_ne!(again.nonce, sealed.nonce);
        assert_ne!(again.ciphertext, sealed.ciphertext);
        assert_eq!(
            ring.open(tenant, &again).unwrap().expose_secret(),
            "s3cret-pass"
        );
    }

    #[test]
    fn wrong_associated_data_or_altered_bytes_do_not_open() {
        let ring = Keyring::parse(&spec(&[("k1", [7; 32])])).unwrap();
        let tenant = TenantId::new_random();
        let sealed = ring.seal(tenant, "jwt_secret", &secret("value")).unwrap();
        // Copied onto another tenant's row.
        let e = ring.open(TenantId::new_random(), &sealed).unwrap_err();
        assert!(matches!(e, VaultError::DoesNotOpen { .. }), "{e:?}");
        // Moved to another name of the same tenant.
        let renamed = SealedCredential {
            name: "database_password".into(),
            ..sealed.clone()
        };
        assert!(matches!(
            ring.open(tenant, &renamed),
            Err(VaultError::DoesNotOpen { .. })
        ));
        // A flipped ciphertext bit, or another nonce.
        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        assert!(matches!(
            ring.open(tenant, &flipped),
            Err(VaultError::DoesNotOpen { .. })
        ));
        let mut other_nonce = sealed.clone();
        other_nonce.nonce[0] ^= 1;
        assert!(matches!(
            ring.open(tenant, &other_nonce),
            Err(VaultError::DoesNotOpen { .. })
        ));
        let mut short = sealed;
        short.nonce.truncate(12);
        assert!(matches!(
            ring.open(tenant, &short),
            Err(VaultError::Malformed { .. })
        ));
    }

    #[test]
    fn an_unknown_key_id_is_named_in_the_error() {
        let old = Keyring::parse(&spec(&[("old", [1; 32])])).unwrap();
        let new = Keyring::parse(&spec(&[("new", [2; 32])])).unwrap();
        let tenant = TenantId::new_random();
        let sealed = old.seal(tenant, "jwt_secret", &secret("v")).unwrap();
        let e = new.open(tenant, &sealed).unwrap_err();
        assert_eq!(
            e,
            VaultError::UnknownKey {
                name: "jwt_secret".into(),
                key_id: "old".into()
            }
        );
        assert!(e.to_string().contains("key `old`"), "{e}");
        assert!(e.to_string().contains("SECRETS_ENCRYPTION_KEYS"), "{e}");
        // A key with the right id but other material does not open it either.
        let impostor = Keyring::parse(&spec(&[("old", [9; 32])])).unwrap();
        assert!(matches!(
            impostor.open(tenant, &sealed),
            Err(VaultError::DoesNotOpen { .. })
        ));
    }

    #[test]
    fn rotation_seals_with_the_new_key_and_still_opens_old_values() {
        let tenant = TenantId::new_random();
        let before = Keyring::parse(&spec(&[("k1", [1; 32])])).unwrap();
        let old = before
            .seal(tenant, "database_password", &secret("old-pass"))
            .unwrap();
        let after = Keyring::parse(&spec(&[("k2", [2; 32]), ("k1", [1; 32])])).unwrap();
        assert_eq!(after.current_key_id(), "k2");
        assert_eq!(after.key_ids().collect::<Vec<_>>(), ["k2", "k1"]);
        assert_eq!(
            after.open(tenant, &old).unwrap().expose_secret(),
            "old-pass"
        );
        let new = after
            .seal(tenant, "database_password", &secret("new-pass"))
            .unwrap();
        assert_eq!(new.key_id, "k2");
        assert_eq!(
            after.open(tenant, &new).unwrap().expose_secret(),
            "new-pass"
        );
        // Once k1 is retired, only values sealed with k2 open.
        let retired = Keyring::parse(&spec(&[("k2", [2; 32])])).unwrap();
        assert!(matches!(
            retired.open(tenant, &old),
            Err(VaultError::UnknownKey { .. })
        ));
        assert_eq!(
            retired.open(tenant, &new).unwrap().expose_secret(),
            "new-pass"
        );
    }

    #[test]
    fn bad_specifications_are_refused_without_echoing_key_material() {
        let key = STANDARD.encode([5u8; 32]);
        let short = STANDARD.encode([5u8; 16]);
        let cases: Vec<(String, KeyringError)> = vec![
            (String::new(), KeyringError::Empty),
            ("  ".into(), KeyringError::Empty),
            (key.clone(), KeyringError::Malformed { position: 1 }),
            (
                format!("k1:{key},"),
                KeyringError::Malformed { position: 2 },
            ),
            (format!(":{key}"), KeyringError::BadKeyId { position: 1 }),
            (
                format!("k1:{key}, bad id:{key}"),
                KeyringError::BadKeyId { position: 2 },
            ),
            (
                format!("{}:{key}", "x".repeat(33)),
                KeyringError::BadKeyId { position: 1 },
            ),
            (
                "k1:not*base64".into(),
                KeyringError::NotBase64 { id: "k1".into() },
            ),
            (
                format!("k1:{short}"),
                KeyringError::WrongLength {
                    id: "k1".into(),
                    len: 16,
                },
            ),
            (
                format!("k1:{key},k1:{key}"),
                KeyringError::DuplicateId { id: "k1".into() },
            ),
        ];
        for (input, expected) in cases {
            let e = Keyring::parse(&SecretString::from(input.clone())).unwrap_err();
            assert_eq!(e, expected, "{input}");
            let msg = e.to_string();
            assert!(!msg.contains(&key) && !msg.contains(&short), "{msg}");
        }
        // Whitespace around entries is fine.
        let ring =
            Keyring::parse(&SecretString::from(format!(" a-1 : {key} , b_2:{key} "))).unwrap();
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["a-1", "b_2"]);
    }

    #[test]
    fn debug_shows_key_ids_only() {
        let key = [0xABu8; 32];
        let ring = Keyring::parse(&spec(&[("primary", key)])).unwrap();
        let dbg = format!("{ring:?}");
        assert!(dbg.contains("primary"), "{dbg}");
        assert!(!dbg.contains(&STANDARD.encode(key)), "{dbg}");
        assert!(!dbg.contains("171"), "raw key bytes in {dbg}");
    }
}
