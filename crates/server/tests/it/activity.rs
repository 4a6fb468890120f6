//! `POST /activity`: the CLI's login/logout reports, recorded per customer, strictly validated.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, user};

async fn post(app: &TestApp, token: Option<&str>, body: &Value) -> reqwest::Response {
    app.call(Method::POST, "/api/v1/activity", token, Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_logout_are_recorded_for_the_caller() {
    let app = TestApp::spawn(Options {
        fly: false,
        workers: false,
        env: vec![],
    })
    .await;
    let sub = user();
    let token = app.token(&sub);
    let login = json!({"event": "cloud_login", "timestamp": "2026-05-20T11:34:35.123456789+00:00",
        "data": {"user_id": sub}});
    let resp = post(&app, Some(&token), &login).await;
    assert_eq!(resp.status(), 204);
    assert!(resp.bytes().await.unwrap().is_empty());
    let logout = json!({"event": "cloud_logout", "timestamp": "2026-05-20T13:00:00+02:00",
        "data": {"user_id": format!("{sub}@example.test")}});
    assert_eq!(post(&app, Some(&token), &logout).await.status(), 204);

    let customer = app
        .state
        .repos
        .customers
        .find_by_subject(&sub)
        .await
        .unwrap()
        .unwrap();
    let got = app
        .state
        .repos
        .activity
        .list_for_customer(customer.id, 10)
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].event.as_str(), "cloud_logout");
    assert_eq!(got[0].user_id, format!("{sub}@example.test"));
    assert_eq!(
        got[0].client_timestamp.to_rfc3339(),
        "2026-05-20T11:00:00+00:00"
    );
    assert_eq!(got[1].event.as_str(), "cloud_login");
    assert_eq!(
        got[1].client_timestamp.to_rfc3339(),
        "2026-05-20T11:34:35.123456+00:00",
        "stored to the microsecond"
    );

    // Another customer's reports are theirs.
    let other = user();
    assert_eq!(
        post(&app, Some(&app.token(&other)), &login).await.status(),
        204
    );
    let mine = app
        .state
        .repos
        .activity
        .list_for_customer(customer.id, 10)
        .await
        .unwrap();
    assert_eq!(mine.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reports_are_refused_with_the_error_body() {
    let app = TestApp::spawn(Options {
        fly: false,
        workers: false,
        env: vec![("JSON_BODY_LIMIT", "4096".to_owned())],
    })
    .await;
    let token = app.token(&user());
    let ok_ts = "2026-05-20T11:34:35.123456789+00:00";
    for (body, status, code) in [
        (
            json!({"event": "cloud_signup", "timestamp": ok_ts, "data": {"user_id": "u"}}),
            422,
            "invalid_event",
        ),
        (
            json!({"event": "cloud_login", "timestamp": "20 May 2026", "data": {"user_id": "u"}}),
            422,
            "invalid_timestamp",
        ),
        (
            json!({"event": "cloud_login", "timestamp": ok_ts, "data": {"user_id": ""}}),
            422,
            "invalid_user_id",
        ),
        (
            json!({"event": "cloud_login", "timestamp": ok_ts, "data": {"user_id": "x".repeat(321)}}),
            422,
            "invalid_user_id",
        ),
        (
            json!({"event": "cloud_login", "timestamp": ok_ts, "data": {"user_id": "u"}, "extra": true}),
            422,
            "invalid_body",
        ),
        (
            json!({"event": "cloud_login", "timestamp": ok_ts, "data": {"user_id": "u", "email": "e"}}),
            422,
            "invalid_body",
        ),
        (
            json!({"event": "cloud_login", "timestamp": ok_ts}),
            422,
            "invalid_body",
        ),
        (
            json!({"event": "cloud_login", "timestamp": ok_ts, "data": {"user_id": "x".repeat(5000)}}),
            413,
            "payload_too_large",
        ),
    ] {
        let resp = post(&app, Some(&token), &body).await;
        assert_eq!(resp.status(), status, "{body}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{body}");
        assert!(v["error"]["message"].is_string());
    }
    // Without a token (the CLI's logout may send an expired one): 401, nothing recorded.
    let body = json!({"event": "cloud_logout", "timestamp": ok_ts, "data": {"user_id": "u"}});
    assert_eq!(post(&app, None, &body).await.status(), 401);
}
