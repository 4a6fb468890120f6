//! Auth, injected faults, rate limits, the request log and unknown-route reporting.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::{Api, mock, mock_with};
use mgmt_mock_fly::Op;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn only_the_configured_token_is_accepted() {
    let m = mock().await;
    let api = Api::new(&m);
    let url = format!("{}/v1/apps/x", m.machines_url());
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic eDp5"),
        Some("mock-fly-token"),
    ] {
        let mut rb = api.http.get(&url);
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        let (s, b) = api.send(rb).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(b["error"].is_string());
    }
    let fly_v1 = api
        .http
        .get(&url)
        .header("authorization", format!("FlyV1 {}", m.token()));
    assert_eq!(api.send(fly_v1).await.0, StatusCode::NOT_FOUND);
    let other = mock_with(|c| c.token = "fm2_other".into()).await;
    let (s, _) = Api {
        base: other.machines_url(),
        ..api.clone()
    }
    .get("/v1/apps/x")
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn fail_nth_fail_next_and_hard_down() {
    let m = mock().await;
    let api = Api::new(&m);
    m.faults().fail_nth(Op::CreateApp, 2, 500);
    api.create_app("sp-f1").await;
    let (s, b) = api
        .post(
            "/v1/apps",
            json!({ "app_name": "sp-f2", "org_slug": "personal" }),
        )
        .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(b["error"].as_str().unwrap().contains("injected"));
    api.create_app("sp-f2").await;
    m.faults().fail_next("get_app", 2, 502);
    assert_eq!(api.get("/v1/apps/sp-f1").await.0, StatusCode::BAD_GATEWAY);
    assert_eq!(api.get("/v1/apps/sp-f1").await.0, StatusCode::BAD_GATEWAY);
    assert_eq!(api.get("/v1/apps/sp-f1").await.0, StatusCode::OK);
    m.faults().set_down(true);
    assert_eq!(
        api.get("/v1/apps/sp-f1").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        api.post("/v1/apps/sp-f1/volumes", json!({ "name": "v" }))
            .await
            .0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    m.faults().set_down(false);
    assert_eq!(api.get("/v1/apps/sp-f1").await.0, StatusCode::OK);
    let failed: Vec<_> = m
        .requests()
        .into_iter()
        .filter(|r| r.status >= 500)
        .map(|r| r.op.unwrap())
        .collect();
    assert_eq!(
        failed,
        [
            "create_app",
            "get_app",
            "get_app",
            "get_app",
            "create_volume"
        ]
    );
}

#[tokio::test]
#[should_panic(expected = "matches no operation")]
async fn a_misspelt_fault_selector_panics() {
    let m = mock().await;
    m.faults().fail_next("create_ap", 1, 500);
}

#[tokio::test]
async fn injected_429_with_and_without_retry_after() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app("sp-429").await;
    m.faults().rate_limit_429("list_*", 1, Some(7));
    m.faults().rate_limit_429(Op::ListMachines, 1, None);
    let r = api
        .request(reqwest::Method::GET, "/v1/apps/sp-429/secrets")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        json!({ "error": "rate limit exceeded" })
    );
    let r = api
        .request(reqwest::Method::GET, "/v1/apps/sp-429/machines")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_none());
    assert_eq!(api.get("/v1/apps/sp-429/machines").await.0, StatusCode::OK);
}

#[tokio::test]
async fn latency_is_added_per_operation_and_globally() {
    let m = mock().await;
    let api = Api::new(&m);
    m.faults().latency("get_app", Duration::from_millis(300));
    let t0 = Instant::now();
    api.get("/v1/apps/x").await;
    assert!(t0.elapsed() >= Duration::from_millis(300));
    m.faults().clear();
    m.set_global_latency(Duration::from_millis(200));
    let t0 = Instant::now();
    api.get("/v1/apps/x").await;
    assert!(t0.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn a_dropped_connection_still_takes_effect() {
    let m = mock().await;
    let api = Api::new(&m);
    m.faults().drop_connection(Op::CreateApp, 1);
    let result = api
        .request(reqwest::Method::POST, "/v1/apps")
        .json(&json!({ "app_name": "sp-drop", "org_slug": "o" }))
        .send()
        .await;
    let outcome = match result {
        Err(e) => format!("send failed: {e}"),
        Ok(r) => match r.bytes().await {
            Err(e) => format!("body failed: {e}"),
            Ok(b) => panic!("the response arrived whole: {b:?}"),
        },
    };
    assert!(
        outcome.starts_with("send failed"),
        "the status line must not arrive either: {outcome}"
    );
    assert!(
        m.state().app("sp-drop").is_some(),
        "the create happened although the client saw no answer"
    );
    let (s, _) = api
        .post(
            "/v1/apps",
            json!({ "app_name": "sp-drop", "org_slug": "o" }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn rate_limits_per_action_per_machine() {
    let m = mock_with(|c| c.rate_limits = true).await;
    let api = Api::new(&m);
    let mut codes = Vec::new();
    for i in 0..5 {
        codes.push(
            api.post(
                "/v1/apps",
                json!({ "app_name": format!("sp-rl{i}"), "org_slug": "o" }),
            )
            .await
            .0
            .as_u16(),
        );
    }
    // Burst 3, then 1/s: the calls come within milliseconds, so the 4th or at the latest the 5th is refused.
    assert_eq!(codes[..3], [201, 201, 201]);
    assert!(codes[3..].contains(&429), "{codes:?}");
    // Another action has its own bucket; get machine allows bursts of 10.
    let id = api.create_machine("sp-rl0", "alpine").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut gets = Vec::new();
    for _ in 0..15 {
        gets.push(
            api.get(&format!("/v1/apps/sp-rl0/machines/{id}"))
                .await
                .0
                .as_u16(),
        );
    }
    assert!(gets[..10].iter().all(|c| *c == 200), "{gets:?}");
    assert!(gets[10..].contains(&429), "{gets:?}");
    // Fixed wait: part of the scenario, the create-app bucket refills at 1/s (polling would spend it).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        api.post("/v1/apps", json!({ "app_name": "sp-rl9", "org_slug": "o" }))
            .await
            .0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn unknown_routes_are_loud_and_reported() {
    let m = mock().await;
    let api = Api::new(&m);
    let (s, b) = api.get("/v1/apps/x/tokens").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(b["error"].as_str().unwrap().contains("unknown route"));
    api.call(reqwest::Method::PUT, "/v1/apps/x", None).await;
    api.get("/nowhere").await;
    assert_eq!(
        m.unknown_routes(),
        ["GET /v1/apps/x/tokens", "PUT /v1/apps/x", "GET /nowhere"]
    );
    let log = m.requests();
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|r| r.op.is_none() && r.status == 404));
    let (s, insp) = api.get("/__mock/requests").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(insp["unknown_routes"].as_array().unwrap().len(), 3);
    let (s, state) = api
        .http
        .get(format!("{}/__mock/state", m.machines_url()))
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!((s, state), (StatusCode::OK, ()));
}

#[tokio::test]
async fn registry_faults_answer_in_the_registry_format() {
    let m = mock().await;
    let reg = common::oci::Reg::new(&m);
    m.faults().fail_next("registry_*", 1, 503);
    m.faults().set_down(true);
    let r = reg.req(reqwest::Method::GET, "/v2/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNKNOWN");
    // Fly's Machines API being down does not take the registry with it.
    assert_eq!(
        reg.req(reqwest::Method::GET, "/v2/")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        m.requests()
            .iter()
            .map(|r| r.op.clone().unwrap())
            .collect::<Vec<_>>(),
        ["registry_base", "registry_base"]
    );
}
