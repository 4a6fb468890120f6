//! Settings: defaults, the seed's variable names, file + environment layering, and errors that name
//! the variable without echoing its value.

use std::collections::HashMap;
use std::io::Write;

use secrecy::ExposeSecret;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

const FLY: &[(&str, &str)] = &[
    ("DATABASE_URL", "postgres://u:dbpass@db/x"),
    ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
    ("FLY_ENABLED", "true"),
    ("FLY_API_TOKEN", "fo1_secret_token"),
    ("FLY_ORG_SLUG", "acme"),
    ("FLY_SHARED_REGISTRY_APP", "acme-images"),
    ("FLY_SUBDOMAIN_SUFFIX", "sites.acme.dev"),
    ("FLY_POSTGRES_APP", "acme-db"),
    (
        "TENANT_DB_ADMIN_URL",
        "postgres://admin:pw@acme-db.internal/postgres",
    ),
    ("GATEWAY_PUBLIC_HOST", "registry.acme.dev"),
    ("GATEWAY_SIGNING_KEY", "gateway-key"),
];

#[test]
fn defaults_apply_and_fly_is_off() {
    let s = Settings::load(None, env(&[("DATABASE_URL", "postgres://x")])).unwrap();
    assert!(s.fly.is_none());
    assert_eq!(s.listen_addr.to_string(), "127.0.0.1:8080");
    assert_eq!(s.log_format, LogFormat::Pretty);
    assert!(s.migrate_on_start && s.workers_enabled);
    assert_eq!(s.customer_policy, CustomerPolicy::CreateOnFirstUse);
    assert_eq!(s.database_pool_recycle, tenant_persistence::Recycle::Fast);
}

#[test]
fn the_seeds_variable_names_configure_fly() {
    let s = Settings::load(None, env(FLY)).unwrap();
    let fly = s.fly.unwrap();
    assert_eq!(fly.shared_registry_app, "acme-images");
    assert_eq!(fly.tenant_db_host, "acme-db.internal:5432");
    assert_eq!(fly.machines_api_url, "https://api.machines.dev/v1");
    assert_eq!(fly.registry_password.expose_secret(), "fo1_secret_token");
    assert_eq!(fly.gateway_listen_addr.to_string(), "127.0.0.1:5000");
}

#[test]
fn each_required_fly_setting_is_named_when_missing() {
    for missing in [
        "FLY_API_TOKEN",
        "FLY_ORG_SLUG",
        "FLY_SHARED_REGISTRY_APP",
        "FLY_SUBDOMAIN_SUFFIX",
        "TENANT_DB_ADMIN_URL",
        "GATEWAY_PUBLIC_HOST",
        "GATEWAY_SIGNING_KEY",
    ] {
        let pairs: Vec<_> = FLY.iter().copied().filter(|(k, _)| *k != missing).collect();
        let err = Settings::load(None, env(&pairs)).unwrap_err().to_string();
        assert!(
            err.contains(missing) && err.contains("FLY_ENABLED=true"),
            "{missing}: {err}"
        );
    }
    let err = Settings::load(None, env(&[])).unwrap_err().to_string();
    assert!(err.contains("DATABASE_URL"), "{err}");
}

