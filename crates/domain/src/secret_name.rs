//! The name of an app secret: what the API accepts, the provisioner passes to Fly and the configuration
//! may preset, by one rule.
//!
//! Fly hands an app's secrets to its machines as environment variables, with names "case sensitive and
//! stored as-is"; the customer CLI sends environment-variable names it upper-cases itself (`DATABASE_URL`,
//! `SIGNING_KEY_PEM`, `SYSTEMPROMPT_*`, and any key of the profile's `secrets.json`, upper-cased, which
//! may hold characters no environment name can, e.g. `MY-KEY`). So a name is a portable environment
//! variable name, in either case:
//!
//! ```text
//! secret-name := [A-Za-z_] [A-Za-z0-9_]{0,127}
//! ```
//!
//! Which names the platform keeps for itself (`DATABASE_URL`, ...) is a separate rule of the provisioner.

use std::fmt;

/// Longest accepted secret name, in characters (all of them ASCII).
pub const SECRET_NAME_LENGTH_MAX: usize = 128;

/// Why a string is not a secret name. The message says what was expected and never quotes more than
/// [`SECRET_NAME_LENGTH_MAX`] characters of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretNameError {
    #[error("a secret name is empty: expected letters, digits and `_`, not starting with a digit")]
    Empty,
    #[error("secret name `{0}…` is longer than {SECRET_NAME_LENGTH_MAX} characters")]
    TooLong(String),
    #[error(
        "secret name `{0}` is invalid: expected letters, digits and `_`, not starting with a digit (an environment variable name)"
    )]
    Invalid(String),
}

/// A valid secret name (see the module documentation for the grammar).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretName(String);

impl SecretName {
    /// Checks `s` against the grammar.
    pub fn parse(s: &str) -> Result<Self, SecretNameError> {
        let mut chars = s.chars();
        let Some(first) = chars.next() else {
            return Err(SecretNameError::Empty);
        };
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if !(first.is_ascii_alphabetic() || first == '_') || !chars.all(word) {
            return Err(SecretNameError::Invalid(shown(s)));
        }
        if s.len() > SECRET_NAME_LENGTH_MAX {
            return Err(SecretNameError::TooLong(shown(s)));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// At most [`SECRET_NAME_LENGTH_MAX`] characters of the input, for messages.
fn shown(s: &str) -> String {
    s.chars().take(SECRET_NAME_LENGTH_MAX).collect()
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SecretName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SecretName {
    type Err = SecretNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<SecretName> for String {
    fn from(name: SecretName) -> Self {
        name.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_environment_variable_names_the_cli_and_fly_use() {
        for ok in [
            "A",
            "_",
            "_X",
            "a1",
            "DATABASE_URL",
            "JWT_SECRET",
            "SIGNING_KEY_PEM",
            "SYSTEMPROMPT_CUSTOM_SECRETS",
            "OAUTH_AT_REST_PEPPER",
            "lower_case_too",
            &"A".repeat(SECRET_NAME_LENGTH_MAX),
        ] {
            let name = SecretName::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(name.as_str(), ok);
            assert_eq!(name.to_string(), ok);
        }
    }

    #[test]
    fn refuses_what_no_environment_can_hold() {
        assert_eq!(SecretName::parse(""), Err(SecretNameError::Empty));
        for bad in ["1A", "MY-KEY", "A B", "A.B", "Ä", "KEY\n", "=", "A=B", "\0"] {
            assert!(
                matches!(SecretName::parse(bad), Err(SecretNameError::Invalid(_))),
                "{bad:?}"
            );
        }
        let long = "A".repeat(SECRET_NAME_LENGTH_MAX + 1);
        assert!(matches!(
            SecretName::parse(&long),
            Err(SecretNameError::TooLong(_))
        ));
    }

    #[test]
    fn messages_say_what_was_expected_and_stay_short() {
        let msg = SecretName::parse("MY-KEY").unwrap_err().to_string();
        assert!(
            msg.contains("`MY-KEY`") && msg.contains("letters, digits and `_`"),
            "{msg}"
        );
        let msg = SecretName::parse(&"B".repeat(10_000))
            .unwrap_err()
            .to_string();
        assert!(msg.len() < 400, "{msg}");
    }
}
