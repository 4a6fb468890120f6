//! Settings: defaults, the seed's variable names, file + environment layering, and errors that name
//! the variable without echoing its value.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use mgmt_registry_gateway::limits::GatewayLimits;
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
    ("TENANT_DB_HOST", "db.acme.dev:5432"),
    (
        "TENANT_DB_ADMIN_URL",
        "postgres://admin:pw@acme-db.internal/postgres",
    ),
    ("GATEWAY_PUBLIC_HOST", "registry.acme.dev"),
    ("GATEWAY_SIGNING_KEY", GATEWAY_KEY),
    ("SECRETS_ENCRYPTION_KEYS", SEALING_KEYS),
];

/// Two 32-byte keys (the first seals).
const SEALING_KEYS: &str = "k2:c2VhbGluZy1rZXktdHdvLTAxMjM0NTY3ODlhYmNkZWY=,k1:c2VhbGluZy1rZXktb25lLTAxMjM0NTY3ODlhYmNkZWY=";

/// 40 bytes, distinct from `JWT_SECRET` above.
const GATEWAY_KEY: &str = "gateway-key-0123456789-abcdefghijklmnopq";

#[test]
fn defaults_apply_and_fly_is_off() {
    let s = Settings::load(None, env(&[("DATABASE_URL", "postgres://x")])).unwrap();
    assert!(s.fly.is_none());
    assert_eq!(s.listen_addr.to_string(), "127.0.0.1:8080");
    assert_eq!(s.log_format, LogFormat::Pretty);
    assert!(s.migrate_on_start && s.workers_enabled);
    assert_eq!(s.customer_policy, CustomerPolicy::CreateOnFirstUse);
    assert_eq!(s.database_pool_recycle, mgmt_persistence::Recycle::Fast);
}

#[test]
fn the_seeds_variable_names_configure_fly() {
    let s = Settings::load(None, env(FLY)).unwrap();
    let fly = s.fly.unwrap();
    assert_eq!(fly.shared_registry_app, "acme-images");
    assert_eq!(fly.tenant_db_host, "db.acme.dev:5432");
    // Without it the cloud does not start: the `.internal` name tenants used to get is on a network they
    // are no longer on.
    let without: Vec<_> = FLY
        .iter()
        .copied()
        .filter(|(k, _)| *k != "TENANT_DB_HOST")
        .collect();
    let err = Settings::load(None, env(&without)).unwrap_err();
    assert!(format!("{err:#}").contains("TENANT_DB_HOST"), "{err:#}");
    assert_eq!(fly.machines_api_url, "https://api.machines.dev/v1");
    assert_eq!(fly.registry_password.expose_secret(), "fo1_secret_token");
    assert_eq!(fly.gateway_listen_addr.to_string(), "127.0.0.1:5000");
    assert_eq!(fly.secrets_keyring.current_key_id(), "k2");
    assert_eq!(
        fly.secrets_keyring.key_ids().collect::<Vec<_>>(),
        ["k2", "k1"]
    );
    assert_eq!(fly.tenant_db_public_endpoint, None);
}

