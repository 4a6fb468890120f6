//! The tenant credential endpoints through the real server: the `secrets_url` target (bare
//! `TenantSecrets`), `rotate-credentials` (bare `RotateCredentials`), `external-db-access`
//! (`{data: ExternalDbAccess}`) and the masked `database_url` of `/auth/me`, decoded as strictly as the
//! CLI decodes them; who may call them and when; the sealed values in the database; and the logs.
//!
//! The log capture test installs a process-global subscriber: nextest runs each test in its own process.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mgmt_domain::{Tenant, TenantId};
use mgmt_server::settings::LogFormat;
use reqwest::Method;
use serde_json::json;

use crate::cli_types::*;
use crate::helpers::*;

const T: Duration = Duration::from_secs(30);

fn credentials_path(id: &str) -> String {
    format!("/api/v1/tenants/{id}/credentials")
}

fn rotate_path(id: &str) -> String {
    format!("/api/v1/tenants/{id}/rotate-credentials")
}

fn external_path(id: &str) -> String {
    format!("/api/v1/tenants/{id}/external-db-access")
}

async fn tenant(app: &TestApp, id: &str) -> Tenant {
    app.state
        .repos
        .tenants
        .get(TenantId::parse(id).unwrap())
        .await
        .unwrap()
}

async fn provisioned(app: &TestApp, token: &str, name: &str) -> (String, Tenant) {
    let id = app.create_tenant(token, name).await;
    app.wait_status(token, &id, "awaiting_deploy", T).await;
    let t = tenant(app, &id).await;
    (id, t)
}

async fn get_credentials(app: &TestApp, token: &str, id: &str) -> TenantSecrets {
    let resp = app.get(&credentials_path(id), token).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    decode(resp).await
}

async fn put_external(app: &TestApp, token: &str, id: &str, enabled: bool) -> reqwest::Response {
    app.call(
        Method::PUT,
        &external_path(id),
        Some(token),
        Some(&json!({ "enabled": enabled })),
    )
    .await
}

