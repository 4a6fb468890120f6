//! Tenant machine settings reach Fly: `TENANT_EXTRA_SECRETS_FILE`'s secrets are set on every new app,
//! and the volume is mounted at `TENANT_VOLUME_MOUNT_PATH`.

use std::io::Write;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_secrets_and_the_mount_path_come_from_configuration() {
    let mut secrets = tempfile::NamedTempFile::new().unwrap();
    writeln!(secrets, "# shared by every tenant\nSMTP_PASSWORD=smtp-extra-secret-value\nMAIL_FROM=\"noreply@example.test\"").unwrap();
    let app = TestApp::spawn(Options {
        env: vec![
            ("TENANT_VOLUME_MOUNT_PATH", "/data/tenant".to_owned()),
            (
                "TENANT_EXTRA_SECRETS_FILE",
                secrets.path().display().to_string(),
            ),
        ],
        ..Options::default()
    })
    .await;
    let token = app.token(&user());
    let id = app.create_tenant(&token, "configured").await;
    app.wait_status(&token, &id, "awaiting_deploy", Duration::from_secs(30))
        .await;
    let mock = app.mock.as_ref().unwrap();
    let snapshot = mock.state();
    let fly_app = snapshot.apps.first().expect("the tenant's app");
    let names: Vec<&str> = fly_app.secrets.keys().map(String::as_str).collect();
    for want in ["DATABASE_URL", "JWT_SECRET", "MAIL_FROM", "SMTP_PASSWORD"] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    let app_name = fly_app.name.clone();

    let cred: Value = app
        .get(&format!("/api/v1/tenants/{id}/registry-token"), &token)
        .await
        .json()
        .await
        .unwrap();
    let cred = &cred["data"];
    let field = |k: &str| cred[k].as_str().unwrap().to_owned();
    push_image(
        &field("registry"),
        &field("repository"),
        &field("tag"),
        &field("username"),
        &field("token"),
    )
    .await;
    let image = format!(
        "{}/{}:{}",
        field("registry"),
        field("repository"),
        field("tag")
    );
    let resp = app
        .call(
            Method::POST,
            &format!("/api/v1/tenants/{id}/deploy"),
            Some(&token),
            Some(&json!({"image": image})),
        )
        .await;
    assert!(resp.status().is_success(), "deploy: {}", resp.status());
    app.wait_status(&token, &id, "running", Duration::from_secs(30))
        .await;
    let snapshot = mock.state();
    let machines = snapshot.machines_of(&app_name);
    assert_eq!(machines.len(), 1);
    let mounts = &machines[0].config["mounts"];
    assert_eq!(mounts[0]["path"], "/data/tenant", "mounts: {mounts}");
    app.stop().await;
}
