//! Graceful shutdown: a request in flight when shutdown starts still completes; afterwards the
//! listener is closed and the workers have stopped.

use std::time::Duration;

use mgmt_test_support::wait::{Check, eventually};

use crate::cli_types::*;
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_finish_on_shutdown() {
    let app = TestApp::spawn(Options::default()).await;
    let token = app.token(&user());
    let id = app.create_tenant(&token, "slow").await;
    app.wait_status(&token, &id, "awaiting_deploy", Duration::from_secs(30))
        .await;
    app.mock
        .as_ref()
        .unwrap()
        .faults()
        .latency("list_secrets", Duration::from_millis(1500));

    let url = app.url(&format!("/api/v1/tenants/{id}/secrets"));
    let http = app.http.clone();
    let t = token.clone();
    let in_flight = tokio::spawn(async move { http.get(url).bearer_auth(t).send().await });
    // Fixed wait: nothing observable shows the request has reached the server (mock-fly records it
    // only once answered, 1.5 s later); give it time to arrive before shutdown starts.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let addr = app.addr;
    let stopping = tokio::spawn(app.stop());

    let resp = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was cut off");
    assert_eq!(resp.status(), 200);
    let keys: Keys = decode(resp).await;
    assert!(keys.keys.iter().any(|k| k == "DATABASE_URL"), "{keys:?}");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("shutdown took too long")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_answers_deploying_within_its_budget_when_the_registry_hangs() {
    let app = TestApp::spawn(Options {
        env: vec![("DEPLOY_ANSWER_WITHIN_MS", "300".into())],
        ..Options::default()
    })
    .await;
    let token = app.token(&user());
    let id = app.create_tenant(&token, "hang").await;
    app.wait_status(&token, &id, "awaiting_deploy", Duration::from_secs(30))
        .await;
    let faults = app.mock.as_ref().unwrap().faults();
    faults.latency("registry_manifest_head", Duration::from_secs(3));
    faults.latency("registry_manifest_get", Duration::from_secs(3));
    let image = format!("{}/{REPOSITORY}:tenant-{id}", app.gateway.unwrap());
    let started = std::time::Instant::now();
    let resp = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/tenants/{id}/deploy"),
            Some(&token),
            Some(&serde_json::json!({"image": image})),
        )
        .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "deploy took {took:?}");
    assert_eq!(resp.status(), 202);
    let accepted: Data<DeployResponse> = decode(resp).await;
    assert_eq!(accepted.data.status, "deploying");
    assert!(accepted.data.app_url.is_some());
    faults.clear();
    // Nothing was pushed: the deploy job resolves the tag itself and fails the deploy, saying why.
    let failed = app
        .wait_status(&token, &id, "failed", Duration::from_secs(30))
        .await;
    let message = failed["data"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("never pushed"), "{failed}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_provisioning_reports_failed_and_can_be_retried() {
    let app = TestApp::spawn(Options::default()).await;
    let token = app.token(&user());
    let faults = app.mock.as_ref().unwrap().faults();
    faults.fail_next("create_volume", 1000, 400);
    let id = app.create_tenant(&token, "flaky").await;
    let failed: Data<Status> = eventually(Duration::from_secs(30), || async {
        let s: Data<Status> = decode(
            app.get(&format!("/api/v1/tenants/{id}/status"), &token)
                .await,
        )
        .await;
        if s.data.status == "failed" {
            Check::Done(s)
        } else {
            Check::not_yet(format!("{s:?}"))
        }
    })
    .await
    .expect("the provisioning with failing volumes reported failed");
    assert!(failed.data.message.is_some(), "a failure says why");
    faults.clear();
    let retried: StatusOnly = decode(
        app.call(
            reqwest::Method::POST,
            &format!("/api/v1/tenants/{id}/retry-provision"),
            Some(&token),
            None,
        )
        .await,
    )
    .await;
    assert_ne!(retried.status, "failed");
    app.wait_status(&token, &id, "awaiting_deploy", Duration::from_secs(30))
        .await;
    app.stop().await;
}
