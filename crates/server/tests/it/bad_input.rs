//! The bad-input corpus: malformed JSON, oversized bodies, wrong types, unknown fields, bad ids, hostile
//! image strings and secret names. Each is a 4xx with the error body, and the database is unchanged.

use std::time::Duration;

use mgmt_domain::TenantId;
use reqwest::Method;
use serde_json::json;

use crate::cli_types::*;
use crate::helpers::*;

/// Everything a request could have changed, for before/after comparison.
async fn footprint(app: &TestApp, customer_sub: &str, id: TenantId) -> String {
    let r = &app.state.repos;
    let customer = r
        .customers
        .find_by_subject(customer_sub)
        .await
        .unwrap()
        .unwrap();
    let tenants = r.tenants.list_for_customer(customer.id).await.unwrap();
    let events = r.events.list_after(id, 0, 10_000).await.unwrap();
    let jobs = r.jobs.list_for_tenant(id).await.unwrap();
    let deployments = r.deployments.list_for_tenant(id).await.unwrap();
    let app_secrets = app
        .mock
        .as_ref()
        .unwrap()
        .state()
        .app(&tenants[0].fly_app_name)
        .map(|a| format!("{:?}", a.secrets));
    format!(
        "{tenants:?}\n{events:?}\n{}\n{deployments:?}\n{app_secrets:?}",
        jobs.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_a_4xx_with_the_error_body_and_changes_nothing() {
    let app = TestApp::spawn(Options::default()).await;
    let sub = user();
    let token = app.token(&sub);
    let id = app.create_tenant(&token, "corpus").await;
    app.wait_status(&token, &id, "awaiting_deploy", Duration::from_secs(30))
        .await;
    let tid = TenantId::parse(&id).unwrap();
    let before = footprint(&app, &sub, tid).await;

    let gw = app.gateway.unwrap().to_string();
    let other = uuid::Uuid::new_v4();
    let good = format!("{gw}/{REPOSITORY}:tenant-{id}");
    let big = "x".repeat(70 * 1024);
    let hostile_images = [
        String::new(),
        format!("{gw}/{REPOSITORY}:tenant-{other}"),
        format!("registry.fly.io/{REPOSITORY}:tenant-{id}"),
        format!("{gw}/other-repo:tenant-{id}"),
        format!("{gw}/{REPOSITORY}:tenant-{}", id.to_uppercase()),
        format!("{gw}/{REPOSITORY}:tenant-{id}\n"),
        format!(" {good}"),
        format!("{good}@sha512:{}", "a".repeat(128)),
        format!("{good}@sha256:zz"),
        format!("{gw}/{REPOSITORY}/../x:tenant-{id}"),
        format!("{gw}/{REPOSITORY}@sha256:{}", "0".repeat(64)),
        format!("{good};rm -rf /"),
        format!("{good}\u{202e}"),
        "a".repeat(5000),
    ];

    let deploy = format!("/api/v1/tenants/{id}/deploy");
    let secrets = format!("/api/v1/tenants/{id}/secrets");
    // (method, path, raw body, content type, expected status)
    let mut cases: Vec<(Method, String, String, &str, u16)> = vec![
        (
            Method::POST,
            "/api/v1/tenants".into(),
            "{".into(),
            "application/json",
            400,
        ),
        (
            Method::POST,
            "/api/v1/tenants".into(),
            r#"{"name": 5}"#.into(),
            "application/json",
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants".into(),
            r#"{"name": "x", "evil": true}"#.into(),
            "application/json",
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants".into(),
            "{}".into(),
            "application/json",
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants".into(),
            "[]".into(),
            "application/json",
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants".into(),
            r#"{"name": "x"}"#.into(),
            "text/plain",
            415,
        ),
        (
            Method::POST,
            "/api/v1/tenants".into(),
            json!({"name": big}).to_string(),
            "application/json",
            413,
        ),
        (
            Method::POST,
            "/api/v1/tenants".into(),
            r#"{"name": ""}"#.into(),
            "application/json",
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants".into(),
            r#"{"name": "a\u0000b"}"#.into(),
            "application/json",
            422,
        ),
        (
            Method::POST,
            "/api/v1/tenants".into(),
            r#"{"name": "x", "region": "mars"}"#.into(),
            "application/json",
            422,
        ),
        (
            Method::POST,
            deploy.clone(),
            "{".into(),
            "application/json",
            400,
        ),
        (
            Method::POST,
            deploy.clone(),
            r#"{"image": 1}"#.into(),
            "application/json",
            422,
        ),
        (
            Method::POST,
            deploy.clone(),
            json!({"image": good, "force": true}).to_string(),
            "application/json",
            422,
        ),
        (
            Method::POST,
            deploy.clone(),
            json!({"image": good}).to_string(),
            "application/x-www-form-urlencoded",
            415,
        ),
        (
            Method::PUT,
            secrets.clone(),
            r#"{"secrets": "hunter2"}"#.into(),
            "application/json",
            422,
        ),
        (
            Method::PUT,
            secrets.clone(),
            r#"{"secrets": {"K": 5}}"#.into(),
            "application/json",
            422,
        ),
        (
            Method::PUT,
            secrets.clone(),
            r#"{"secrets": {}}"#.into(),
            "application/json",
            422,
        ),
        (
            Method::PUT,
            secrets.clone(),
            r#"{"secrets": {"1BAD": "v"}}"#.into(),
            "application/json",
            422,
        ),
        (
            Method::PUT,
            secrets.clone(),
            r#"{"secrets": {"A-B": "v"}}"#.into(),
            "application/json",
            422,
        ),
        (
            Method::PUT,
            secrets.clone(),
            r#"{"secrets": {"K": "v"}, "x": 1}"#.into(),
            "application/json",
            422,
        ),
        (
            Method::PUT,
            secrets.clone(),
            json!({"secrets": {"K": big}}).to_string(),
            "application/json",
            413,
        ),
        (
            Method::DELETE,
            format!("{secrets}/1-BAD"),
            String::new(),
            "application/json",
            422,
        ),
        (
            Method::POST,
            format!("/api/v1/tenants/{id}/retry-provision"),
            String::new(),
            "application/json",
            409,
        ),
    ];
    for image in &hostile_images {
        cases.push((
            Method::POST,
            deploy.clone(),
            json!({"image": image}).to_string(),
            "application/json",
            422,
        ));
    }
    for bad_id in [
        id.to_uppercase(),
        id.replace('-', ""),
        format!("{{{id}}}"),
        "..%2F..%2Fetc".into(),
        "x".repeat(300),
        "%00".into(),
    ] {
        for suffix in [
            "",
            "/status",
            "/events",
            "/registry-token",
            "/restart",
            "/secrets",
        ] {
            let method = if suffix == "/restart" {
                Method::POST
            } else {
                Method::GET
            };
            cases.push((
                method,
                format!("/api/v1/tenants/{bad_id}{suffix}"),
                String::new(),
                "application/json",
                400,
            ));
        }
        cases.push((
            Method::DELETE,
            format!("/api/v1/tenants/{bad_id}"),
            String::new(),
            "application/json",
            400,
        ));
        cases.push((
            Method::POST,
            format!("/api/v1/tenants/{bad_id}/deploy"),
            json!({"image": good}).to_string(),
            "application/json",
            400,
        ));
    }

    for (method, path, body, content_type, status) in cases {
        let resp = app
            .http
            .request(method.clone(), app.url(&path))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let err = expect_error(resp, status).await;
        assert!(
            !err.message.contains("hunter2"),
            "{method} {path}: value echoed: {err:?}"
        );
        if path.ends_with("/deploy")
            && status == 422
            && body.contains("image")
            && !body.contains("force")
            && !body.contains(": 1")
        {
            assert_eq!(err.code, "invalid_image", "{body}: {err:?}");
            assert!(
                err.message.contains(&good),
                "message should name the expected image: {err:?}"
            );
        }
    }
    // Unknown routes and methods answer the error body too.
    expect_error(
        app.call(Method::GET, "/api/v1/nope", Some(&token), None)
            .await,
        404,
    )
    .await;
    expect_error(
        app.call(
            Method::PATCH,
            &format!("/api/v1/tenants/{id}"),
            Some(&token),
            None,
        )
        .await,
        404,
    )
    .await;

    assert_eq!(
        footprint(&app, &sub, tid).await,
        before,
        "a refused request changed state"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_token_and_deploy_wait_for_provisioning() {
    let app = TestApp::spawn(Options {
        workers: false,
        ..Default::default()
    })
    .await;
    let token = app.token(&user());
    let id = app.create_tenant(&token, "early").await;
    let err = expect_error(
        app.get(&format!("/api/v1/tenants/{id}/registry-token"), &token)
            .await,
        409,
    )
    .await;
    assert_eq!(err.code, "tenant_not_ready");
    let image = format!("{}/{REPOSITORY}:tenant-{id}", app.gateway.unwrap());
    let resp = app
        .call(
            Method::POST,
            &format!("/api/v1/tenants/{id}/deploy"),
            Some(&token),
            Some(&json!({"image": image})),
        )
        .await;
    expect_error(resp, 409).await;
    app.stop().await;
}
