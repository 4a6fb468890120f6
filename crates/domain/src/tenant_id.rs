//! Tenant and customer identifiers, with one canonical spelling each.
//!
//! A tenant id appears in URLs, the image tag, the Fly app name and database names. If two spellings of
//! the same UUID were accepted (upper case, braces, no hyphens) one tenant could own two tags or two
//! apps, so parsing is strict and display is always the lowercase hyphenated form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Why a string is not a canonical tenant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid id `{input}`: expected a lowercase hyphenated UUID such as 3f2b8c1e-9a4d-4e1f-8c2a-0b1d2e3f4a5b"
)]
pub struct TenantIdError {
    input: String,
}

impl TenantIdError {
    fn new(input: &str) -> Self {
        // Keep hostile input short in error messages (it may end up in logs and responses).
        let input: String = input.chars().take(64).collect();
        Self { input }
    }
}

/// Parses the only accepted spelling: 36 characters, lowercase hex, hyphens at 8-4-4-4-12.
fn parse_canonical_uuid(s: &str) -> Result<Uuid, TenantIdError> {
    let bytes = s.as_bytes();
    let well_formed = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(b),
        });
    if !well_formed {
        return Err(TenantIdError::new(s));
    }
    Uuid::parse_str(s).map_err(|_| TenantIdError::new(s))
}

macro_rules! canonical_uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            /// Wraps a UUID (already validated by its type).
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// Strict parse: only the canonical lowercase hyphenated form.
            pub fn parse(s: &str) -> Result<Self, TenantIdError> {
                parse_canonical_uuid(s).map(Self)
            }

            /// The UUID inside.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // `Uuid`'s Display is the lowercase hyphenated form: the canonical one.
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl FromStr for $name {
            type Err = TenantIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

canonical_uuid_id!(
    /// A tenant: one isolated Fly app, database and image tag.
    TenantId
);
canonical_uuid_id!(
    /// A customer: the owner of tenants, mapped from the identity provider's `sub`.
    CustomerId
);

impl TenantId {
    /// The first 12 hex digits of the UUID: the short form used in app, host and database names.
    pub fn short_hex(&self) -> String {
        self.0.simple().to_string()[..12].to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2b8c1e-9a4d-4e1f-8c2a-0b1d2e3f4a5b";

    #[test]
    fn canonical_form_round_trips() {
        let id = TenantId::parse(ID).unwrap();
        assert_eq!(id.to_string(), ID);
        assert_eq!(id.short_hex(), "3f2b8c1e9a4d");
    }

    #[test]
    fn other_spellings_are_refused() {
        for bad in [
            "3F2B8C1E-9A4D-4E1F-8C2A-0B1D2E3F4A5B",
            "3f2b8c1e9a4d4e1f8c2a0b1d2e3f4a5b",
            "{3f2b8c1e-9a4d-4e1f-8c2a-0b1d2e3f4a5b}",
            "urn:uuid:3f2b8c1e-9a4d-4e1f-8c2a-0b1d2e3f4a5b",
            " 3f2b8c1e-9a4d-4e1f-8c2a-0b1d2e3f4a5b",
            "3f2b8c1e-9a4d-4e1f-8c2a-0b1d2e3f4a5bb",
            "3f2b8c1e-9a4d-4e1f-8c2a_0b1d2e3f4a5b",
            "",
        ] {
            assert!(TenantId::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn error_message_says_what_is_expected_and_truncates() {
        let long = "x".repeat(500);
        let msg = TenantId::parse(&long).unwrap_err().to_string();
        assert!(msg.contains("lowercase hyphenated UUID"));
        assert!(msg.len() < 250);
    }

    #[test]
    fn serde_uses_the_canonical_form() {
        let id = TenantId::parse(ID).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{ID}\""));
        assert!(
            serde_json::from_str::<TenantId>("\"3F2B8C1E-9A4D-4E1F-8C2A-0B1D2E3F4A5B\"").is_err()
        );
    }
}