/// The password inside `postgres://{role}:{password}@...`.
fn password_of(url: &str, t: &Tenant) -> String {
    url.strip_prefix(&format!("postgres://{}:", t.database_role))
        .and_then(|rest| rest.split_once('@'))
        .map(|(p, _)| p.to_owned())
        .unwrap_or_else(|| panic!("not a URL of role {}: {url}", t.database_role))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_rotation_and_external_access_answer_the_clis_shapes() {
    let app = TestApp::spawn(Options::default()).await;
    let token = app.token(&user());
    let (id, t) = provisioned(&app, &token, "creds").await;

    // The secrets_url target: bare, every field a string, the internal URL in both URL fields.
    let creds = get_credentials(&app, &token, &id).await;
    let password = password_of(&creds.internal_database_url, &t);
    assert_eq!(password.len(), 32);
    assert_eq!(
        creds.internal_database_url,
        format!(
            "postgres://{}:{password}@127.0.0.1:5432/{}",
            t.database_role, t.database_name
        )
    );
    assert_eq!(creds.database_url, creds.internal_database_url);
    assert_eq!(creds.jwt_secret.len(), 64);
    assert_eq!(creds.app_url, format!("https://{}", t.hostname));

    // Kept sealed: the stored ciphertexts hold neither value.
    let sealed = app.state.repos.tenant_credentials.list(t.id).await.unwrap();
    assert_eq!(sealed.len(), 2);
    for s in &sealed {
        for plain in [password.as_bytes(), creds.jwt_secret.as_bytes()] {
            assert!(
                !s.ciphertext.windows(plain.len()).any(|w| w == plain),
                "{} stored in plaintext",
                s.name
            );
        }
        assert_eq!(s.key_id, "test");
    }

    // /auth/me: the one masked form the CLI recognises, and the access flag.
    let me: Me = decode(app.get("/api/v1/auth/me", &token).await).await;
    let info = me.tenants.iter().find(|i| i.id == id).unwrap();
    assert_eq!(
        info.database_url,
        format!(
            "postgres://{}:********@127.0.0.1:5432/{}",
            t.database_role, t.database_name
        )
    );
    assert!(!info.external_db_access);

    // Rotation: bare, new password, the credentials endpoint follows.
    let resp = app
        .call(Method::POST, &rotate_path(&id), Some(&token), None)
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let rotated: RotateCredentials = decode(resp).await;
    assert_eq!(rotated.status, "rotated");
    assert!(rotated.message.contains("rotated"), "{}", rotated.message);
    let new_password = password_of(&rotated.internal_database_url, &t);
    assert_ne!(new_password, password);
    assert_eq!(rotated.external_database_url, rotated.internal_database_url);
    let after = get_credentials(&app, &token, &id).await;
    assert_eq!(after.internal_database_url, rotated.internal_database_url);
    assert_eq!(after.jwt_secret, creds.jwt_secret);

    // External access: this server has no public endpoint, so enabling is refused (nothing recorded);
    // disabling answers the internal URL.
    let e = expect_error(put_external(&app, &token, &id, true).await, 409).await;
    assert_eq!(e.code, "not_configured");
    assert!(
        e.message.contains("public database endpoint"),
        "{}",
        e.message
    );
    let resp = put_external(&app, &token, &id, false).await;
    assert_eq!(resp.status(), 200);
    let off: Data<ExternalDbAccess> = decode(resp).await;
    assert_eq!(off.data.tenant_id, id);
    assert!(!off.data.external_db_access);
    assert_eq!(off.data.database_url, rotated.internal_database_url);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_access_with_a_public_endpoint() {
    let app = TestApp::spawn(Options {
        env: vec![("TENANT_DB_PUBLIC_ENDPOINT", "db.public.test:6432".into())],
        ..Options::default()
    })
    .await;
    let token = app.token(&user());
    let (id, t) = provisioned(&app, &token, "outside").await;
    let internal = get_credentials(&app, &token, &id)
        .await
        .internal_database_url;
    let password = password_of(&internal, &t);
    let external = format!(
        "postgres://{}:{password}@db.public.test:6432/{}?sslmode=require",
        t.database_role, t.database_name
    );

    let resp = put_external(&app, &token, &id, true).await;
    assert_eq!(resp.status(), 200);
    let on: Data<ExternalDbAccess> = decode(resp).await;
    assert!(on.data.external_db_access);
    assert_eq!(on.data.database_url, external);

    let creds = get_credentials(&app, &token, &id).await;
    assert_eq!(creds.database_url, external);
    assert_eq!(creds.internal_database_url, internal);
    let me: Me = decode(app.get("/api/v1/auth/me", &token).await).await;
    let info = me.tenants.iter().find(|i| i.id == id).unwrap();
    assert!(info.external_db_access);
    assert!(
        info.database_url.contains(":********@"),
        "{}",
        info.database_url
    );

    let rotated: RotateCredentials = decode(
        app.call(Method::POST, &rotate_path(&id), Some(&token), None)
            .await,
    )
    .await;
    let new_password = password_of(&rotated.internal_database_url, &t);
    assert_eq!(
        rotated.external_database_url,
        format!(
            "postgres://{}:{new_password}@db.public.test:6432/{}?sslmode=require",
            t.database_role, t.database_name
        )
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_once_provisioned_and_only_well_formed_requests() {
    let app = TestApp::spawn(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    let token = app.token(&user());
    let id = app.create_tenant(&token, "early").await;

    // Without workers the tenant stays pending: nothing to hand out yet.
    let e = expect_error(app.get(&credentials_path(&id), &token).await, 409).await;
    assert_eq!(e.code, "tenant_not_ready");
    assert!(e.message.contains("pending"), "{}", e.message);
    let e = expect_error(
        app.call(Method::POST, &rotate_path(&id), Some(&token), None)
            .await,
        409,
    )
    .await;
    assert_eq!(e.code, "tenant_not_ready");
    let e = expect_error(put_external(&app, &token, &id, false).await, 409).await;
    assert_eq!(e.code, "tenant_not_ready");

    // Another customer's tenant and a missing one look the same.
    let stranger = app.token(&user());
    let missing = TenantId::new_random().to_string();
    for (who, tenant) in [(&stranger, &id), (&token, &missing)] {
        for resp in [
            app.get(&credentials_path(tenant), who).await,
            app.call(Method::POST, &rotate_path(tenant), Some(who), None)
                .await,
            put_external(&app, who, tenant, true).await,
        ] {
            let e = expect_error(resp, 404).await;
            assert_eq!(e.code, "tenant_not_found");
        }
    }

    // No token; a malformed id; bodies of the wrong shape.
    let resp = app
        .call(Method::GET, &credentials_path(&id), None, None)
        .await;
    assert_eq!(resp.status(), 401);
    let e = expect_error(app.get(&credentials_path("not-an-id"), &token).await, 400).await;
    assert_eq!(e.code, "invalid_tenant_id");
    for (body, status) in [
        (json!({}), 422),
        (json!({"enabled": "yes"}), 422),
        (json!({"enabled": null}), 422),
        (json!({"enabled": true, "region": "fra"}), 422),
    ] {
        let resp = app
            .call(Method::PUT, &external_path(&id), Some(&token), Some(&body))
            .await;
        expect_error(resp, status).await;
    }
    let resp = app
        .http
        .put(app.url(&external_path(&id)))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"enabled\": tru")
        .send()
        .await
        .unwrap();
    let e = expect_error(resp, 400).await;
    assert_eq!(e.code, "malformed_json");
    let resp = app
        .http
        .put(app.url(&external_path(&id)))
        .bearer_auth(&token)
        .body("{\"enabled\": true}")
        .send()
        .await
        .unwrap();
    expect_error(resp, 415).await;
    app.stop().await;
}

#[tokio::test]
async fn without_the_cloud_the_endpoints_answer_cloud_disabled() {
    let app = TestApp::spawn(Options {
        fly: false,
        workers: false,
        ..Options::default()
    })
    .await;
    let token = app.token(&user());
    let id = TenantId::new_random().to_string();
    for resp in [
        app.get(&credentials_path(&id), &token).await,
        app.call(Method::POST, &rotate_path(&id), Some(&token), None)
            .await,
        put_external(&app, &token, &id, false).await,
    ] {
        let e = expect_error(resp, 503).await;
        assert_eq!(e.code, "cloud_disabled");
    }
    app.stop().await;
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_reaches_any_log_line() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber =
        mgmt_server::telemetry::subscriber(LogFormat::Json, "debug", move || writer.clone(), false);
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let app = TestApp::spawn(Options {
        env: vec![("TENANT_DB_PUBLIC_ENDPOINT", "db.public.test:6432".into())],
        ..Options::default()
    })
    .await;
    let token = app.token(&user());
    let (id, t) = provisioned(&app, &token, "quiet").await;
    let first = get_credentials(&app, &token, &id).await;
    let rotated: RotateCredentials = decode(
        app.call(Method::POST, &rotate_path(&id), Some(&token), None)
            .await,
    )
    .await;
    let on: Data<ExternalDbAccess> = decode(put_external(&app, &token, &id, true).await).await;
    let last = get_credentials(&app, &token, &id).await;
    let _me: Me = decode(app.get("/api/v1/auth/me", &token).await).await;
    app.stop().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("tenant credentials rotated"), "{logs}");
    let forbidden = [
        (
            "first database password",
            password_of(&first.internal_database_url, &t),
        ),
        (
            "rotated database password",
            password_of(&rotated.internal_database_url, &t),
        ),
        ("JWT secret", first.jwt_secret.clone()),
        ("external URL", on.data.database_url.clone()),
        (
            "sealing key",
            SEALING_KEYS.split_once(':').unwrap().1.to_owned(),
        ),
    ];
    assert_eq!(last.jwt_secret, first.jwt_secret);
    let role_with_password = format!("{}:", t.database_role);
    for line in logs.lines() {
        for (what, value) in &forbidden {
            assert!(!line.contains(value.as_str()), "{what} logged: {line}");
        }
        assert!(
            !line.contains(&role_with_password) || line.contains(":********@"),
            "a tenant database URL with credentials was logged: {line}"
        );
    }
}