#[test]
fn credential_settings_are_checked_without_echoing_keys() {
    let with = |pairs: &[(&'static str, &'static str)]| {
        let mut all: Vec<(&str, &str)> = FLY
            .iter()
            .copied()
            .filter(|(k, _)| !pairs.iter().any(|(p, _)| p == k))
            .collect();
        all.extend_from_slice(pairs);
        Settings::load(None, env(&all))
    };
    let err = with(&[("SECRETS_ENCRYPTION_KEYS", "k1:c2hvcnQta2V5LW1hdGVyaWFs")])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("SECRETS_ENCRYPTION_KEYS: "), "{err}");
    assert!(!err.contains("c2hvcnQta2V5"), "{err}");
    let err = with(&[("TENANT_DB_PUBLIC_ENDPOINT", "db.example.com")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("TENANT_DB_PUBLIC_ENDPOINT"), "{err}");
    let fly = with(&[("TENANT_DB_PUBLIC_ENDPOINT", "db.example.com:5432")])
        .unwrap()
        .fly
        .unwrap();
    assert_eq!(
        fly.tenant_db_public_endpoint.as_deref(),
        Some("db.example.com:5432")
    );
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
        "SECRETS_ENCRYPTION_KEYS",
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
        GATEWAY_KEY,
        "admin:pw",
        "c2VhbGluZy1rZXkt",
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
    assert_eq!(
        fly.tenant_volume_mount_path,
        mgmt_domain::DEFAULT_VOLUME_MOUNT_PATH
    );
    assert!(fly.tenant_extra_secrets.is_empty());
    assert_eq!(fly.deploy_health_timeout, Duration::from_secs(120));
    assert_eq!(fly.deploy_health_grace, Duration::from_secs(10));
    let mut pairs = FLY.to_vec();
    pairs.push(("DEPLOY_HEALTH_TIMEOUT_SECS", "300"));
    pairs.push(("DEPLOY_HEALTH_GRACE_SECS", "0"));
    let fly = Settings::load(None, env(&pairs)).unwrap().fly.unwrap();
    assert_eq!(fly.deploy_health_timeout, Duration::from_secs(300));
    assert_eq!(fly.deploy_health_grace, Duration::ZERO);
    for (name, bad) in [
        ("DEPLOY_HEALTH_TIMEOUT_SECS", "5"),
        ("DEPLOY_HEALTH_TIMEOUT_SECS", "99999"),
        ("DEPLOY_HEALTH_GRACE_SECS", "601"),
    ] {
        let mut pairs = FLY.to_vec();
        pairs.push((name, bad));
        let err = Settings::load(None, env(&pairs)).unwrap_err();
        assert!(
            format!("{err:#}")
                .to_lowercase()
                .contains(&name.to_lowercase()),
            "{name}: {err:#}"
        );
    }

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

/// `FLY` with `overrides` replacing (or adding) variables.
fn fly_with(overrides: &[(&str, &str)]) -> Option<HashMap<String, String>> {
    let mut map = env(FLY).unwrap();
    for (k, v) in overrides {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    Some(map)
}

fn fly_error(overrides: &[(&str, &str)]) -> String {
    Settings::load(None, fly_with(overrides))
        .unwrap_err()
        .to_string()
}

#[test]
fn a_short_gateway_signing_key_is_refused_without_echoing_it() {
    let short = "gw-key-31-bytes-long-0123456789"; // 31 bytes
    assert_eq!(short.len(), MIN_SIGNING_KEY_BYTES - 1);
    let err = fly_error(&[("GATEWAY_SIGNING_KEY", short)]);
    assert!(
        err.contains("GATEWAY_SIGNING_KEY") && err.contains("32"),
        "{err}"
    );
    assert!(!err.contains(short) && !err.contains("gw-key"), "{err}");
    let err = fly_error(&[("GATEWAY_SIGNING_KEY", "gateway-key")]);
    assert!(
        err.contains("GATEWAY_SIGNING_KEY") && !err.contains("gateway-key"),
        "{err}"
    );

    // Exactly 32 bytes is enough.
    let key = "gw-key-32-bytes-long-0123456789a";
    let s = Settings::load(None, fly_with(&[("GATEWAY_SIGNING_KEY", key)])).unwrap();
    assert_eq!(s.fly.unwrap().gateway_signing_key.expose_secret(), key);
}

#[test]
fn a_gateway_signing_key_equal_to_jwt_secret_is_refused_without_echoing_either() {
    let shared = "shared-secret-0123456789-abcdefghijklmn";
    let err = fly_error(&[("JWT_SECRET", shared), ("GATEWAY_SIGNING_KEY", shared)]);
    assert!(
        err.contains("GATEWAY_SIGNING_KEY") && err.contains("JWT_SECRET"),
        "{err}"
    );
    assert!(
        !err.contains(shared) && !err.contains("shared-secret"),
        "{err}"
    );

    // Without an HS256 secret (public keys verify user tokens) any long key is fine.
    let mut pairs = env(FLY).unwrap();
    pairs.remove("JWT_SECRET");
    pairs.insert(
        "JWT_PUBLIC_KEY_PEM".into(),
        "-----BEGIN PUBLIC KEY-----".into(),
    );
    assert!(Settings::load(None, Some(pairs)).is_ok());
}

#[test]
fn the_credential_ttl_is_checked_not_clamped() {
    let fly = Settings::load(None, env(FLY)).unwrap().fly.unwrap();
    assert_eq!(fly.gateway_credential_ttl, Duration::from_secs(3600));
    for ok in ["60", "86400"] {
        let fly = Settings::load(None, fly_with(&[("GATEWAY_CREDENTIAL_TTL_SECS", ok)]))
            .unwrap()
            .fly
            .unwrap();
        assert_eq!(fly.gateway_credential_ttl.as_secs().to_string(), ok);
    }
    for bad in ["59", "86401", "0"] {
        let err = fly_error(&[("GATEWAY_CREDENTIAL_TTL_SECS", bad)]);
        assert!(err.contains("GATEWAY_CREDENTIAL_TTL_SECS"), "{bad}: {err}");
    }
    let err = fly_error(&[("GATEWAY_CREDENTIAL_TTL_SECS", "-5")]);
    assert!(err.contains("GATEWAY_CREDENTIAL_TTL_SECS"), "{err}");
}

#[test]
fn gateway_limits_default_to_the_gateways_own_defaults() {
    let fly = Settings::load(None, env(FLY)).unwrap().fly.unwrap();
    assert_eq!(fly.gateway_limits, GatewayLimits::default());
}

#[test]
fn each_gateway_limit_is_read() {
    let s = Settings::load(
        None,
        fly_with(&[
            ("GATEWAY_MAX_TENANT_BYTES", "5368709120"),
            ("GATEWAY_QUOTA_WINDOW_SECS", "7200"),
            ("GATEWAY_MAX_BLOB_BYTES", "1073741824"),
            ("GATEWAY_MAX_MANIFEST_BYTES", "1048576"),
            ("GATEWAY_MAX_BUFFERED_MANIFEST_BYTES", "8388608"),
            ("GATEWAY_MAX_CONCURRENT_UPLOADS", "4"),
            ("GATEWAY_UPLOAD_IDLE_TIMEOUT_SECS", "300"),
            ("GATEWAY_REQUESTS_PER_SECOND", "10"),
            ("GATEWAY_REQUEST_BURST", "40"),
        ]),
    )
    .unwrap();
    assert_eq!(
        s.fly.unwrap().gateway_limits,
        GatewayLimits {
            max_tenant_bytes: 5 * 1024 * 1024 * 1024,
            quota_window: Duration::from_secs(7200),
            max_blob_bytes: 1024 * 1024 * 1024,
            max_manifest_bytes: 1024 * 1024,
            max_buffered_manifest_bytes: 8 * 1024 * 1024,
            max_concurrent_uploads: 4,
            upload_idle_timeout: Duration::from_secs(300),
            requests_per_second: 10,
            request_burst: 40,
        }
    );

    // The bounds themselves are accepted.
    let s = Settings::load(
        None,
        fly_with(&[
            ("GATEWAY_MAX_TENANT_BYTES", "1048576"),
            ("GATEWAY_MAX_BLOB_BYTES", "1048576"),
            ("GATEWAY_MAX_MANIFEST_BYTES", "4096"),
            ("GATEWAY_MAX_BUFFERED_MANIFEST_BYTES", "4096"),
            ("GATEWAY_MAX_CONCURRENT_UPLOADS", "1000"),
            ("GATEWAY_UPLOAD_IDLE_TIMEOUT_SECS", "86400"),
            ("GATEWAY_REQUESTS_PER_SECOND", "100000"),
            ("GATEWAY_REQUEST_BURST", "100000"),
        ]),
    )
    .unwrap();
    let limits = s.fly.unwrap().gateway_limits;
    assert_eq!(limits.max_blob_bytes, limits.max_tenant_bytes);
    assert_eq!(limits.max_buffered_manifest_bytes, 4096);
    assert_eq!(limits.upload_idle_timeout, Duration::from_secs(86_400));
    assert_eq!(limits.request_burst, limits.requests_per_second);
    let s = Settings::load(
        None,
        fly_with(&[
            ("GATEWAY_MAX_BLOB_BYTES", "1024"),
            ("GATEWAY_MAX_MANIFEST_BYTES", "16777216"),
            ("GATEWAY_MAX_BUFFERED_MANIFEST_BYTES", "16777216"),
            ("GATEWAY_MAX_CONCURRENT_UPLOADS", "1"),
            ("GATEWAY_UPLOAD_IDLE_TIMEOUT_SECS", "60"),
            ("GATEWAY_REQUESTS_PER_SECOND", "1"),
            ("GATEWAY_REQUEST_BURST", "1"),
        ]),
    )
    .unwrap();
    let limits = s.fly.unwrap().gateway_limits;
    assert_eq!(limits.max_blob_bytes, 1024);
    assert_eq!(limits.max_manifest_bytes, 16 * 1024 * 1024);
    assert_eq!(limits.max_concurrent_uploads, 1);
    assert_eq!(limits.upload_idle_timeout, Duration::from_secs(60));
}

#[test]
fn each_out_of_range_gateway_limit_is_refused_and_named() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "GATEWAY_MAX_TENANT_BYTES",
            &[("GATEWAY_MAX_TENANT_BYTES", "1048575")],
        ),
        (
            "GATEWAY_QUOTA_WINDOW_SECS",
            &[("GATEWAY_QUOTA_WINDOW_SECS", "3599")],
        ),
        (
            "GATEWAY_QUOTA_WINDOW_SECS",
            &[("GATEWAY_QUOTA_WINDOW_SECS", "2592001")],
        ),
        (
            "GATEWAY_MAX_BLOB_BYTES",
            &[("GATEWAY_MAX_BLOB_BYTES", "1023")],
        ),
        (
            "GATEWAY_MAX_BLOB_BYTES",
            &[
                ("GATEWAY_MAX_TENANT_BYTES", "2097152"),
                ("GATEWAY_MAX_BLOB_BYTES", "2097153"),
            ],
        ),
        // The default blob limit (2 GiB) above a smaller tenant quota is refused, not lowered.
        (
            "GATEWAY_MAX_BLOB_BYTES",
            &[("GATEWAY_MAX_TENANT_BYTES", "1073741824")],
        ),
        (
            "GATEWAY_MAX_MANIFEST_BYTES",
            &[("GATEWAY_MAX_MANIFEST_BYTES", "4095")],
        ),
        (
            "GATEWAY_MAX_MANIFEST_BYTES",
            &[
                ("GATEWAY_MAX_MANIFEST_BYTES", "16777217"),
                ("GATEWAY_MAX_BUFFERED_MANIFEST_BYTES", "33554432"),
            ],
        ),
        (
            "GATEWAY_MAX_BUFFERED_MANIFEST_BYTES",
            &[("GATEWAY_MAX_BUFFERED_MANIFEST_BYTES", "4194303")],
        ),
        (
            "GATEWAY_MAX_BUFFERED_MANIFEST_BYTES",
            &[
                ("GATEWAY_MAX_MANIFEST_BYTES", "8388608"),
                ("GATEWAY_MAX_BUFFERED_MANIFEST_BYTES", "8388607"),
            ],
        ),
        (
            "GATEWAY_MAX_CONCURRENT_UPLOADS",
            &[("GATEWAY_MAX_CONCURRENT_UPLOADS", "0")],
        ),
        (
            "GATEWAY_MAX_CONCURRENT_UPLOADS",
            &[("GATEWAY_MAX_CONCURRENT_UPLOADS", "1001")],
        ),
        (
            "GATEWAY_UPLOAD_IDLE_TIMEOUT_SECS",
            &[("GATEWAY_UPLOAD_IDLE_TIMEOUT_SECS", "59")],
        ),
        (
            "GATEWAY_UPLOAD_IDLE_TIMEOUT_SECS",
            &[("GATEWAY_UPLOAD_IDLE_TIMEOUT_SECS", "86401")],
        ),
        (
            "GATEWAY_REQUESTS_PER_SECOND",
            &[("GATEWAY_REQUESTS_PER_SECOND", "0")],
        ),
        (
            "GATEWAY_REQUESTS_PER_SECOND",
            &[
                ("GATEWAY_REQUESTS_PER_SECOND", "100001"),
                ("GATEWAY_REQUEST_BURST", "200000"),
            ],
        ),
        // The default burst (200) below a higher rate is refused, not raised.
        (
            "GATEWAY_REQUEST_BURST",
            &[("GATEWAY_REQUESTS_PER_SECOND", "201")],
        ),
        (
            "GATEWAY_REQUEST_BURST",
            &[
                ("GATEWAY_REQUESTS_PER_SECOND", "10"),
                ("GATEWAY_REQUEST_BURST", "9"),
            ],
        ),
        (
            "GATEWAY_REQUEST_BURST",
            &[("GATEWAY_REQUEST_BURST", "4294967296")],
        ),
        // Not a number at all, or negative: named as well.
        (
            "GATEWAY_MAX_TENANT_BYTES",
            &[("GATEWAY_MAX_TENANT_BYTES", "10GiB")],
        ),
        (
            "GATEWAY_MAX_CONCURRENT_UPLOADS",
            &[("GATEWAY_MAX_CONCURRENT_UPLOADS", "-1")],
        ),
    ];
    for (var, overrides) in cases {
        let err = fly_error(overrides);
        assert!(err.contains(var), "{overrides:?}: {err}");
        assert!(!err.contains(GATEWAY_KEY), "{overrides:?}: {err}");
    }
}