#[test]
fn malformed_values_are_named_and_not_echoed() {
    let err = Settings::load(
        None,
        env(&[("DATABASE_URL", "x"), ("FLY_ENABLED", "s3cr3t-maybe")]),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("FLY_ENABLED") && !msg.contains("s3cr3t"),
        "{msg}"
    );
    let msg = Settings::load(
        None,
        env(&[("DATABASE_URL", "x"), ("LISTEN_ADDR", "nowhere")]),
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("LISTEN_ADDR"), "{msg}");
    let msg = Settings::load(None, env(&[("DATABASE_URL", "x"), ("LOG_FORMAT", "xml")]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("LOG_FORMAT"), "{msg}");
    let msg = Settings::load(
        None,
        env(&[("DATABASE_URL", "x"), ("DATABASE_POOL_SIZE", "many")]),
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("DATABASE_POOL_SIZE"), "{msg}");
}

#[test]
fn the_environment_overrides_the_file() {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    writeln!(file, "database_url = \"postgres://from-file\"\nlisten_addr = \"127.0.0.1:9000\"\nlog_format = \"json\"").unwrap();
    let s = Settings::load(Some(file.path()), env(&[("LISTEN_ADDR", "127.0.0.1:9100")])).unwrap();
    assert_eq!(s.database_url.expose_secret(), "postgres://from-file");
    assert_eq!(s.listen_addr.to_string(), "127.0.0.1:9100");
    assert_eq!(s.log_format, LogFormat::Json);
    let missing = Settings::load(Some(std::path::Path::new("/nonexistent/x.toml")), env(&[]));
    assert!(missing.is_err());
}

#[test]
fn debug_output_redacts_every_secret() {
    let s = Settings::load(None, env(FLY)).unwrap();
    let dbg = format!("{s:?}");
    for secret in [
        "dbpass",
        "fo1_secret_token",
        "0123456789abcdef",
        "gateway-key",
        "admin:pw",
    ] {
        assert!(!dbg.contains(secret), "{secret} in {dbg}");
    }
}

#[test]
fn migrate_needs_only_the_database_url() {
    // A half-configured cloud (and a malformed setting migrate does not use) is no obstacle.
    let (url, format) = MigrateSettings::load(
        None,
        env(&[
            ("DATABASE_URL", "postgres://u:pw@db/x"),
            ("FLY_ENABLED", "true"),
            ("DATABASE_POOL_SIZE", "many"),
            ("LOG_FORMAT", "json"),
        ]),
    )
    .and_then(MigrateSettings::checked)
    .unwrap();
    assert_eq!(url.expose_secret(), "postgres://u:pw@db/x");
    assert_eq!(format, LogFormat::Json);
    let err = MigrateSettings::load(None, env(&[("FLY_ENABLED", "true")]))
        .and_then(MigrateSettings::checked)
        .unwrap_err()
        .to_string();
    assert!(err.contains("DATABASE_URL"), "{err}");
    let err = MigrateSettings::load(None, env(&[("DATABASE_URL", "x"), ("LOG_FORMAT", "xml")]))
        .and_then(MigrateSettings::checked)
        .unwrap_err()
        .to_string();
    assert!(err.contains("LOG_FORMAT"), "{err}");
}

#[test]
fn token_settings_read_only_the_jwt_settings() {
    let t = TokenSettings::load(
        None,
        env(&[
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("JWT_ISSUER", "iss"),
            ("FLY_ENABLED", "true"),
            ("LISTEN_ADDR", "nowhere"),
            ("DATABASE_POOL_SIZE", "many"),
        ]),
    )
    .unwrap();
    assert!(t.jwt_secret.is_some());
    assert_eq!(t.jwt_issuer.as_deref(), Some("iss"));
    assert_eq!(t.jwt_audience, None);
}

#[test]
fn tenant_machine_settings_are_read_and_checked() {
    let s = Settings::load(None, env(FLY)).unwrap();
    let fly = s.fly.unwrap();
    assert_eq!(fly.tenant_volume_mount_path, "/app/services");
    assert!(fly.tenant_extra_secrets.is_empty());

    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "SMTP_PASSWORD=extra-hunter2").unwrap();
    let path = file.path().display().to_string();
    let mut pairs = FLY.to_vec();
    pairs.push(("TENANT_VOLUME_MOUNT_PATH", "/data"));
    pairs.push(("TENANT_EXTRA_SECRETS_FILE", &path));
    let s = Settings::load(None, env(&pairs)).unwrap();
    let dbg = format!("{s:?}");
    assert!(!dbg.contains("extra-hunter2"), "{dbg}");
    let fly = s.fly.unwrap();
    assert_eq!(fly.tenant_volume_mount_path, "/data");
    assert_eq!(
        fly.tenant_extra_secrets["SMTP_PASSWORD"].expose_secret(),
        "extra-hunter2"
    );

    let mut pairs = FLY.to_vec();
    pairs.push(("TENANT_VOLUME_MOUNT_PATH", "relative"));
    let err = Settings::load(None, env(&pairs)).unwrap_err().to_string();
    assert!(err.contains("TENANT_VOLUME_MOUNT_PATH"), "{err}");
}
