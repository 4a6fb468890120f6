//! Log capture over a full create → push → deploy → secrets → delete flow: no secret ever reaches a log
//! line (Fly token, JWT secret, bearer tokens, gateway key, registry credential, tenant database
//! password, customer secret values), and lines logged during a request carry its request id.
//!
//! The capturing subscriber is process-global (actix serves on other threads): nextest runs every test in
//! its own process, so it sees this test's lines only.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mgmt_server::settings::LogFormat;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::cli_types::*;
use crate::helpers::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// mock-fly's digest of a secret value (it keeps no values).
fn mock_digest(value: &str) -> String {
    hex::encode(&Sha256::digest(value.as_bytes())[..8])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_log_line() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber =
        mgmt_server::telemetry::subscriber(LogFormat::Json, "debug", move || writer.clone(), false);
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let app = TestApp::spawn(Options::default()).await;
    let token = app.token(&user());
    let id = app.create_tenant(&token, "logged").await;
    app.wait_status(&token, &id, "awaiting_deploy", Duration::from_secs(30))
        .await;
    let cred: Data<RegistryToken> = decode(
        app.get(&format!("/api/v1/tenants/{id}/registry-token"), &token)
            .await,
    )
    .await;
    let cred = cred.data;
    push_image(
        &cred.registry,
        &cred.repository,
        &cred.tag,
        &cred.username,
        &cred.token,
    )
    .await;
    let image = format!("{}/{}:{}", cred.registry, cred.repository, cred.tag);
    let resp = app
        .call(
            Method::POST,
            &format!("/api/v1/tenants/{id}/deploy"),
            Some(&token),
            Some(&json!({"image": image})),
        )
        .await;
    assert!(resp.status().is_success());
    app.wait_status(&token, &id, "running", Duration::from_secs(30))
        .await;
    let secret_value = "customer-secret-value-8d1f";
    let resp = app
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{id}/secrets"),
            Some(&token),
            Some(&json!({"secrets": {"STRIPE_KEY": secret_value}})),
        )
        .await;
    assert!(resp.status().is_success());
    // A malformed secrets body must not echo its value either.
    let resp = app
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{id}/secrets"),
            Some(&token),
            Some(&json!({"secrets": secret_value})),
        )
        .await;
    assert_eq!(resp.status(), 422);

    // The tenant app's generated secrets, known to the mock only by digest.
    let mock = app.mock.as_ref().unwrap();
    let tenant = app
        .state
        .repos
        .tenants
        .get(mgmt_domain::TenantId::parse(&id).unwrap())
        .await
        .unwrap();
    let app_record = mock
        .state()
        .app(&tenant.fly_app_name)
        .cloned()
        .expect("tenant app");
    let generated: Vec<(String, String)> = app_record
        .secrets
        .values()
        .map(|s| (s.name.clone(), s.digest.clone()))
        .collect();
    assert!(
        generated.iter().any(|(n, _)| n == "DATABASE_URL"),
        "{generated:?}"
    );

    let resp = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tenants/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert!(resp.status().is_success());
    app.wait_status(&token, &id, "deleted", Duration::from_secs(30))
        .await;
    let mock_token = mock.token().to_owned();
    app.stop().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.lines().count() > 20,
        "too few log lines captured:\n{logs}"
    );
    let forbidden = [
        ("Fly token", mock_token.as_str()),
        ("JWT secret", JWT_SECRET),
        ("gateway signing key", GATEWAY_KEY),
        ("bearer token", token.as_str()),
        ("registry credential", cred.token.as_str()),
        ("customer secret value", secret_value),
    ];
    let role_with_password = format!("{}:", tenant.database_role);
    for line in logs.lines() {
        for (what, value) in forbidden {
            assert!(!line.contains(value), "{what} logged: {line}");
        }
        assert!(
            !line.contains(&role_with_password),
            "a tenant database URL with credentials was logged: {line}"
        );
        // Any word of the line that hashes to a generated app secret is that secret.
        for word in line.split(|c: char| {
            c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '\\' | '{' | '}' | '=' | '`')
        }) {
            if word.len() >= 8 {
                let d = mock_digest(word);
                if let Some((name, _)) = generated.iter().find(|(_, g)| *g == d) {
                    panic!("app secret {name} logged: {line}");
                }
            }
        }
    }
    let created: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("tenant created"))
        .collect();
    assert!(!created.is_empty());
    assert!(
        created.iter().all(|l| l.contains("request_id")),
        "request id missing: {created:?}"
    );
}