#[test]
fn gateway_limits_are_not_checked_without_the_cloud() {
    // Like every gateway setting, they only matter when the gateway runs.
    let s = Settings::load(
        None,
        env(&[
            ("DATABASE_URL", "postgres://x"),
            ("GATEWAY_MAX_CONCURRENT_UPLOADS", "0"),
            ("GATEWAY_CREDENTIAL_TTL_SECS", "1"),
            ("GATEWAY_SIGNING_KEY", "short"),
        ]),
    )
    .unwrap();
    assert!(s.fly.is_none());
}

#[test]
fn gateway_errors_never_contain_the_signing_key() {
    for overrides in [
        &[("GATEWAY_CREDENTIAL_TTL_SECS", "59")][..],
        &[("GATEWAY_MAX_CONCURRENT_UPLOADS", "0")],
        &[("GATEWAY_REQUEST_BURST", "1")],
        &[("GATEWAY_MAX_MANIFEST_BYTES", "1")],
    ] {
        let err = fly_error(overrides);
        assert!(!err.contains(GATEWAY_KEY), "{err}");
        assert!(!err.contains("0123456789abcdef0123456789abcdef"), "{err}");
    }
}

/// `DATABASE_URL` plus `pairs`.
fn with_db(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
    let mut map = env(pairs).unwrap();
    map.insert("DATABASE_URL".into(), "postgres://x".into());
    Some(map)
}

