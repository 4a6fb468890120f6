//! Settings of the tenant machines: the volume mount path and the extra app secrets file
//! (`TENANT_EXTRA_SECRETS_FILE`, `KEY=VALUE` lines in the dotenv format).

use std::collections::BTreeMap;

use mgmt_domain::SecretName;
use mgmt_provisioner::RESERVED_SECRETS;
use secrecy::SecretString;

use super::SettingsError;

/// `TENANT_VOLUME_MOUNT_PATH`: the default mount of the tenant volume (a plan may set its own). An
/// absolute path that hides nothing the tenant image ships (cli-contract §8.3; see
/// [`mgmt_domain::check_volume_mount_path`]).
pub fn mount_path(value: &str) -> Result<String, SettingsError> {
    mgmt_domain::check_volume_mount_path(value)
        .map_err(|why| SettingsError::new(format!("TENANT_VOLUME_MOUNT_PATH: {why}")))
}

/// Reads the extra secrets every tenant app gets. Errors name the file and the line or key, never a
/// value (dotenvy's own parse error quotes the line, so it is not passed on).
pub fn extra_secrets(path: &str) -> Result<BTreeMap<String, SecretString>, SettingsError> {
    let var = "TENANT_EXTRA_SECRETS_FILE";
    let entries = dotenvy::from_path_iter(path).map_err(|e| file_error(var, path, e))?;
    let mut secrets = BTreeMap::new();
    for (n, entry) in entries.enumerate() {
        let (key, value) = entry.map_err(|e| match e {
            dotenvy::Error::LineParse(_, _) => {
                SettingsError::new(format!("{var}: {path}: entry {} is not KEY=VALUE", n + 1))
            }
            other => file_error(var, path, other),
        })?;
        if let Err(e) = SecretName::parse(&key) {
            return Err(SettingsError::new(format!("{var}: {path}: {e}")));
        }
        if RESERVED_SECRETS.contains(&key.as_str()) {
            return Err(SettingsError::new(format!(
                "{var}: {path}: `{key}` is set by provisioning and cannot be configured"
            )));
        }
        secrets.insert(key, SecretString::from(value));
    }
    Ok(secrets)
}

/// A dotenvy error that carries no file content: the I/O error is kept as the source; a parse
/// error (which quotes the line) is not passed on.
fn file_error(var: &str, path: &str, e: dotenvy::Error) -> SettingsError {
    match e {
        dotenvy::Error::Io(io) => {
            SettingsError::caused_by(format!("{var}: cannot read {path}"), io)
        }
        dotenvy::Error::EnvVar(v) => SettingsError::new(format!("{var}: {path}: {v}")),
        _ => SettingsError::new(format!("{var}: {path}: unreadable")),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use secrecy::ExposeSecret;

    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn reads_key_value_lines_with_comments_and_quotes() {
        let f = file("# mail\nSMTP_PASSWORD=hunter2\nAPI_KEY=\"quoted value\"\n\nEMPTY=\n");
        let s = extra_secrets(f.path().to_str().unwrap()).unwrap();
        assert_eq!(
            s.keys().collect::<Vec<_>>(),
            vec!["API_KEY", "EMPTY", "SMTP_PASSWORD"]
        );
        assert_eq!(s["SMTP_PASSWORD"].expose_secret(), "hunter2");
        assert_eq!(s["API_KEY"].expose_secret(), "quoted value");
    }

    #[test]
    fn bad_files_are_named_without_echoing_values() {
        let f = file("GOOD=1\nthis line hunter2-secret is not an assignment\n");
        let err = extra_secrets(f.path().to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TENANT_EXTRA_SECRETS_FILE") && !err.contains("hunter2"),
            "{err}"
        );
        let f = file("MY.KEY=hunter2\n");
        let err = extra_secrets(f.path().to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("MY.KEY") && !err.contains("hunter2"), "{err}");
        let f = file("JWT_SECRET=hunter2\n");
        let err = extra_secrets(f.path().to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("JWT_SECRET") && !err.contains("hunter2"),
            "{err}"
        );
        let err = extra_secrets("/nonexistent/secrets.env")
            .unwrap_err()
            .to_string();
        assert!(err.contains("TENANT_EXTRA_SECRETS_FILE"), "{err}");
    }

    #[test]
    fn mount_paths_must_be_absolute_and_below_the_root() {
        assert_eq!(mount_path("/data/").unwrap(), "/data");
        assert_eq!(
            mount_path("/app/storage/files/uploads").unwrap(),
            "/app/storage/files/uploads"
        );
        for bad in [
            "/",
            "data",
            "",
            "/a/../b",
            "/with space",
            "/app",
            "/app/services",
            "/app/services/profiles",
            "/app/storage",
            "/app/web",
            "/app/bin",
        ] {
            let err = mount_path(bad).unwrap_err().to_string();
            assert!(err.contains("TENANT_VOLUME_MOUNT_PATH"), "{bad}: {err}");
        }
    }
}
