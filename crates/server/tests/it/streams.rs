//! Issue 19: event streams follow the database's notifications through the fan-out hub (no polling),
//! two processes on one database each deliver every event exactly once, slow subscribers are dropped,
//! a lost listener makes one catch-up read, the per-customer and per-process limits answer 429/503 with
//! `Retry-After`, a closed stream frees its slot at once, and `/metrics` is private.

use std::time::{Duration, Instant};

use diesel_async::SimpleAsyncConnection;
use mgmt_domain::{Customer, EventType, NewTenantEvent, Tenant, TenantState};
use mgmt_http::fanout::{EventsHub, Update};
use mgmt_server::Application;
use mgmt_server::settings::Settings;
use mgmt_test_support::wait::{Check, eventually};

use crate::helpers::*;

/// The customer behind `sub` (created by its first request) and a tenant of it in provisioning.
async fn customer_and_tenant(app: &TestApp, token: &str, sub: &str) -> (Customer, Tenant) {
    let me = app
        .call(reqwest::Method::GET, "/api/v1/auth/me", Some(token), None)
        .await;
    assert_eq!(me.status(), 200);
    let customer = app
        .state
        .repos
        .customers
        .find_by_subject(sub)
        .await
        .unwrap()
        .unwrap();
    let tenant = app.db.tenant(customer.id, "streamed").await.unwrap();
    (customer, tenant)
}

async fn open_on(
    app_url: &str,
    http: &reqwest::Client,
    token: &str,
    id: &str,
) -> reqwest::Response {
    http.get(format!("{app_url}/api/v1/tenants/{id}/events"))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap()
}

/// Reads until `needle` shows up (or the stream ends); returns everything read.
async fn read_until(resp: &mut reqwest::Response, needle: &str, timeout: Duration) -> String {
    let mut text = String::new();
    let deadline = Instant::now() + timeout;
    while !text.contains(needle) {
        match tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            resp.chunk(),
        )
        .await
        {
            Ok(Ok(Some(c))) => text.push_str(&String::from_utf8_lossy(&c)),
            Ok(Ok(None)) => break,
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("{needle:?} not within {timeout:?}; got:\n{text}"),
        }
    }
    text
}

