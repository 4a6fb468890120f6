//! The HTTP answers of secrets, deploy and restart as the CLI reads them: 204 for PUT and DELETE
//! (a merge; every name the CLI sends accepted; refusals are 422 naming the key), 409 before the app
//! exists, `{data:{status:"deploying",app_url}}` for a deploy (the same one for a repeated POST), and
//! a bare `{status:"ready"}` for a restart once the machine runs again.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::cli_types::*;
use crate::helpers::*;

const T: Duration = Duration::from_secs(30);

async fn put(
    app: &TestApp,
    token: &str,
    id: &str,
    secrets: serde_json::Value,
) -> reqwest::Response {
    app.call(
        Method::PUT,
        &format!("/api/v1/tenants/{id}/secrets"),
        Some(token),
        Some(&json!({ "secrets": secrets })),
    )
    .await
}

async fn keys(app: &TestApp, token: &str, id: &str) -> Vec<String> {
    let k: Keys = decode(
        app.get(&format!("/api/v1/tenants/{id}/secrets"), token)
            .await,
    )
    .await;
    k.keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_as_the_cli_sends_them_before_and_after_a_deploy() {
    let app = TestApp::spawn(Options::default()).await;
    let token = app.token(&user());
    let id = app.create_tenant(&token, "secrets").await;

    // Before provisioning has created the app: 409 with the error body, nothing written.
    let early = put(&app, &token, &id, json!({"API_KEY": "v"})).await;
    if early.status() != 204 {
        let e = expect_error(early, 409).await;
        assert!(e.message.contains("provisioning"), "{e:?}");
    }
    app.wait_status(&token, &id, "awaiting_deploy", T).await;

    // H sends its PUTs before the deploy, with no machine yet: stored on the app, merged.
    let pem = "QUJD".repeat(1500);
    for body in [
        json!({"DATABASE_URL": "postgres://u:p@db.internal:5432/site", "JWT_SECRET": "j".repeat(64),
               "EXTERNAL_DATABASE_URL": "postgres://ext/db", "OAUTH_AT_REST_PEPPER": "p".repeat(64),
               "SIGNING_KEY_PEM": pem, "ANTHROPIC_API_KEY": "a", "MY_KEY": "u"}),
        json!({"SYSTEMPROMPT_API_TOKEN": "jwt", "SYSTEMPROMPT_USER_EMAIL": "a@b.c",
               "SYSTEMPROMPT_CLI_REMOTE": "true"}),
        json!({"SYSTEMPROMPT_PROFILE": "/app/services/profiles/p/profile.yaml"}),
    ] {
        let resp = put(&app, &token, &id, body).await;
        assert_eq!(resp.status(), 204, "{:?}", resp.text().await);
    }
    let names = keys(&app, &token, &id).await;
    for n in [
        "DATABASE_URL",
        "JWT_SECRET",
        "SIGNING_KEY_PEM",
        "SYSTEMPROMPT_API_TOKEN",
        "SYSTEMPROMPT_PROFILE",
        "MY_KEY",
    ] {
        assert!(names.iter().any(|x| x == n), "{n}: {names:?}");
    }

    // Refusals name the key; a refused request changes nothing.
    for (bad, code) in [("MY-KEY", "invalid_secret_key"), ("FLY_APP_NAME", "")] {
        let resp = put(&app, &token, &id, json!({"NEW_OK": "v", bad: "v"})).await;
        let e = expect_error(resp, 422).await;
        assert!(e.message.contains(bad), "{e:?}");
        if !code.is_empty() {
            assert_eq!(e.code, code);
        }
    }
    assert!(!keys(&app, &token, &id).await.contains(&"NEW_OK".to_owned()));

    // Deleting a name that is not set is a 2xx (the CLI's `secrets cleanup`).
    let resp = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tenants/{id}/secrets/SYSTEMPROMPT_API_URL"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);

    // Deploy: `deploying` at once; a repeated identical POST is the same deployment.
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
    // A slow machine create keeps the first deployment in flight while the second POST arrives.
    let faults = app.mock.as_ref().unwrap().faults();
    faults.latency("create_machine", Duration::from_secs(1));
    for _ in 0..2 {
        let resp = app
            .call(
                Method::POST,
                &format!("/api/v1/tenants/{id}/deploy"),
                Some(&token),
                Some(&json!({ "image": image })),
            )
            .await;
        assert_eq!(resp.status(), 202);
        let d: Data<DeployResponse> = decode(resp).await;
        assert_eq!(d.data.status, "deploying");
        assert!(d.data.app_url.unwrap().starts_with("https://"));
    }
    let tid = mgmt_domain::TenantId::parse(&id).unwrap();
    let deployments = app
        .state
        .repos
        .deployments
        .list_for_tenant(tid)
        .await
        .unwrap();
    assert_eq!(deployments.len(), 1, "{deployments:?}");
    faults.clear();
    app.wait_status(&token, &id, "running", T).await;

    // E sends its PUTs after the deploy: 204 at once, rolled out to the machine.
    let resp = put(
        &app,
        &token,
        &id,
        json!({"SYSTEMPROMPT_PROFILE": "/app/services/profiles/q/profile.yaml"}),
    )
    .await;
    assert_eq!(resp.status(), 204);
    app.wait_status(&token, &id, "running", T).await;
    let tenant = app.state.repos.tenants.get(tid).await.unwrap();
    let mock = app.mock.as_ref().unwrap().state();
    let machine = mock.machines_of(&tenant.fly_app_name)[0].clone();
    let app_secrets = &mock.app(&tenant.fly_app_name).unwrap().secrets;
    assert_eq!(
        machine.secrets.get("SYSTEMPROMPT_PROFILE"),
        Some(&app_secrets["SYSTEMPROMPT_PROFILE"].digest),
        "the machine runs with the new value"
    );
    assert!(
        machine
            .image
            .ends_with(tenant.deployed_digest.as_deref().unwrap())
    );

    // Restart: bare `{status: "ready"}` once the machine runs again.
    let restarted: StatusOnly = decode(
        app.call(
            Method::POST,
            &format!("/api/v1/tenants/{id}/restart"),
            Some(&token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(restarted.status, "ready");
    let mock = app.mock.as_ref().unwrap().state();
    assert_eq!(mock.machines_of(&tenant.fly_app_name)[0].state, "started");
    app.stop().await;
}
