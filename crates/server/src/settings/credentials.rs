//! Settings of the tenant credentials the server keeps: the keyring that seals them
//! (`SECRETS_ENCRYPTION_KEYS`) and the public database endpoint external access uses
//! (`TENANT_DB_PUBLIC_ENDPOINT`).

use mgmt_provisioner::vault::Keyring;
use secrecy::SecretString;

use super::SettingsError;

const KEYS_VAR: &str = "SECRETS_ENCRYPTION_KEYS";

/// `SECRETS_ENCRYPTION_KEYS`: required with the cloud. The error says what is wrong and where (entry
/// position, well-formed key id), never the value.
pub fn keyring(value: Option<&SecretString>) -> Result<Keyring, SettingsError> {
    let value = value.ok_or_else(|| {
        SettingsError::new(format!(
            "{KEYS_VAR} is required when FLY_ENABLED=true: comma-separated `keyid:base64-of-32-bytes` \
             entries (e.g. `k1:` followed by the output of `openssl rand -base64 32`); the first seals"
        ))
    })?;
    Keyring::parse(value).map_err(|e| SettingsError::new(format!("{KEYS_VAR}: {e}")))
}

/// `TENANT_DB_PUBLIC_ENDPOINT`: `host:port`, no scheme, user or path (it goes between `@` and `/` of
/// the URLs handed to owners).
pub fn public_endpoint(value: Option<&str>) -> Result<Option<String>, SettingsError> {
    let Some(value) = value.map(str::trim) else {
        return Ok(None);
    };
    let valid = value.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
            && port.parse::<u16>().is_ok_and(|p| p > 0)
    });
    if valid {
        Ok(Some(value.to_owned()))
    } else {
        Err(SettingsError::new(format!(
            "TENANT_DB_PUBLIC_ENDPOINT: `{value}` is not `host:port`"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keyring_is_required_and_checked_without_echoing_it() {
        let e = keyring(None).unwrap_err().to_string();
        assert!(e.contains("SECRETS_ENCRYPTION_KEYS is required"), "{e}");
        let secretish = "k1:c2hvcnQtYnV0LXNlY3JldA==";
        let e = keyring(Some(&SecretString::from(secretish.to_owned())))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("SECRETS_ENCRYPTION_KEYS: key `k1` is 16 bytes"),
            "{e}"
        );
        assert!(!e.contains("c2hvcnQ"), "{e}");
        let e = keyring(Some(&SecretString::from("no-colon-secret".to_owned())))
            .unwrap_err()
            .to_string();
        assert!(!e.contains("no-colon-secret"), "{e}");
        let ok = format!("k2:{}", "A".repeat(43) + "=");
        assert_eq!(
            keyring(Some(&SecretString::from(ok)))
                .unwrap()
                .current_key_id(),
            "k2"
        );
    }

    #[test]
    fn public_endpoints_are_host_and_port() {
        assert_eq!(public_endpoint(None).unwrap(), None);
        assert_eq!(
            public_endpoint(Some("db.example.com:5432"))
                .unwrap()
                .as_deref(),
            Some("db.example.com:5432")
        );
        assert!(
            public_endpoint(Some("[2001:db8::1]:5432"))
                .unwrap()
                .is_some()
        );
        for bad in [
            "db.example.com",
            "postgres://db:5432",
            "db:0",
            "db:99999",
            ":5432",
            "u@db:5432",
            "db:5432/x",
        ] {
            assert!(public_endpoint(Some(bad)).is_err(), "{bad}");
        }
    }
}
