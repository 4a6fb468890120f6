//! Tenant credentials at rest: what the provisioner's vault seals (the tenant's database password and
//! platform `JWT_SECRET`) and the persistence layer stores. Only ciphertext is a record here; the
//! plaintexts exist in memory only, as `SecretString`s.

/// One sealed credential of a tenant. `name` and the tenant id are the associated data the value was
/// sealed with: a ciphertext moved to another name or tenant does not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCredential {
    /// What the value is, e.g. `database_password` (`[a-z][a-z0-9_]*`, at most 63 characters).
    pub name: String,
    /// The key that sealed it (keys rotate; old ones keep opening what they sealed).
    pub key_id: String,
    pub nonce: Vec<u8>,
    /// The AEAD output: ciphertext and authentication tag.
    pub ciphertext: Vec<u8>,
}

/// Whether `name` is a credential name the store accepts (the table's check constraint says the same).
pub fn valid_credential_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names() {
        for ok in ["database_password", "jwt_secret", "a", "x9_"] {
            assert!(valid_credential_name(ok), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in ["", "_x", "9a", "Database", "a-b", "a b", long.as_str()] {
            assert!(!valid_credential_name(bad), "{bad}");
        }
    }
}
