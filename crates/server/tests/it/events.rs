//! The events stream as the CLI's wait reads it (§5.1): 200 + `text/event-stream`, the current state at
//! once, only the CLI's event vocabulary, and the end right after `tenant_ready` or `provisioning_failed`.

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::cli_types::*;
use crate::contract::read_events;
use crate::helpers::*;

/// Decodes every `event: provisioning` block as the CLI does (strictly) and checks the vocabulary.
fn provisioning_events(events: &[(String, String)]) -> Vec<Event> {
    events
        .iter()
        .map(|(name, data)| {
            assert_eq!(name, "provisioning", "unexpected event name: {name}");
            let event: Event = serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}"));
            assert!(
                CLI_EVENT_TYPES.contains(&event.event_type.as_str()),
                "an event type the CLI does not know: {}",
                event.event_type
            );
            event
        })
        .collect()
}

/// Opens the stream and checks the two things the CLI checks before reading (status 200 exactly, the
/// content type).
async fn open(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    let resp = app
        .http
        .get(app.url(&format!("/api/v1/tenants/{id}/events")))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    resp
}

/// Reads until the first event has arrived (or `timeout`); returns the text read.
async fn first_event(resp: &mut reqwest::Response, timeout: Duration) -> String {
    let mut text = String::new();
    let deadline = Instant::now() + timeout;
    while !text.contains("\n\n") || !text.contains("event: provisioning") {
        match tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            resp.chunk(),
        )
        .await
        {
            Ok(Ok(Some(c))) => text.push_str(&String::from_utf8_lossy(&c)),
            Ok(Ok(None)) => break,
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("no event within {timeout:?}; got:\n{text}"),
        }
    }
    text
}

/// Reads the rest of the stream to its end.
async fn to_end(resp: &mut reqwest::Response, mut text: String, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        match tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            resp.chunk(),
        )
        .await
        {
            Ok(Ok(Some(c))) => text.push_str(&String::from_utf8_lossy(&c)),
            Ok(Ok(None)) => return text,
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("stream did not end within {timeout:?}; got:\n{text}"),
        }
    }
}

fn parse(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            name.map(|n| (n, data))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_opened_during_provisioning_sends_the_current_state_beats_and_ends_at_tenant_ready()
 {
    let app = TestApp::spawn(Options {
        env: vec![("EVENT_HEARTBEAT_SECS", "1".into())],
        ..Default::default()
    })
    .await;
    // Every Fly call takes 2 s: provisioning (three calls on its critical path) outlasts a heartbeat.
    let mock = app.mock.as_ref().unwrap();
    mock.set_global_latency(Duration::from_secs(2));
    let token = app.token(&user());
    let id = app.create_tenant(&token, "streamed").await;

    let mut resp = open(&app, &token, &id).await;
    let head = first_event(&mut resp, Duration::from_secs(10)).await;
    // The opening event is the current state: provisioning has not finished yet.
    let opening = provisioning_events(&parse(&head));
    assert_eq!(opening.len(), 1, "{head}");
    assert!(
        !["tenant_ready", "provisioning_failed"].contains(&opening[0].event_type.as_str()),
        "{head}"
    );
    assert_ne!(opening[0].status, "ready");

    let text = to_end(&mut resp, head, Duration::from_secs(60)).await;
    mock.set_global_latency(Duration::ZERO);
    assert!(text.contains(": keep-alive"), "no heartbeat in:\n{text}");
    let events = provisioning_events(&parse(&text));
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types.last(), Some(&"tenant_ready"), "{types:?}");
    assert_eq!(
        types.iter().filter(|t| **t == "tenant_ready").count(),
        1,
        "{types:?}"
    );
    assert!(types.contains(&"infrastructure_ready"), "{types:?}");
    let last = events.last().unwrap();
    assert_eq!(last.status, "ready");
    assert_eq!(last.tenant_id, id);
    assert!(last.app_url.as_deref().unwrap().starts_with("https://"));
    assert!(last.message.is_some());
    // What the stream said is what status says.
    let status = app
        .wait_status(&token, &id, "ready", Duration::from_secs(1))
        .await;
    assert_eq!(status["data"]["state"], "awaiting_deploy");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_tenant_gets_tenant_ready_at_once_and_the_stream_closes() {
    let app = TestApp::spawn(Options::default()).await;
    let token = app.token(&user());
    let id = app.create_tenant(&token, "ready one").await;
    app.wait_status(&token, &id, "ready", Duration::from_secs(30))
        .await;
    let events = provisioning_events(&read_events(&app, &token, &id, Duration::from_secs(5)).await);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event_type, "tenant_ready");
    assert_eq!(events[0].status, "ready");

    // Another customer cannot open it.
    let other = app.token(&user());
    let resp = app
        .get(&format!("/api/v1/tenants/{id}/events"), &other)
        .await;
    let err = expect_error(resp, 404).await;
    assert!(err.code.contains("not_found"), "{}", err.code);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_provisioning_ends_the_stream_with_provisioning_failed_and_its_reason() {
    let app = TestApp::spawn(Options::default()).await;
    let mock = app.mock.as_ref().unwrap();
    // A refusal Fly will not change its mind about: provisioning fails at the volume step.
    mock.faults().fail_next("create_volume", 1000, 422);
    let token = app.token(&user());
    let id = app.create_tenant(&token, "doomed").await;
    let mut resp = open(&app, &token, &id).await;
    let text = to_end(&mut resp, String::new(), Duration::from_secs(60)).await;
    mock.faults().clear();
    let events = provisioning_events(&parse(&text));
    let last = events.last().unwrap();
    assert_eq!(last.event_type, "provisioning_failed", "{events:?}");
    assert_eq!(last.status, "failed");
    assert!(
        last.message.as_deref().unwrap().contains("volume"),
        "{last:?}"
    );
    // Opened again afterwards: the failure at once.
    let again = provisioning_events(&read_events(&app, &token, &id, Duration::from_secs(5)).await);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event_type, "provisioning_failed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_tenant_being_watched_ends_the_wait_and_last_event_id_resumes() {
    let app = TestApp::spawn(Options::default()).await;
    let mock = app.mock.as_ref().unwrap();
    mock.set_global_latency(Duration::from_millis(1500));
    let token = app.token(&user());
    let id = app.create_tenant(&token, "short lived").await;
    let mut resp = open(&app, &token, &id).await;
    let head = first_event(&mut resp, Duration::from_secs(10)).await;
    let del = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tenants/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert!(del.status().is_success());
    let text = to_end(&mut resp, head, Duration::from_secs(30)).await;
    mock.set_global_latency(Duration::ZERO);
    let events = provisioning_events(&parse(&text));
    let last = events.last().unwrap();
    assert_eq!(last.event_type, "provisioning_failed", "{events:?}");
    assert!(
        last.message.as_deref().unwrap().contains("delet"),
        "{last:?}"
    );

    // A generic client that resumes with Last-Event-ID gets the log after that id (not a snapshot).
    let ids: Vec<i64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(!ids.is_empty(), "{text}");
    let resumed = app
        .http
        .get(app.url(&format!("/api/v1/tenants/{id}/events")))
        .bearer_auth(&token)
        .header("last-event-id", ids[0].to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resumed_ids: Vec<i64> = resumed
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(resumed_ids.iter().all(|i| *i > ids[0]), "{resumed}");
    let resumed = provisioning_events(&parse(&resumed));
    assert_eq!(
        resumed.last().unwrap().event_type,
        "provisioning_failed",
        "{resumed:?}"
    );
    app.stop().await;
}
