//! The CLI's whole flow, every answer decoded into the CLI's strict types: create → registry-token →
//! push through the gateway → deploy → ready → secrets → restart → events → list/me → delete.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::cli_types::*;
use crate::helpers::*;

/// Reads a server-sent events stream to its end; returns `(event name, data)` pairs.
pub async fn read_events(
    app: &TestApp,
    token: &str,
    id: &str,
    timeout: Duration,
) -> Vec<(String, String)> {
    let mut resp = app
        .http
        .get(app.url(&format!("/api/v1/tenants/{id}/events")))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut text = String::new();
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None)) => break,
            Ok(Err(e)) => panic!("stream error: {e}"),
            Err(_) => panic!("events stream did not end within {timeout:?}; got:\n{text}"),
        }
    }
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut name = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        if let Some(n) = name {
            out.push((n, data));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_flow_matches_the_contract_end_to_end() {
    let app = TestApp::spawn(Options::default()).await;
    let sub = user();
    let token = app.token(&sub);

    let me: Me = decode(app.get("/api/v1/auth/me", &token).await).await;
    assert_eq!(me.user.id, sub);
    assert!(me.tenants.is_empty());
    assert_eq!(me.customer.unwrap().status.as_deref(), Some("active"));

    let id = app.create_tenant(&token, "shop").await;
    let status: Data<Status> = decode(
        app.get(&format!("/api/v1/tenants/{id}/status"), &token)
            .await,
    )
    .await;
    assert!(
        ["pending", "provisioning", "ready"].contains(&status.data.status.as_str()),
        "{}",
        status.data.status
    );
    app.wait_status(&token, &id, "awaiting_deploy", Duration::from_secs(30))
        .await;

    let resp = app
        .get(&format!("/api/v1/tenants/{id}/registry-token"), &token)
        .await;
    assert_eq!(resp.status(), 200);
    let cred: Data<RegistryToken> = decode(resp).await;
    let cred = cred.data;
    assert_eq!(cred.registry, app.gateway.unwrap().to_string());
    assert_eq!(cred.repository, REPOSITORY);
    assert_eq!(cred.tag, format!("tenant-{id}"));
    assert!(!cred.token.is_empty());
    push_image(
        &cred.registry,
        &cred.repository,
        &cred.tag,
        &cred.username,
        &cred.token,
    )
    .await;

    let image = format!("{}/{}:{}", cred.registry, cred.repository, cred.tag);
    let started = Instant::now();
    let resp = app
        .call(
            Method::POST,
            &format!("/api/v1/tenants/{id}/deploy"),
            Some(&token),
            Some(&json!({"image": image})),
        )
        .await;
    assert!(resp.status().is_success(), "deploy: {}", resp.status());
    let deployed: Data<DeployResponse> = decode(resp).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "deploy answered in {:?}",
        started.elapsed()
    );
    assert_ne!(deployed.data.status, "failed");

    let ready = app
        .wait_status(&token, &id, "running", Duration::from_secs(30))
        .await;
    let ready: Data<Status> = serde_json::from_value(ready).unwrap();
    assert_eq!(
        ready.data.app_url.as_deref(),
        Some(format!("https://{}.sites.example.test", &id.replace('-', "")[..12]).as_str())
    );

    let resp = app
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{id}/secrets"),
            Some(&token),
            Some(&json!({"secrets": {"API_KEY": "v-123"}})),
        )
        .await;
    assert!(resp.status().is_success(), "put secrets: {}", resp.status());
    let keys: Keys = decode(
        app.get(&format!("/api/v1/tenants/{id}/secrets"), &token)
            .await,
    )
    .await;
    assert!(keys.keys.contains(&"API_KEY".to_owned()), "{keys:?}");
    let resp = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tenants/{id}/secrets/API_KEY"),
            Some(&token),
            None,
        )
        .await;
    assert!(
        resp.status().is_success(),
        "unset secret: {}",
        resp.status()
    );
    let keys: Keys = decode(
        app.get(&format!("/api/v1/tenants/{id}/secrets"), &token)
            .await,
    )
    .await;
    assert!(!keys.keys.contains(&"API_KEY".to_owned()));
    // Each secrets change is rolled out to the machine (a machine update held under its lease);
    // restart once that has finished.
    app.wait_status(&token, &id, "running", Duration::from_secs(30))
        .await;

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

    // A ready tenant's stream is its current state, `tenant_ready`, and ends there.
    let events = read_events(&app, &token, &id, Duration::from_secs(10)).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let (name, data) = &events[0];
    assert_eq!(name, "provisioning");
    let e: Event = serde_json::from_str(data).unwrap_or_else(|err| panic!("{err}: {data}"));
    assert_eq!(e.tenant_id, id);
    assert_eq!(e.event_type, "tenant_ready");
    assert!(CLI_EVENT_TYPES.contains(&e.event_type.as_str()));

    let list: Data<Vec<TenantListItem>> = decode(app.get("/api/v1/tenants", &token).await).await;
    assert_eq!(list.data.len(), 1);
    assert_eq!(list.data[0].id, id);
    let me: Me = decode(app.get("/api/v1/auth/me", &token).await).await;
    let info = &me.tenants[0];
    assert_eq!(info.status, Some(TenantInfoStatus::Active));
    assert_eq!(info.plan.as_ref().map(|p| p.memory_mb), Some(256));
    // Masked the one way the CLI recognises (any other masking it would push as a real URL).
    assert!(
        info.database_url.starts_with("postgres://tenant_")
            && info.database_url.contains(":********@"),
        "{}",
        info.database_url
    );

    let resp = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tenants/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert!(resp.status().is_success(), "delete: {}", resp.status());
    app.wait_status(&token, &id, "deleted", Duration::from_secs(30))
        .await;
    let list: Data<Vec<TenantListItem>> = decode(app.get("/api/v1/tenants", &token).await).await;
    assert!(list.data.is_empty());
    // Job outcomes are reported just after each job settles: wait for the cleanup's to arrive.
    let metrics = app
        .metrics_containing(
            r#"job_outcomes_total{kind="cleanup",outcome="succeeded"} 1"#,
            Duration::from_secs(10),
        )
        .await;
    for needle in [
        r#"job_outcomes_total{kind="provision",outcome="succeeded"} 1"#,
        r#"job_outcomes_total{kind="deploy",outcome="succeeded"}"#,
        r#"job_attempt_duration_seconds_count{kind="provision"} 1"#,
        r#"fly_calls_total{operation="machines.create_app",outcome="ok"}"#,
        r#"circuit_breaker_state{upstream="machines"} 0"#,
        r#"circuit_breaker_state{upstream="registry"} 0"#,
        r#"http_requests_total{method="POST",route="/api/v1/tenants/{id}/deploy",status="202"} 1"#,
        r#"http_request_duration_seconds_bucket{le="#,
    ] {
        assert!(
            metrics.contains(needle),
            "{needle} missing from /metrics:\n{metrics}"
        );
    }
    let snapshot = app.mock.as_ref().unwrap().state();
    assert!(
        snapshot.apps.is_empty(),
        "apps left behind: {:?}",
        snapshot.apps
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_metrics_and_openapi_answer() {
    let app = TestApp::spawn(Options {
        fly: false,
        ..Default::default()
    })
    .await;
    let h = app
        .http
        .get(app.url("/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 200);
    let r = app.http.get(app.url("/api/v1/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    let doc: serde_json::Value = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/tenants/{id}/registry-token"]["get"].is_object());
    let text = app
        .http
        .get(app.metrics_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/api/v1/ready",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"jobs{state="queued"} 0"#), "{text}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_disabled_answers_503_cloud_disabled() {
    let app = TestApp::spawn(Options {
        fly: false,
        ..Default::default()
    })
    .await;
    let token = app.token(&user());
    let resp = app
        .call(
            Method::POST,
            "/api/v1/tenants",
            Some(&token),
            Some(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(expect_error(resp, 503).await.code, "cloud_disabled");
    let list: Data<Vec<TenantListItem>> = decode(app.get("/api/v1/tenants", &token).await).await;
    assert!(list.data.is_empty());
    app.stop().await;
}