#[test]
fn formerly_clamped_values_are_refused_and_named() {
    // WORKER_COUNT, EVENT_POLL_INTERVAL_MS, EVENT_HEARTBEAT_SECS and DEPLOY_ANSWER_WITHIN_MS used to be
    // silently raised or lowered into range; DATABASE_POOL_SIZE=0 was already refused.
    for (var, bad, accepted) in [
        ("WORKER_COUNT", "0", "at least 1"),
        ("EVENT_POLL_INTERVAL_MS", "9", "at least 10"),
        ("EVENT_POLL_INTERVAL_MS", "0", "at least 10"),
        ("EVENT_HEARTBEAT_SECS", "0", "at least 1"),
        ("DEPLOY_ANSWER_WITHIN_MS", "99", "100 to 25000"),
        ("DEPLOY_ANSWER_WITHIN_MS", "25001", "100 to 25000"),
        ("DATABASE_POOL_SIZE", "0", "at least 1"),
    ] {
        let err = Settings::load(None, with_db(&[(var, bad)]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("{var}: {bad} is out of range: {accepted}"),
            "{var}={bad}"
        );
    }
    for (var, bad) in [
        ("WORKER_COUNT", "-1"),
        ("EVENT_HEARTBEAT_SECS", "soon"),
        ("DEPLOY_ANSWER_WITHIN_MS", "2s"),
    ] {
        let err = Settings::load(None, with_db(&[(var, bad)]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(var), "{var}={bad}: {err}");
    }
}

#[test]
fn the_bounds_of_each_range_are_accepted() {
    let s = Settings::load(
        None,
        with_db(&[
            ("WORKER_COUNT", "1"),
            ("DATABASE_POOL_SIZE", "1"),
            ("EVENT_POLL_INTERVAL_MS", "10"),
            ("EVENT_HEARTBEAT_SECS", "1"),
            ("DEPLOY_ANSWER_WITHIN_MS", "100"),
        ]),
    )
    .unwrap();
    assert_eq!((s.worker_count, s.database_pool_size), (1, 1));
    assert_eq!(s.event_poll_interval, Duration::from_millis(10));
    assert_eq!(s.event_heartbeat, Duration::from_secs(1));
    assert_eq!(s.deploy_answer_within, Duration::from_millis(100));
    let s = Settings::load(None, with_db(&[("DEPLOY_ANSWER_WITHIN_MS", "25000")])).unwrap();
    assert_eq!(s.deploy_answer_within, Duration::from_secs(25));
}

#[test]
fn durations_are_read_in_the_unit_their_variable_names() {
    let s = Settings::load(None, with_db(&[])).unwrap();
    assert_eq!(s.event_poll_interval, Duration::from_millis(500));
    assert_eq!(s.event_heartbeat, Duration::from_secs(15));
    assert_eq!(s.deploy_answer_within, Duration::from_secs(2));
    assert_eq!(s.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(s.customer_cache_ttl, Duration::from_secs(30));
    assert_eq!((s.worker_count, s.database_pool_size), (2, 16));
    let s = Settings::load(
        None,
        with_db(&[
            ("EVENT_POLL_INTERVAL_MS", "1500"),
            ("SHUTDOWN_TIMEOUT_SECS", "0"),
            ("AUTH_CUSTOMER_CACHE_SECS", "0"),
        ]),
    )
    .unwrap();
    assert_eq!(s.event_poll_interval, Duration::from_millis(1500));
    assert_eq!(s.shutdown_timeout, Duration::ZERO);
    assert_eq!(s.customer_cache_ttl, Duration::ZERO);
}

#[test]
fn enums_and_addresses_are_read_typed_and_named_without_echoing_the_value() {
    let s = Settings::load(
        None,
        with_db(&[
            ("DATABASE_POOL_RECYCLE", "verified"),
            ("LOG_FORMAT", "json"),
            ("LISTEN_ADDR", "[::1]:9000"),
        ]),
    )
    .unwrap();
    assert_eq!(s.database_pool_recycle, mgmt_persistence::Recycle::Verified);
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(s.listen_addr, "[::1]:9000".parse().unwrap());
    for (var, expected) in [
        ("LOG_FORMAT", "`json` or `pretty`"),
        ("DATABASE_POOL_RECYCLE", "`fast` or `verified`"),
    ] {
        let err = Settings::load(None, with_db(&[(var, "hunter2-secret")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(var) && err.contains(expected) && !err.contains("hunter2"),
            "{var}: {err}"
        );
    }
    for var in ["LISTEN_ADDR", "GATEWAY_LISTEN_ADDR"] {
        let err = Settings::load(None, with_db(&[(var, "hunter2-secret")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(var) && !err.contains("hunter2"),
            "{var}: {err}"
        );
    }
}

#[test]
fn a_malformed_settings_file_is_named_without_echoing_its_lines() {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    writeln!(file, "fly_api_token = hunter2-secret").unwrap();
    let err = Settings::load(Some(file.path()), with_db(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("settings file") && err.contains("line 1") && !err.contains("hunter2"),
        "{err}"
    );
}

#[test]
fn an_unreadable_file_keeps_the_io_error_as_the_source() {
    let err = Settings::load(
        None,
        with_db(&[("JWT_JWKS_FILE", "/nonexistent/jwks.json")]),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("JWT_JWKS_FILE"), "{err}");
    let source = std::error::Error::source(&err).expect("the I/O error is kept");
    assert!(source.to_string().contains("No such file"), "{source}");
}

#[test]
fn dns_defaults_to_none_and_cloudflare_needs_its_token_and_zone() {
    let s = Settings::load(None, fly_with(&[])).unwrap();
    assert!(s.fly.unwrap().dns.is_none());

    let err = fly_error(&[("DNS_PROVIDER", "cloudflare")]);
    assert!(err.contains("CLOUDFLARE_API_TOKEN"), "{err}");
    let err = fly_error(&[
        ("DNS_PROVIDER", "cloudflare"),
        ("CLOUDFLARE_API_TOKEN", "cf-secret-token"),
    ]);
    assert!(
        err.contains("CLOUDFLARE_ZONE_ID") && !err.contains("cf-secret-token"),
        "{err}"
    );
    let err = fly_error(&[("DNS_PROVIDER", "route53")]);
    assert!(
        err.contains("DNS_PROVIDER") || err.contains("dns_provider"),
        "{err}"
    );

    let s = Settings::load(
        None,
        fly_with(&[
            ("DNS_PROVIDER", "cloudflare"),
            ("CLOUDFLARE_API_TOKEN", "cf-secret-token"),
            ("CLOUDFLARE_ZONE_ID", "023e105f4ecef8ad9ca31a8372d0c353"),
        ]),
    )
    .unwrap();
    let dns = s.fly.unwrap().dns.unwrap();
    assert_eq!(dns.api_url, "https://api.cloudflare.com/client/v4");
    assert_eq!(dns.zone_id, "023e105f4ecef8ad9ca31a8372d0c353");
    assert_eq!(dns.api_token.expose_secret(), "cf-secret-token");
    assert!(!format!("{dns:?}").contains("cf-secret-token"));
}
