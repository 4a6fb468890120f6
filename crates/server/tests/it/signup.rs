//! Signup as the CLI does it, through the real server, mock-fly and mock-paddle delivering signed
//! webhooks: plans, strict checkout input, the free plan's page (the tenant made exactly once), a paid
//! checkout through Paddle's payment page, the checkout stream ending at `infrastructure_ready`, and the
//! webhook faults: a forged delivery refused with nothing changed, a duplicate, a lost answer, events
//! out of order and late, all converging on Paddle's newest state; a past-due subscription stops deploys.

use std::time::{Duration, Instant};

use mgmt_mock_paddle::{DEFAULT_API_KEY, MockPaddle, WebhookFault};
use mgmt_test_support::wait::{Check, eventually};
use reqwest::Method;
use serde_json::json;

use crate::cli_types::{Data, RegistryToken, decode, expect_error};
use crate::helpers::{Options, TestApp, user};

const WEBHOOK_SECRET: &str = "pdl_ntfset_test_secret_0123456789";
const CALLBACK: &str = "http://127.0.0.1:8766/callback";

/// The CLI's `Plan`, strictly (required fields only matter; extras are ignored as the CLI does).
#[derive(Debug, serde::Deserialize)]
struct Plan {
    id: String,
    name: String,
    paddle_price_id: String,
    #[serde(default)]
    memory_mb_default: i32,
    #[serde(default)]
    volume_gb: i32,
}

#[derive(Debug, serde::Deserialize)]
struct CheckoutResponse {
    checkout_url: String,
    transaction_id: String,
    checkout_session_id: String,
}

/// The CLI's `CheckoutEvent` (§3.13): every required field.
#[derive(Debug, serde::Deserialize)]
struct CheckoutEvent {
    checkout_session_id: String,
    tenant_id: String,
    tenant_name: String,
    event_type: String,
    #[allow(
        dead_code,
        reason = "required by the CLI's type; decoded to prove it is there"
    )]
    status: String,
}