async fn append(app: &TestApp, tenant: &Tenant, kind: EventType, message: &str) -> i64 {
    app.state
        .repos
        .events
        .append(NewTenantEvent::new(
            tenant.id,
            kind,
            TenantState::Provisioning,
            Some(message.to_owned()),
        ))
        .await
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_event_reaches_the_stream_at_once_and_a_rolled_back_one_never() {
    let app = TestApp::spawn(Options {
        fly: false,
        // Polling, were there any, would take a minute.
        env: vec![("EVENT_POLL_INTERVAL_MS", "60000".into())],
        ..Default::default()
    })
    .await;
    let sub = user();
    let token = app.token(&sub);
    let (_, tenant) = customer_and_tenant(&app, &token, &sub).await;
    let mut resp = open_on(&app.url(""), &app.http, &token, &tenant.id.to_string()).await;
    assert_eq!(resp.status(), 200);
    let head = read_until(&mut resp, "}\n\n", Duration::from_secs(10)).await;
    assert!(head.contains("event: provisioning"), "{head}");

    let mut conn = app.db.pool.get().await.unwrap();
    conn.batch_execute(&format!(
        "BEGIN;
         INSERT INTO management.tenant_events (tenant_id, event_type, status, message)
             VALUES ('{}', 'vm_provisioning_progress', 'provisioning', 'rolled back');
         ROLLBACK;",
        tenant.id
    ))
    .await
    .unwrap();
    let started = Instant::now();
    append(
        &app,
        &tenant,
        EventType::VmProvisioningProgress,
        "committed",
    )
    .await;
    let text = read_until(&mut resp, "committed", Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "delivered by notification, not by a poll: {:?}",
        started.elapsed()
    );
    append(&app, &tenant, EventType::TenantReady, "ready now").await;
    let rest = read_until(&mut resp, "ready now", Duration::from_secs(5)).await;
    let all = format!("{head}{text}{rest}");
    assert!(!all.contains("rolled back"), "{all}");
    // The stream ends after the terminal event.
    assert!(
        tokio::time::timeout(Duration::from_secs(5), resp.chunk())
            .await
            .expect("the stream ends")
            .unwrap()
            .is_none()
    );
}

/// Every `id:` of a stream's text, in order.
fn ids(text: &str) -> Vec<i64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("id:"))
        .map(|v| v.trim().parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_database_each_deliver_every_event_once_per_stream() {
    let app = TestApp::spawn(Options {
        fly: false,
        ..Default::default()
    })
    .await;
    let settings = Settings::load(None, Some(base_env(&app.db.url()))).unwrap();
    let second = Application::build(settings).await.unwrap();
    let second_url = format!("http://{}", second.api_addr());
    let stop_second = second.shutdown_token();
    let second_task = tokio::spawn(second.run_until_stopped());

    let sub = user();
    let token = app.token(&sub);
    let (_, tenant) = customer_and_tenant(&app, &token, &sub).await;
    let id = tenant.id.to_string();
    let mut streams = Vec::new();
    for base in [
        app.url(""),
        app.url(""),
        second_url.clone(),
        second_url.clone(),
    ] {
        let mut resp = open_on(&base, &app.http, &token, &id).await;
        assert_eq!(resp.status(), 200);
        let head = read_until(&mut resp, "}\n\n", Duration::from_secs(10)).await;
        streams.push((resp, head));
    }
    let mut written = Vec::new();
    for i in 0..5 {
        written.push(
            append(
                &app,
                &tenant,
                EventType::VmProvisioningProgress,
                &format!("step {i}"),
            )
            .await,
        );
    }
    written.push(append(&app, &tenant, EventType::TenantReady, "done").await);
    for (resp, head) in &mut streams {
        let text = read_until(resp, "\"done\"", Duration::from_secs(10)).await;
        assert_eq!(
            ids(&text),
            written,
            "each event exactly once, in order:\n{head}{text}"
        );
    }
    stop_second.cancel();
    second_task.await.unwrap().unwrap();
}

/// The next update within `within`.
async fn next(
    sub: &mut mgmt_http::fanout::Subscription,
    within: Duration,
) -> Option<std::sync::Arc<Update>> {
    tokio::time::timeout(within, sub.recv())
        .await
        .ok()
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_reads_once_on_a_missed_signal_and_drops_a_subscriber_that_does_not_keep_up() {
    let app = TestApp::spawn(Options {
        fly: false,
        ..Default::default()
    })
    .await;
    let customer = app.db.customer().await.unwrap();
    let tenant = app.db.tenant(customer.id, "hub").await.unwrap();
    // A hub of its own, fed by nobody: only what the test signals wakes it.
    let hub = EventsHub::new(app.state.repos.clone(), 2);
    let first = append(&app, &tenant, EventType::VmProvisioningProgress, "before").await;
    let mut sub = hub.subscribe(tenant.id, first);
    // Subscribing reads once (what committed between the caller's read and the subscription).
    match next(&mut sub, Duration::from_secs(5)).await.as_deref() {
        Some(Update::Changed { events, .. }) => assert!(events.is_empty()),
        other => panic!("{other:?}"),
    }
    let second = append(
        &app,
        &tenant,
        EventType::VmProvisioningProgress,
        "unsignalled",
    )
    .await;
    assert!(
        next(&mut sub, Duration::from_millis(500)).await.is_none(),
        "no poll"
    );
    hub.missed();
    match next(&mut sub, Duration::from_secs(5)).await.as_deref() {
        Some(Update::Changed { events, .. }) => {
            assert_eq!(
                events.iter().map(|e| e.id).collect::<Vec<_>>(),
                vec![second]
            );
        }
        other => panic!("{other:?}"),
    }

    // Bounded: a subscriber that stops reading is dropped once its 2 slots are full.
    for i in 0..4 {
        append(
            &app,
            &tenant,
            EventType::VmProvisioningProgress,
            &format!("burst {i}"),
        )
        .await;
        hub.changed(tenant.id);
        // Lets the topic read between signals (signals during a read coalesce into one more read).
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eventually(Duration::from_secs(5), || async {
        if hub.open_subscribers() == 0 {
            Check::Done(())
        } else {
            Check::not_yet("still subscribed")
        }
    })
    .await
    .unwrap();
    assert!(next(&mut sub, Duration::from_secs(1)).await.is_some());
    assert!(next(&mut sub, Duration::from_secs(1)).await.is_some());
    assert!(sub.recv().await.is_none(), "dropped after what was queued");
    assert_eq!(hub.open_topics(), 0);
}

async fn error_code(resp: reqwest::Response) -> String {
    let body: serde_json::Value = resp.json().await.unwrap();
    body["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_limits_answer_429_and_503_and_a_closed_stream_frees_its_slot_at_once() {
    let app = TestApp::spawn(Options {
        fly: false,
        env: vec![
            ("STREAMS_PER_CUSTOMER", "2".into()),
            ("STREAMS_PER_PROCESS", "3".into()),
        ],
        ..Default::default()
    })
    .await;
    let (a_sub, b_sub) = (user(), user());
    let (a, b) = (app.token(&a_sub), app.token(&b_sub));
    let (_, ta) = customer_and_tenant(&app, &a, &a_sub).await;
    let (_, tb) = customer_and_tenant(&app, &b, &b_sub).await;
    let (ta, tb) = (ta.id.to_string(), tb.id.to_string());
    let base = app.url("");
    let a1 = open_on(&base, &app.http, &a, &ta).await;
    let a2 = open_on(&base, &app.http, &a, &ta).await;
    assert_eq!((a1.status().as_u16(), a2.status().as_u16()), (200, 200));
    let refused = open_on(&base, &app.http, &a, &ta).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(error_code(refused).await, "too_many_streams");

    let b1 = open_on(&base, &app.http, &b, &tb).await;
    assert_eq!(b1.status(), 200);
    let full = open_on(&base, &app.http, &b, &tb).await;
    assert_eq!(full.status(), 503);
    assert!(full.headers().contains_key("retry-after"));
    assert_eq!(error_code(full).await, "stream_capacity");

    // The client goes away: the slot is free well before the 15 s heartbeat would notice.
    drop(a1);
    let started = Instant::now();
    eventually(Duration::from_secs(3), || async {
        match app.state.limits.open_streams() {
            2 => Check::Done(()),
            n => Check::not_yet(format!("{n} open")),
        }
    })
    .await
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    let again = open_on(&base, &app.http, &a, &ta).await;
    assert_eq!(again.status(), 200);
    drop((a2, b1, again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_over_its_request_rate_gets_429_with_retry_after_and_others_do_not() {
    let app = TestApp::spawn(Options {
        fly: false,
        env: vec![
            ("CUSTOMER_REQUESTS_PER_SECOND", "1".into()),
            ("CUSTOMER_REQUEST_BURST", "3".into()),
        ],
        ..Default::default()
    })
    .await;
    let (loud, quiet) = (app.token(&user()), app.token(&user()));
    for _ in 0..3 {
        let r = app
            .call(reqwest::Method::GET, "/api/v1/tenants", Some(&loud), None)
            .await;
        assert_eq!(r.status(), 200);
    }
    let r = app
        .call(reqwest::Method::GET, "/api/v1/tenants", Some(&loud), None)
        .await;
    assert_eq!(r.status(), 429);
    let after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&after), "{after}");
    assert_eq!(error_code(r).await, "rate_limited");
    let r = app
        .call(reqwest::Method::GET, "/api/v1/tenants", Some(&quiet), None)
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_only_on_the_private_listener() {
    let app = TestApp::spawn(Options {
        fly: false,
        ..Default::default()
    })
    .await;
    let public = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
    assert_eq!(error_code(public).await, "route_not_found");
    let private = app.http.get(app.metrics_url()).send().await.unwrap();
    assert_eq!(private.status(), 200);
    let text = private.text().await.unwrap();
    assert!(text.contains(r#"jobs{state="queued"} 0"#), "{text}");
    assert!(text.contains("event_streams_open 0"), "{text}");
    let other = app
        .http
        .get(app.metrics_url().replace("/metrics", "/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        404,
        "the private listener serves only /metrics"
    );
}
