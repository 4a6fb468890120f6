//! `POST /tenants/{id}/subscription/cancel` through the real server and mock-paddle: exactly `null` on
//! success, the cancellation recorded only once Paddle confirmed it, idempotent repeats, Paddle down
//! (503, nothing recorded), an answer lost after Paddle acted (a retry converges), refusals, and
//! `/auth/me` showing the subscription.

use mgmt_domain::{NewSubscription, SubscriptionStatus, Tenant};
use mgmt_mock_paddle::{MockPaddle, SeedSubscription};
use reqwest::Method;
use serde_json::Value;

use crate::cli_types::Me;
use crate::helpers::{Options, TestApp, user};

async fn app_with(paddle_url: &str, paddle_key: &str) -> TestApp {
    TestApp::spawn(Options {
        fly: false,
        workers: false,
        env: vec![
            ("PADDLE_API_URL", paddle_url.to_owned()),
            ("PADDLE_API_KEY", paddle_key.to_owned()),
        ],
    })
    .await
}

/// A customer (made by its first call) with a tenant.
async fn tenant_of(app: &TestApp, sub: &str) -> Tenant {
    let resp = app.get("/api/v1/auth/me", &app.token(sub)).await;
    assert_eq!(resp.status(), 200);
    let customer = app
        .state
        .repos
        .customers
        .find_by_subject(sub)
        .await
        .unwrap()
        .expect("customer made on first use");
    app.db.tenant(customer.id, "paid").await.unwrap()
}

/// A subscription at Paddle and its record here.
async fn subscribe(app: &TestApp, paddle: &MockPaddle, tenant: &Tenant) -> String {
    let seeded = paddle.seed_subscription(SeedSubscription::default());
    app.state
        .repos
        .subscriptions
        .insert(NewSubscription {
            id: seeded.id.clone(),
            tenant_id: tenant.id,
            customer_id: tenant.customer_id,
            paddle_customer_id: Some(seeded.customer_id.clone()),
            status: SubscriptionStatus::Active,
        })
        .await
        .unwrap();
    seeded.id
}

fn cancel_path(tenant: &Tenant) -> String {
    format!("/api/v1/tenants/{}/subscription/cancel", tenant.id)
}

/// The CLI's call: POST without a body or a Content-Type.
async fn cancel(app: &TestApp, token: &str, tenant: &Tenant) -> reqwest::Response {
    app.call(Method::POST, &cancel_path(tenant), Some(token), None)
        .await
}

async fn error_code(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap();
    (status, v["error"]["code"].as_str().unwrap().to_owned())
}

async fn scheduled_here(app: &TestApp, tenant: &Tenant) -> Option<chrono::DateTime<chrono::Utc>> {
    app.state
        .repos
        .subscriptions
        .get_for_tenant(tenant.id)
        .await
        .unwrap()
        .unwrap()
        .scheduled_cancel_at
}

