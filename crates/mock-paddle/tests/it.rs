//! mock-paddle is as strict as Paddle where we use it: authentication, the error envelope, unknown
//! ids, `effective_from`, repeated cancels; and its faults and control routes behave as documented.

use mgmt_mock_paddle::{DEFAULT_API_KEY, MockPaddle, SeedSubscription};
use serde_json::{Value, json};

struct Call {
    status: u16,
    body: Value,
}

async fn call(
    m: &MockPaddle,
    method: reqwest::Method,
    path: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> Call {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", m.url()));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    Call {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

fn bearer() -> String {
    format!("Bearer {DEFAULT_API_KEY}")
}

async fn cancel(m: &MockPaddle, id: &str, body: &Value) -> Call {
    call(
        m,
        reqwest::Method::POST,
        &format!("/subscriptions/{id}/cancel"),
        Some(&bearer()),
        Some(body),
    )
    .await
}

/// Paddle's error envelope, with `code`.
fn assert_error(c: &Call, status: u16, code: &str) {
    assert_eq!(c.status, status, "{}", c.body);
    let e = &c.body["error"];
    assert_eq!(e["code"], code, "{}", c.body);
    assert_eq!(
        e["type"],
        if status >= 500 {
            "api_error"
        } else {
            "request_error"
        }
    );
    assert!(e["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert!(e["documentation_url"].as_str().unwrap().ends_with(code));
    assert!(c.body["meta"]["request_id"].is_string());
}

#[tokio::test]
async fn the_api_key_is_required_as_paddle_requires_it() {
    let m = MockPaddle::start().await.unwrap();
    let id = m.seed_subscription(SeedSubscription::default()).id;
    let path = format!("/subscriptions/{id}");
    let c = call(&m, reqwest::Method::GET, &path, None, None).await;
    assert_error(&c, 403, "authentication_missing");
    let c = call(
        &m,
        reqwest::Method::GET,
        &path,
        Some(&format!("Basic {DEFAULT_API_KEY}")),
        None,
    )
    .await;
    assert_error(&c, 403, "authentication_malformed");
    let c = call(
        &m,
        reqwest::Method::GET,
        &path,
        Some("Bearer pdl_wrong"),
        None,
    )
    .await;
    assert_error(&c, 403, "invalid_token");
    let c = call(&m, reqwest::Method::GET, &path, Some(&bearer()), None).await;
    assert_eq!(c.status, 200);
    assert_eq!(c.body["data"]["id"], id.as_str());
    assert_eq!(c.body["data"]["status"], "active");
    assert!(c.body["meta"]["request_id"].is_string());
    // A refused call changed nothing.
    let c = cancel(&m, &id, &json!({"effective_from": "next_billing_period"})).await;
    assert_eq!(c.status, 200);
}

#[tokio::test]
async fn unknown_ids_and_bad_bodies_are_refused() {
    let m = MockPaddle::start().await.unwrap();
    let id = m.seed_subscription(SeedSubscription::default()).id;
    assert_error(
        &cancel(&m, "sub_01nope", &json!({})).await,
        404,
        "not_found",
    );
    let c = call(
        &m,
        reqwest::Method::GET,
        "/subscriptions/sub_01nope",
        Some(&bearer()),
        None,
    )
    .await;
    assert_error(&c, 404, "not_found");
    for body in [
        json!({"effective_from": "tomorrow"}),
        json!({"effective_from": 1}),
        json!({"effective_from": "next_billing_period", "reason": "x"}),
    ] {
        let c = cancel(&m, &id, &body).await;
        assert_error(&c, 400, "invalid_field");
        assert!(
            c.body["error"]["errors"][0]["field"].is_string(),
            "{}",
            c.body
        );
    }
    assert_error(&cancel(&m, &id, &json!([1])).await, 400, "bad_request");
    assert!(
        m.subscription(&id).unwrap().scheduled_change.is_none(),
        "nothing acted"
    );
    // A route Paddle does not serve is loud.
    let c = call(
        &m,
        reqwest::Method::GET,
        "/customers",
        Some(&bearer()),
        None,
    )
    .await;
    assert_eq!(c.status, 404);
    assert_eq!(m.unknown_routes(), ["GET /customers"]);
}

#[tokio::test]
async fn cancel_schedules_at_period_end_and_a_second_cancel_is_refused() {
    let m = MockPaddle::start().await.unwrap();
    let id = m.seed_subscription(SeedSubscription::default()).id;
    let c = cancel(&m, &id, &json!({"effective_from": "next_billing_period"})).await;
    assert_eq!(c.status, 200, "{}", c.body);
    let data = &c.body["data"];
    assert_eq!(
        data["status"], "active",
        "still active until the period ends"
    );
    assert_eq!(data["scheduled_change"]["action"], "cancel");
    assert_eq!(
        data["scheduled_change"]["effective_at"],
        data["current_billing_period"]["ends_at"]
    );
    assert!(data["next_billed_at"].is_null());
    assert_error(
        &cancel(&m, &id, &json!({"effective_from": "next_billing_period"})).await,
        400,
        "subscription_locked_pending_changes",
    );

    // Immediately: canceled now; a cancel of a canceled subscription is refused.
    let id2 = m.seed_subscription(SeedSubscription::default()).id;
    let c = cancel(&m, &id2, &json!({"effective_from": "immediately"})).await;
    assert_eq!(c.body["data"]["status"], "canceled");
    assert!(c.body["data"]["canceled_at"].is_string());
    assert_error(
        &cancel(&m, &id2, &json!({})).await,
        400,
        "subscription_update_when_canceled",
    );
}

#[tokio::test]
async fn faults_and_control_routes() {
    let m = MockPaddle::start().await.unwrap();
    // Seeding over HTTP, with an id of the test's choosing; twice is a conflict.
    let c = call(
        &m,
        reqwest::Method::POST,
        "/__mock/subscriptions",
        None,
        Some(&json!({"id": "sub_01seeded", "status": "trialing"})),
    )
    .await;
    assert_eq!(c.status, 201);
    assert_eq!(c.body["status"], "trialing");
    let c = call(
        &m,
        reqwest::Method::POST,
        "/__mock/subscriptions",
        None,
        Some(&json!({"id": "sub_01seeded"})),
    )
    .await;
    assert_eq!(c.status, 409);

    // An injected 503 answers Paddle's envelope without acting, once.
    let c = call(
        &m,
        reqwest::Method::POST,
        "/__mock/faults",
        None,
        Some(&json!({"op": "cancel_subscription", "status": 503})),
    )
    .await;
    assert_eq!(c.status, 204);
    assert_error(
        &cancel(&m, "sub_01seeded", &json!({})).await,
        503,
        "internal_error",
    );
    assert!(
        m.subscription("sub_01seeded")
            .unwrap()
            .scheduled_change
            .is_none()
    );

    // Acting, then losing the answer: the client sees a broken response, Paddle holds the change.
    m.faults().drop_after_acting("cancel_subscription");
    let sent = reqwest::Client::new()
        .post(format!("{}/subscriptions/sub_01seeded/cancel", m.url()))
        .bearer_auth(DEFAULT_API_KEY)
        .json(&json!({}))
        .send()
        .await;
    let lost = match sent {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(lost, "the answer must not arrive whole");
    assert!(
        m.subscription("sub_01seeded")
            .unwrap()
            .scheduled_change
            .is_some()
    );

    // A delay, then normal service; the request log shows every call.
    m.faults().inject(mgmt_mock_paddle::Fault {
        op: "get_subscription".into(),
        status: None,
        delay_ms: Some(200),
        drop_after_acting: false,
        times: None,
    });
    let started = std::time::Instant::now();
    let c = call(
        &m,
        reqwest::Method::GET,
        "/subscriptions/sub_01seeded",
        Some(&bearer()),
        None,
    )
    .await;
    assert_eq!(c.status, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    let c = call(&m, reqwest::Method::DELETE, "/__mock/faults", None, None).await;
    assert_eq!(c.status, 204);
    let c = call(&m, reqwest::Method::GET, "/__mock/requests", None, None).await;
    assert!(
        c.body["requests"].as_array().unwrap().len() >= 6,
        "{}",
        c.body
    );
}