async fn app_with_paddle(paddle: &MockPaddle) -> TestApp {
    TestApp::spawn(Options {
        env: vec![
            ("PADDLE_API_URL", paddle.url()),
            ("PADDLE_API_KEY", DEFAULT_API_KEY.to_owned()),
            ("PADDLE_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ],
        ..Options::default()
    })
    .await
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn checkout(app: &TestApp, token: &str, price: &str) -> reqwest::Response {
    app.call(
        Method::POST,
        "/api/v1/checkout",
        Some(token),
        Some(&json!({ "price_id": price, "region": "iad", "redirect_uri": CALLBACK })),
    )
    .await
}

/// The checkout stream, read as the CLI does, until it ends (within the CLI's 30 s).
async fn checkout_events(app: &TestApp, token: &str, session: &str) -> Vec<CheckoutEvent> {
    let started = Instant::now();
    let mut resp = app
        .http
        .get(app.url(&format!("/api/v1/checkout/{session}/events")))
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
    loop {
        let left = Duration::from_secs(30).saturating_sub(started.elapsed());
        match tokio::time::timeout(left, resp.chunk()).await {
            Ok(Ok(Some(c))) => text.push_str(&String::from_utf8_lossy(&c)),
            Ok(Ok(None)) => break,
            Ok(Err(e)) => panic!("stream error: {e}"),
            Err(_) => panic!("checkout stream did not end within the CLI's 30 s:\n{text}"),
        }
    }
    text.split("\n\n")
        .filter(|b| b.lines().any(|l| l.trim() == "event: provisioning"))
        .map(|b| {
            let data: String = b
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            serde_json::from_str(&data).unwrap_or_else(|e| panic!("CheckoutEvent {data}: {e}"))
        })
        .collect()
}

fn query_of(location: &str) -> Vec<(String, String)> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn tenant_count(app: &TestApp, sub: &str) -> usize {
    let c = app
        .state
        .repos
        .customers
        .find_by_subject(sub)
        .await
        .unwrap()
        .unwrap();
    app.state
        .repos
        .tenants
        .list_for_customer(c.id)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn free_plan_signup_creates_the_tenant_once_and_streams_infrastructure_ready() {
    let paddle = MockPaddle::start().await.unwrap();
    let app = app_with_paddle(&paddle).await;
    let sub = user();
    let token = app.token(&sub);

    let plans: Vec<Plan> = decode(app.get("/api/v1/checkout/plans", &token).await).await;
    let free = plans.iter().find(|p| p.id == "free").expect("free plan");
    assert_eq!(free.paddle_price_id, "pri_free");
    assert_eq!((free.memory_mb_default, free.volume_gb), (256, 1));
    assert!(plans.iter().any(|p| p.id == "basic" && p.name == "Basic"));

    // Strict input: nothing stored for any of these.
    for (body, status) in [
        (
            json!({"price_id": "pri_nope", "region": "iad", "redirect_uri": CALLBACK}),
            422,
        ),
        (
            json!({"price_id": "pri_free", "region": "xyz", "redirect_uri": CALLBACK}),
            422,
        ),
        (
            json!({"price_id": "pri_free", "region": "iad", "redirect_uri": "https://evil.example/cb"}),
            422,
        ),
        (
            json!({"price_id": "pri_free", "region": "iad", "redirect_uri": CALLBACK, "x": 1}),
            422,
        ),
    ] {
        let resp = app
            .call(Method::POST, "/api/v1/checkout", Some(&token), Some(&body))
            .await;
        expect_error(resp, status).await;
    }

    let started: CheckoutResponse = decode(checkout(&app, &token, "pri_free").await).await;
    assert!(!started.transaction_id.is_empty());
    let sid = started.checkout_session_id.clone();
    assert!(started.checkout_url.ends_with(&format!("/checkout/{sid}")));

    let page_url = app.url(&format!("/checkout/{sid}"));
    let page = browser().get(&page_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\"") && html.contains("id=\"confirm\""),
        "{html}"
    );

    // Two submits at once: one tenant.
    let (a, b) = tokio::join!(
        browser().post(&page_url).send(),
        browser().post(&page_url).send()
    );
    let mut statuses = [a.unwrap(), b.unwrap()];
    statuses.sort_by_key(|r| r.status().as_u16());
    assert_eq!(statuses[0].status(), 303);
    assert_eq!(statuses[1].status(), 410);
    let location = statuses[0].headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(location.starts_with(CALLBACK), "{location}");
    let q = query_of(&location);
    assert!(q.contains(&("status".into(), "pending".into())));
    assert!(q.contains(&("checkout_session_id".into(), sid.clone())));
    assert_eq!(tenant_count(&app, &sub).await, 1);

    // Another customer cannot follow this checkout.
    let other = app.token(&user());
    let resp = app
        .get(&format!("/api/v1/checkout/{sid}/events"), &other)
        .await;
    expect_error(resp, 404).await;

    let events = checkout_events(&app, &token, &sid).await;
    let last = events.last().expect("events");
    assert_eq!(last.event_type, "infrastructure_ready", "{events:?}");
    assert_eq!(last.checkout_session_id, sid);
    assert!(last.tenant_name.starts_with("free-iad-"));
    app.wait_status(&token, &last.tenant_id, "ready", Duration::from_secs(30))
        .await;

    // The free plan allows one tenant: the next checkout is refused before anything is made.
    expect_error(checkout(&app, &token, "pri_free").await, 403).await;
    // A paid plan cannot be created directly, without a subscription.
    let resp = app
        .call(
            Method::POST,
            "/api/v1/tenants",
            Some(&app.token(&user())),
            Some(&json!({"name": "x", "plan": "basic"})),
        )
        .await;
    expect_error(resp, 403).await;
    app.stop().await;
}

async fn sub_status(app: &TestApp, tenant: mgmt_domain::TenantId) -> Option<String> {
    app.state
        .repos
        .subscriptions
        .get_for_tenant(tenant)
        .await
        .unwrap()
        .map(|s| s.status.to_string())
}

async fn wait_sub_status(app: &TestApp, tenant: mgmt_domain::TenantId, want: &str) {
    eventually(Duration::from_secs(20), || async {
        match sub_status(app, tenant).await {
            Some(s) if s == want => Check::Done(()),
            other => Check::not_yet(format!("{other:?}")),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("subscription never became {want}: {e}"));
}

async fn events_stored(app: &TestApp) -> usize {
    app.state
        .repos
        .billing_events
        .list(1000)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn paid_signup_through_paddle_survives_webhook_faults() {
    let paddle = MockPaddle::start().await.unwrap();
    let app = app_with_paddle(&paddle).await;
    paddle.configure_webhooks(&app.url("/api/v1/webhooks/paddle"), WEBHOOK_SECRET);
    paddle.set_success_url(&app.url("/checkout/return"));
    let sub = user();
    let token = app.token(&sub);

    let started: CheckoutResponse = decode(checkout(&app, &token, "pri_basic").await).await;
    assert!(started.transaction_id.starts_with("txn_"));
    assert!(started.checkout_url.starts_with(&paddle.url()));
    assert!(
        started
            .checkout_url
            .contains(&format!("_ptxn={}", started.transaction_id))
    );

    // subscription.created: a forged copy first, then the real one; transaction.completed: twice.
    paddle.inject_webhook_fault(WebhookFault::BadSignature);
    paddle.inject_webhook_fault(WebhookFault::Duplicate);

    // The browser: Paddle's page, pay, back to us, on to the CLI's callback.
    let b = browser();
    let page = b.get(&started.checkout_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let paid = b
        .post(format!("{}/checkout/pay", paddle.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("_ptxn={}", started.transaction_id))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
    let back = paid.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with(&app.url("/checkout/return")), "{back}");
    let back = b.get(&back).send().await.unwrap();
    assert_eq!(back.status(), 303);
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    assert!(query_of(&callback).contains(&(
        "checkout_session_id".into(),
        started.checkout_session_id.clone()
    )));

    let events = checkout_events(&app, &token, &started.checkout_session_id).await;
    let last = events.last().expect("events");
    assert_eq!(last.event_type, "infrastructure_ready", "{events:?}");
    let tenant: mgmt_domain::TenantId = last.tenant_id.parse().unwrap();
    wait_sub_status(&app, tenant, "active").await;
    assert_eq!(
        tenant_count(&app, &sub).await,
        1,
        "one tenant for one payment"
    );
    let log = app
        .state
        .repos
        .events
        .list_after(tenant, 0, 200)
        .await
        .unwrap();
    let created: Vec<_> = log
        .iter()
        .filter(|e| e.event_type == mgmt_domain::EventType::SubscriptionCreated)
        .collect();
    assert_eq!(
        created.len(),
        1,
        "the customer sees the subscription once: {log:?}"
    );

    // The forged copy was refused; every real delivery ended 200.
    eventually(Duration::from_secs(10), || async {
        let d = paddle.deliveries();
        d.iter()
            .filter(|d| !d.forged && d.status == Some(200))
            .count()
            >= 3
    })
    .await
    .unwrap();
    let deliveries = paddle.deliveries();
    assert!(
        deliveries.iter().any(|d| d.forged && d.status == Some(401)),
        "{deliveries:?}"
    );
    assert_eq!(
        events_stored(&app).await,
        2,
        "subscription.created and transaction.completed once each"
    );

    let sub_id = app
        .state
        .repos
        .subscriptions
        .get_for_tenant(tenant)
        .await
        .unwrap()
        .unwrap()
        .id;

    // Past due, with the first 200 lost (redelivered): deploys are refused.
    paddle.inject_webhook_fault(WebhookFault::LostAnswer);
    assert!(paddle.change_subscription(&sub_id, "past_due"));
    wait_sub_status(&app, tenant, "past_due").await;
    let rt: Data<RegistryToken> = decode(
        app.get(&format!("/api/v1/tenants/{tenant}/registry-token"), &token)
            .await,
    )
    .await;
    let image = format!(
        "{}/{}:{}",
        rt.data.registry, rt.data.repository, rt.data.tag
    );
    let resp = app
        .call(
            Method::POST,
            &format!("/api/v1/tenants/{tenant}/deploy"),
            Some(&token),
            Some(&json!({ "image": image })),
        )
        .await;
    let err = expect_error(resp, 409).await;
    assert!(err.message.contains("past_due"), "{}", err.message);

    // Out of order: `active` is held back and arrives after the newer `paused`: paused stays.
    let before = events_stored(&app).await;
    paddle.inject_webhook_fault(WebhookFault::OutOfOrder);
    assert!(paddle.change_subscription(&sub_id, "active"));
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(paddle.change_subscription(&sub_id, "paused"));
    eventually(Duration::from_secs(20), || async {
        events_stored(&app).await >= before + 2
    })
    .await
    .unwrap();
    assert_eq!(sub_status(&app, tenant).await.as_deref(), Some("paused"));

    // Late: delivered after 1.5 s, still applied.
    paddle.inject_webhook_fault(WebhookFault::Late { delay_ms: 1500 });
    assert!(paddle.change_subscription(&sub_id, "active"));
    wait_sub_status(&app, tenant, "active").await;

    // Straight at the endpoint: a bad signature and a malformed event store nothing; a replayed
    // event does nothing.
    let stored = events_stored(&app).await;
    let body = json!({"event_id": "evt_forged1", "event_type": "subscription.canceled",
        "occurred_at": chrono::Utc::now().to_rfc3339(), "data": {"id": sub_id, "status": "canceled"}})
    .to_string();
    let ts = chrono::Utc::now().timestamp();
    let wrong = mgmt_mock_paddle::signature("wrong", ts, body.as_bytes());
    let resp = app
        .http
        .post(app.url("/api/v1/webhooks/paddle"))
        .header("paddle-signature", format!("ts={ts};h1={wrong}"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    expect_error(resp, 401).await;
    let resp = app
        .http
        .post(app.url("/api/v1/webhooks/paddle"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    expect_error(resp, 401).await;
    let junk = b"{\"event_id\": 1}";
    let sig = mgmt_mock_paddle::signature(WEBHOOK_SECRET, ts, junk);
    let resp = app
        .http
        .post(app.url("/api/v1/webhooks/paddle"))
        .header("paddle-signature", format!("ts={ts};h1={sig}"))
        .body(&junk[..])
        .send()
        .await
        .unwrap();
    expect_error(resp, 400).await;
    assert_eq!(events_stored(&app).await, stored);
    assert_eq!(sub_status(&app, tenant).await.as_deref(), Some("active"));

    let first = app
        .state
        .repos
        .billing_events
        .list(1000)
        .await
        .unwrap()
        .pop()
        .unwrap();
    let replay = serde_json::to_vec(&first.payload).unwrap();
    let sig = mgmt_mock_paddle::signature(WEBHOOK_SECRET, ts, &replay);
    let resp = app
        .http
        .post(app.url("/api/v1/webhooks/paddle"))
        .header("paddle-signature", format!("ts={ts};h1={sig}"))
        .body(replay)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(events_stored(&app).await, stored);
    assert_eq!(sub_status(&app, tenant).await.as_deref(), Some("active"));
    assert_eq!(tenant_count(&app, &sub).await, 1);
    app.stop().await;
}

/// An app whose billing sweep runs every second with short grace periods.
async fn app_with_grace(paddle: &MockPaddle, suspend_secs: u64, cancel_secs: u64) -> TestApp {
    TestApp::spawn(Options {
        env: vec![
            ("PADDLE_API_URL", paddle.url()),
            ("PADDLE_API_KEY", DEFAULT_API_KEY.to_owned()),
            ("PADDLE_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
            ("BILLING_SUSPEND_GRACE_SECS", suspend_secs.to_string()),
            ("BILLING_CANCEL_GRACE_SECS", cancel_secs.to_string()),
            ("BILLING_SWEEP_INTERVAL_SECS", "1".to_owned()),
        ],
        ..Options::default()
    })
    .await
}

/// The state of the tenant's machine at mock-fly (`None`: no machine).
fn machine_state(app: &TestApp, fly_app: &str) -> Option<String> {
    app.mock
        .as_ref()
        .unwrap()
        .state()
        .machines
        .into_iter()
        .find(|m| m.app == fly_app)
        .map(|m| m.state)
}

async fn wait_machine(app: &TestApp, fly_app: &str, want: &str, within: Duration) {
    eventually(within, || async {
        match machine_state(app, fly_app) {
            Some(s) if s == want => Check::Done(()),
            other => Check::not_yet(format!("{other:?}")),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("the machine never became {want}: {e}"));
}

#[tokio::test]
async fn billing_grace_stops_the_machine_starts_it_again_and_deletes_after_cancel() {
    let paddle = MockPaddle::start().await.unwrap();
    let app = app_with_grace(&paddle, 3, 4).await;
    paddle.configure_webhooks(&app.url("/api/v1/webhooks/paddle"), WEBHOOK_SECRET);
    let sub = user();
    let token = app.token(&sub);
    let id = app.create_tenant(&token, "grace shop").await;
    app.wait_status(&token, &id, "ready", Duration::from_secs(30))
        .await;
    let tenant_id = mgmt_domain::TenantId::parse(&id).unwrap();

    // Deployed, so a machine runs.
    let rt: Data<RegistryToken> = decode(
        app.get(&format!("/api/v1/tenants/{id}/registry-token"), &token)
            .await,
    )
    .await;
    let rt = rt.data;
    crate::helpers::push_image(
        &rt.registry,
        &rt.repository,
        &rt.tag,
        &rt.username,
        &rt.token,
    )
    .await;
    let image = format!("{}/{}:{}", rt.registry, rt.repository, rt.tag);
    let resp = app
        .call(
            Method::POST,
            &format!("/api/v1/tenants/{id}/deploy"),
            Some(&token),
            Some(&json!({ "image": image })),
        )
        .await;
    assert_eq!(resp.status(), 202);
    app.wait_status(&token, &id, "running", Duration::from_secs(60))
        .await;
    let tenant = app.state.repos.tenants.get(tenant_id).await.unwrap();
    let fly_app = tenant.fly_app_name.clone();
    assert_eq!(machine_state(&app, &fly_app).as_deref(), Some("started"));

    // The tenant pays through Paddle (as a checkout would have left it).
    let held = paddle.seed_subscription(mgmt_mock_paddle::SeedSubscription {
        id: None,
        status: None,
        customer_id: None,
    });
    app.state
        .repos
        .subscriptions
        .insert(mgmt_domain::NewSubscription {
            id: held.id.clone(),
            tenant_id,
            customer_id: tenant.customer_id,
            paddle_customer_id: None,
            status: mgmt_domain::SubscriptionStatus::Active,
        })
        .await
        .unwrap();

    // Past due: nothing happens within the grace, then the machine is stopped (once).
    assert!(paddle.change_subscription(&held.id, "past_due"));
    wait_sub_status(&app, tenant_id, "past_due").await;
    let marked = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        machine_state(&app, &fly_app).as_deref(),
        Some("started"),
        "stopped before the grace ended"
    );
    wait_machine(&app, &fly_app, "stopped", Duration::from_secs(15)).await;
    assert!(marked.elapsed() >= Duration::from_secs(2));
    let log = app
        .state
        .repos
        .events
        .list_after(tenant_id, 0, 500)
        .await
        .unwrap();
    assert!(
        log.iter().any(|e| e
            .message
            .as_deref()
            .is_some_and(|m| { m.contains("machine stopped") && m.contains("past_due") })),
        "the customer sees why: {log:?}"
    );
    // Still stopped some rounds later (not stopped and started in a loop).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(machine_state(&app, &fly_app).as_deref(), Some("stopped"));

    // Paid again: started again, with an event the customer sees.
    assert!(paddle.change_subscription(&held.id, "active"));
    wait_machine(&app, &fly_app, "started", Duration::from_secs(15)).await;
    let log = app
        .state
        .repos
        .events
        .list_after(tenant_id, 0, 500)
        .await
        .unwrap();
    assert!(
        log.iter()
            .any(|e| e.event_type == mgmt_domain::EventType::MachineRestarted
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.contains("subscription is active"))),
        "{log:?}"
    );

    // Canceled: deleted after the cancel grace, through the normal delete path (cleanup), with
    // the reason on the tenant's events.
    assert!(paddle.change_subscription(&held.id, "canceled"));
    wait_sub_status(&app, tenant_id, "canceled").await;
    eventually(Duration::from_secs(60), || async {
        let t = app.state.repos.tenants.get(tenant_id).await.unwrap();
        match t.state {
            mgmt_domain::TenantState::Deleted => Check::Done(()),
            s => Check::not_yet(format!("{s}")),
        }
    })
    .await
    .unwrap();
    let log = app
        .state
        .repos
        .events
        .list_after(tenant_id, 0, 500)
        .await
        .unwrap();
    assert!(
        log.iter()
            .any(|e| e.event_type == mgmt_domain::EventType::CleanupStarted
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.contains("grace period ended"))),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|e| e.event_type == mgmt_domain::EventType::TenantDeleted),
        "{log:?}"
    );
    assert_eq!(machine_state(&app, &fly_app), None, "the machine is gone");
    app.stop().await;
}

/// Moves a session's `updated_at` back, as if its claimer crashed long ago.
async fn backdate_session(app: &TestApp, sid: &str) {
    use diesel_async::RunQueryDsl;
    let mut conn = app.db.pool.get().await.unwrap();
    diesel::sql_query(
        "UPDATE management.checkout_sessions SET updated_at = now() - interval '10 minutes' WHERE id = $1",
    )
    .bind::<diesel::sql_types::Text, _>(sid)
    .execute(&mut conn)
    .await
    .unwrap();
}

async fn wait_session_completed(app: &TestApp, sid: &str) -> mgmt_domain::TenantId {
    eventually(Duration::from_secs(20), || async {
        let s = app.state.repos.checkout.get(sid).await.unwrap();
        match (s.status, s.tenant_id) {
            (mgmt_domain::CheckoutStatus::Completed, Some(t)) => Check::Done(t),
            other => Check::not_yet(format!("{other:?}")),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("checkout {sid} never completed: {e}"))
}

#[tokio::test]
async fn a_checkout_stuck_in_creating_is_resumed_once() {
    let paddle = MockPaddle::start().await.unwrap();
    let app = app_with_grace(&paddle, 3600, 3600).await;

    // A crash right after the claim: no tenant yet. The sweep makes it, and the stream then ends.
    let sub = user();
    let token = app.token(&sub);
    let started: CheckoutResponse = decode(checkout(&app, &token, "pri_free").await).await;
    let sid = started.checkout_session_id;
    app.state
        .repos
        .checkout
        .claim(&sid, mgmt_domain::CheckoutPayment::default())
        .await
        .unwrap()
        .expect("claimed");
    // Not stuck yet: a claim in progress is left alone.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(tenant_count(&app, &sub).await, 0);
    backdate_session(&app, &sid).await;
    let tenant = wait_session_completed(&app, &sid).await;
    assert_eq!(tenant_count(&app, &sub).await, 1);
    let events = checkout_events(&app, &token, &sid).await;
    assert_eq!(
        events.last().map(|e| e.event_type.as_str()),
        Some("infrastructure_ready"),
        "{events:?}"
    );
    assert_eq!(events.last().unwrap().tenant_id, tenant.to_string());

    // A crash after the tenant was made, before the session recorded it: the sweep only completes
    // the session with that tenant (no second one).
    let sub2 = user();
    let token2 = app.token(&sub2);
    let started: CheckoutResponse = decode(checkout(&app, &token2, "pri_free").await).await;
    let sid2 = started.checkout_session_id;
    let claimed2 = app
        .state
        .repos
        .checkout
        .claim(&sid2, mgmt_domain::CheckoutPayment::default())
        .await
        .unwrap()
        .expect("claimed");
    let made = app.create_tenant(&token2, &claimed2.tenant_name).await;
    backdate_session(&app, &sid2).await;
    let tenant2 = wait_session_completed(&app, &sid2).await;
    assert_eq!(tenant2.to_string(), made);
    assert_eq!(tenant_count(&app, &sub2).await, 1);
    app.stop().await;
}