fn paddle_cancels(paddle: &MockPaddle) -> usize {
    paddle
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/cancel"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_answers_null_records_the_schedule_and_is_idempotent() {
    let paddle = MockPaddle::start().await.unwrap();
    let app = app_with(&paddle.url(), paddle.api_key()).await;
    let sub = user();
    let token = app.token(&sub);
    let tenant = tenant_of(&app, &sub).await;
    let sub_id = subscribe(&app, &paddle, &tenant).await;

    // `/auth/me` shows the subscription in the CLI's spellings.
    let me: Me = app
        .get("/api/v1/auth/me", &token)
        .await
        .json()
        .await
        .unwrap();
    let info = me
        .tenants
        .iter()
        .find(|t| t.id == tenant.id.to_string())
        .unwrap();
    assert_eq!(info.subscription_id.as_deref(), Some(sub_id.as_str()));
    let raw: Value = app
        .get("/api/v1/auth/me", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(raw["tenants"][0]["subscription_status"], "active");

    let resp = cancel(&app, &token, &tenant).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"null");

    let at_paddle = paddle.subscription(&sub_id).unwrap();
    let change = at_paddle
        .scheduled_change
        .expect("Paddle scheduled the cancel");
    assert_eq!(change.action, "cancel");
    let here = scheduled_here(&app, &tenant).await.expect("recorded");
    assert_eq!(
        here.timestamp_micros(),
        change.effective_at.timestamp_micros()
    );

    // Again: the same `null`, without asking Paddle a second time.
    let resp = cancel(&app, &token, &tenant).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"null");
    assert_eq!(paddle_cancels(&paddle), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paddle_down_is_503_and_nothing_is_recorded() {
    let paddle = MockPaddle::start().await.unwrap();
    let app = app_with(&paddle.url(), paddle.api_key()).await;
    let sub = user();
    let token = app.token(&sub);
    let tenant = tenant_of(&app, &sub).await;
    let sub_id = subscribe(&app, &paddle, &tenant).await;

    for status in [500, 503, 429] {
        paddle.faults().fail("cancel_subscription", status, 1);
        let (code, error) = error_code(cancel(&app, &token, &tenant).await).await;
        assert_eq!(
            (code, error.as_str()),
            (503, "upstream_unavailable"),
            "{status}"
        );
        assert!(scheduled_here(&app, &tenant).await.is_none());
        assert!(
            paddle
                .subscription(&sub_id)
                .unwrap()
                .scheduled_change
                .is_none()
        );
    }

    // Unreachable altogether.
    let url = paddle.url();
    paddle.stop().await;
    let down = app_with(&url, "pdl_any").await;
    let sub2 = user();
    let tenant2 = tenant_of(&down, &sub2).await;
    down.state
        .repos
        .subscriptions
        .insert(NewSubscription {
            id: "sub_01unreachable".into(),
            tenant_id: tenant2.id,
            customer_id: tenant2.customer_id,
            paddle_customer_id: None,
            status: SubscriptionStatus::Active,
        })
        .await
        .unwrap();
    let (code, error) = error_code(cancel(&down, &down.token(&sub2), &tenant2).await).await;
    assert_eq!((code, error.as_str()), (503, "upstream_unavailable"));
    assert!(scheduled_here(&down, &tenant2).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_lost_after_paddle_acted_converges_on_retry() {
    let paddle = MockPaddle::start().await.unwrap();
    let app = app_with(&paddle.url(), paddle.api_key()).await;
    let sub = user();
    let token = app.token(&sub);
    let tenant = tenant_of(&app, &sub).await;
    let sub_id = subscribe(&app, &paddle, &tenant).await;

    paddle.faults().drop_after_acting("cancel_subscription");
    let (code, error) = error_code(cancel(&app, &token, &tenant).await).await;
    assert_eq!((code, error.as_str()), (503, "upstream_unavailable"));
    // Paddle acted; we could not know, so nothing is recorded yet.
    assert!(
        paddle
            .subscription(&sub_id)
            .unwrap()
            .scheduled_change
            .is_some()
    );
    assert!(scheduled_here(&app, &tenant).await.is_none());

    // The retry: Paddle refuses a second cancel, we read the subscription back and record it.
    let resp = cancel(&app, &token, &tenant).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"null");
    assert!(scheduled_here(&app, &tenant).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_missing_things_are_4xx_with_the_error_body() {
    let paddle = MockPaddle::start().await.unwrap();
    let app = app_with(&paddle.url(), paddle.api_key()).await;
    let (alice, bob) = (user(), user());
    let tenant = tenant_of(&app, &alice).await;
    let _ = tenant_of(&app, &bob).await;

    // No subscription recorded.
    let (code, error) = error_code(cancel(&app, &app.token(&alice), &tenant).await).await;
    assert_eq!((code, error.as_str()), (404, "subscription_not_found"));
    assert!(error.contains("not_found"));

    // Another customer's tenant does not exist for Bob.
    subscribe(&app, &paddle, &tenant).await;
    let (code, error) = error_code(cancel(&app, &app.token(&bob), &tenant).await).await;
    assert_eq!((code, error.as_str()), (404, "tenant_not_found"));
    assert!(paddle.requests().is_empty(), "Paddle was never asked");

    // A malformed tenant id, and no token.
    let resp = app
        .call(
            Method::POST,
            "/api/v1/tenants/nope/subscription/cancel",
            Some(&app.token(&alice)),
            None,
        )
        .await;
    assert_eq!(
        error_code(resp).await,
        (400, "invalid_tenant_id".to_owned())
    );
    let resp = app
        .call(Method::POST, &cancel_path(&tenant), None, None)
        .await;
    assert_eq!(resp.status(), 401);

    // A subscription Paddle does not know: Paddle's 404 is a refusal (502), nothing recorded.
    let other = {
        let sub = user();
        let t = tenant_of(&app, &sub).await;
        app.state
            .repos
            .subscriptions
            .insert(NewSubscription {
                id: "sub_01unknowntopaddle".into(),
                tenant_id: t.id,
                customer_id: t.customer_id,
                paddle_customer_id: None,
                status: SubscriptionStatus::Active,
            })
            .await
            .unwrap();
        (sub, t)
    };
    let (code, error) = error_code(cancel(&app, &app.token(&other.0), &other.1).await).await;
    assert_eq!((code, error.as_str()), (502, "upstream_refused"));
    assert!(scheduled_here(&app, &other.1).await.is_none());

    // Billing not configured.
    let plain = TestApp::spawn(Options {
        fly: false,
        workers: false,
        env: vec![],
    })
    .await;
    let sub = user();
    let t = tenant_of(&plain, &sub).await;
    let (code, error) = error_code(cancel(&plain, &plain.token(&sub), &t).await).await;
    assert_eq!((code, error.as_str()), (503, "billing_disabled"));
}
