//! `/__mock/faults`: every fault kind injected over HTTP, as the chaos harness drives the binary.

use std::time::{Duration, Instant};

use crate::common::{Api, mock, mock_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn add(api: &Api, body: Value) -> (StatusCode, Value) {
    let url = format!("{}/__mock/faults", api.base);
    api.send(api.http.post(url).json(&body)).await
}

async fn listing(api: &Api) -> Value {
    let url = format!("{}/__mock/faults", api.base);
    let (s, b) = api.send(api.http.get(url)).await;
    assert_eq!(s, StatusCode::OK);
    b
}

#[tokio::test]
async fn fail_nth_over_http_fails_only_that_call() {
    let m = mock().await;
    let api = Api::new(&m);
    let (s, b) = add(
        &api,
        json!({"kind": "fail_nth", "op": "create_app", "n": 2, "status": 503}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["faults"][0]["kind"], "fail_nth");
    api.create_app("sp-h1").await;
    let (s, b) = api
        .post("/v1/apps", json!({"app_name": "sp-h2", "org_slug": "o"}))
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(b["error"].as_str().unwrap().contains("injected"));
    assert!(m.state().app("sp-h2").is_none(), "a failed call acts not");
    api.create_app("sp-h2").await;
    let l = listing(&api).await;
    assert_eq!(l["faults"], json!([]), "a fired fail_nth is gone");
    assert_eq!(l["fired"]["fail"], 1);
}

#[tokio::test]
async fn fail_next_counts_down() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app("sp-h3").await;
    add(
        &api,
        json!({"kind": "fail_next", "op": "get_*", "count": 2, "status": 500}),
    )
    .await;
    assert_eq!(
        api.get("/v1/apps/sp-h3").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(listing(&api).await["faults"][0]["n"], 1);
    assert_eq!(
        api.get("/v1/apps/sp-h3").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(api.get("/v1/apps/sp-h3").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_dropped_answer_over_http_still_acts() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app("sp-h4").await;
    add(
        &api,
        json!({"kind": "drop_connection", "op": "create_volume"}),
    )
    .await;
    let sent = api
        .request(reqwest::Method::POST, "/v1/apps/sp-h4/volumes")
        .json(&json!({"name": "services", "size_gb": 1, "region": "ord"}))
        .send()
        .await;
    assert!(sent.is_err(), "the answer must be lost: {sent:?}");
    let (s, vols) = api.get("/v1/apps/sp-h4/volumes").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        vols.as_array().unwrap().len(),
        1,
        "the volume was made: {vols}"
    );
    assert_eq!(listing(&api).await["fired"]["drop_connection"], 1);
}

#[tokio::test]
async fn latency_slows_only_the_selected_operation() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app("sp-h5").await;
    add(&api, json!({"kind": "latency", "op": "get_app", "ms": 300})).await;
    let t = Instant::now();
    assert_eq!(api.get("/v1/apps/sp-h5").await.0, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(api.get("/v1/apps/sp-h5/volumes").await.0, StatusCode::OK);
    assert!(t.elapsed() < Duration::from_millis(300));
    let l = listing(&api).await;
    assert_eq!(
        l["faults"][0],
        json!({"kind": "latency", "op": "get_app", "ms": 300})
    );
}

#[tokio::test]
async fn a_429_storm_with_retry_after() {
    let m = mock().await;
    let api = Api::new(&m);
    add(
        &api,
        json!({"kind": "rate_limit", "op": "*", "count": 3, "retry_after": 2}),
    )
    .await;
    for _ in 0..3 {
        let resp = api
            .request(reqwest::Method::GET, "/v1/apps/none")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()["retry-after"], "2");
        let b: Value = resp.json().await.unwrap();
        assert_eq!(b, json!({"error": "rate limit exceeded"}));
    }
    assert_eq!(api.get("/v1/apps/none").await.0, StatusCode::NOT_FOUND);
    assert_eq!(listing(&api).await["fired"]["rate_limit"], 3);
}

#[tokio::test]
async fn fly_down_for_a_while_then_back_by_itself() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app("sp-h6").await;
    add(&api, json!({"kind": "down", "for_ms": 400})).await;
    assert_eq!(
        api.get("/v1/apps/sp-h6").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let l = listing(&api).await;
    assert_eq!(l["down"], 503);
    assert!(l["down_remaining_ms"].as_u64().unwrap() <= 400);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(api.get("/v1/apps/sp-h6").await.0, StatusCode::OK);
    assert_eq!(listing(&api).await["down"], Value::Null);
    // Without `for_ms` it stays down until `up`; the registry is not part of the outage.
    add(&api, json!({"kind": "down", "status": 502})).await;
    assert_eq!(api.get("/v1/apps/sp-h6").await.0, StatusCode::BAD_GATEWAY);
    let reg = api
        .http
        .get(format!("{}/v2/", m.registry_url()))
        .basic_auth("x", Some(m.token()));
    assert_eq!(api.send(reg).await.0, StatusCode::OK);
    add(&api, json!({"kind": "up"})).await;
    assert_eq!(api.get("/v1/apps/sp-h6").await.0, StatusCode::OK);
    assert_eq!(listing(&api).await["fired"]["down"], 2);
}

#[tokio::test]
async fn deletes_linger_as_long_as_asked() {
    let m = mock_with(|c| c.destroy_delay = Duration::from_millis(10)).await;
    let api = Api::new(&m);
    api.create_app("sp-h7").await;
    add(&api, json!({"kind": "linger", "ms": 600})).await;
    assert_eq!(api.delete("/v1/apps/sp-h7").await.0, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, b) = api.get("/v1/apps/sp-h7").await;
    assert_eq!(s, StatusCode::OK, "still there while it lingers: {b}");
    assert_eq!(b["status"], "suspended");
    let (s, _) = api
        .post("/v1/apps", json!({"app_name": "sp-h7", "org_slug": "o"}))
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the name is still taken"
    );
    mgmt_test_support::wait::eventually(Duration::from_secs(3), || async {
        api.get("/v1/apps/sp-h7").await.0 == StatusCode::NOT_FOUND
    })
    .await
    .expect("the app is gone once its linger is over");
    add(&api, json!({"kind": "linger", "ms": null})).await;
    assert_eq!(listing(&api).await["destroy_delay_ms"], Value::Null);
}

#[tokio::test]
async fn clear_removes_everything_but_the_totals() {
    let m = mock().await;
    let api = Api::new(&m);
    add(
        &api,
        json!({"kind": "fail_next", "op": "*", "count": 1, "status": 500}),
    )
    .await;
    add(&api, json!({"kind": "latency", "op": "*", "ms": 5})).await;
    add(&api, json!({"kind": "down"})).await;
    add(&api, json!({"kind": "linger", "ms": 100})).await;
    assert_eq!(api.get("/v1/apps").await.0, StatusCode::SERVICE_UNAVAILABLE);
    let url = format!("{}/__mock/faults", api.base);
    let (s, b) = api.send(api.http.delete(url)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["faults"], json!([]));
    assert_eq!(b["down"], Value::Null);
    assert_eq!(b["destroy_delay_ms"], Value::Null);
    assert_eq!(b["fired"]["down"], 1);
    assert_eq!(api.get("/v1/apps").await.0, StatusCode::OK);
}

#[tokio::test]
async fn bad_fault_bodies_are_400_and_inject_nothing() {
    let m = mock().await;
    let api = Api::new(&m);
    for body in [
        json!({"kind": "fail_nth", "op": "create_ap", "n": 1, "status": 500}),
        json!({"kind": "fail_nth", "op": "create_app", "n": 0, "status": 500}),
        json!({"kind": "fail_next", "op": "*", "count": 1, "status": 200}),
        json!({"kind": "fail_next", "op": "*", "cuont": 1, "status": 500}),
        json!({"kind": "explode", "op": "*"}),
        json!({"kind": "latency", "op": "*", "ms": 3_600_000}),
        json!({"kind": "down", "status": 99}),
        json!("down"),
    ] {
        let (s, b) = add(&api, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {b}");
        assert!(b["error"].is_string(), "{b}");
    }
    let url = format!("{}/__mock/faults", api.base);
    let raw = api
        .http
        .post(url)
        .body("{not json")
        .header("content-type", "application/json");
    assert_eq!(api.send(raw).await.0, StatusCode::BAD_REQUEST);
    let l = listing(&api).await;
    assert_eq!(l["faults"], json!([]));
    assert_eq!(l["down"], Value::Null);
    assert_eq!(api.get("/v1/apps").await.0, StatusCode::OK);
}
