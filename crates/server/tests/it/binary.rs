//! The `management-api` binary itself: `token mint`, `migrate`, and a start-up refused with a message
//! naming the missing setting.

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_management-api"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    c
}

#[test]
fn token_mint_prints_a_jwt_and_is_refused_without_a_secret() {
    let out = bin()
        .env("JWT_SECRET", "0123456789abcdef0123456789abcdef")
        .args([
            "token",
            "mint",
            "--sub",
            "u1",
            "--email",
            "u1@example.com",
            "--ttl",
            "60",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    assert_eq!(token.trim().split('.').count(), 3, "{token}");

    // Only the JWT settings matter: a half-configured cloud, no database, a malformed pool size.
    let out = bin()
        .env("JWT_SECRET", "0123456789abcdef0123456789abcdef")
        .env("FLY_ENABLED", "true")
        .env("DATABASE_POOL_SIZE", "many")
        .args(["token", "mint", "--sub", "u1", "--email", "u1@example.com"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = bin()
        .args(["token", "mint", "--sub", "u1", "--email", "u1@example.com"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("JWT_SECRET"));
}

#[test]
fn serve_names_the_missing_setting() {
    let out = bin()
        .env("FLY_ENABLED", "true")
        .env("DATABASE_URL", "postgres://x")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("FLY_API_TOKEN is required when FLY_ENABLED=true"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_applies_the_migrations_to_an_empty_database() {
    let db = mgmt_test_support::db::TestDatabase::empty().await.unwrap();
    let out = bin()
        .env("DATABASE_URL", db.url())
        .env("LOG_FORMAT", "json")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Pretty logs (the default) into a pipe carry no colour escape codes.
    let pretty = bin()
        .env("DATABASE_URL", db.url())
        .arg("migrate")
        .output()
        .unwrap();
    assert!(pretty.status.success());
    let logs = String::from_utf8_lossy(&pretty.stdout);
    assert!(logs.contains("migrations applied"), "{logs}");
    assert!(
        !logs.contains('\x1b'),
        "ANSI escapes in piped logs: {logs:?}"
    );

    // Running it again is a no-op that succeeds; it needs DATABASE_URL only, whatever else is
    // (not) configured.
    let again = bin()
        .env("DATABASE_URL", db.url())
        .env("FLY_ENABLED", "true")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let out = bin()
        .env("FLY_ENABLED", "true")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DATABASE_URL is required"), "{err}");
}
