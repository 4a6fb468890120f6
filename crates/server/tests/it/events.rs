//! The events stream: replays, follows live events with heartbeats, resumes after `Last-Event-ID`, and
//! ends once the tenant settles in a final state.

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::cli_types::*;
use crate::contract::read_events;
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_follows_live_events_with_heartbeats_and_ends_when_the_tenant_is_deleted() {
    let app = TestApp::spawn(Options {
        env: vec![("EVENT_HEARTBEAT_SECS", "1".into())],
        ..Default::default()
    })
    .await;
    let token = app.token(&user());
    let id = app.create_tenant(&token, "streamed").await;

    let mut resp = app
        .http
        .get(app.url(&format!("/api/v1/tenants/{id}/events")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut text = String::new();
    // Provisioning ends in awaiting_deploy, which does not end the stream: it must stay open and beat.
    app.wait_status(&token, &id, "awaiting_deploy", Duration::from_secs(30))
        .await;
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        match tokio::time::timeout(
            until.saturating_duration_since(Instant::now()),
            resp.chunk(),
        )
        .await
        {
            Ok(Ok(Some(c))) => text.push_str(&String::from_utf8_lossy(&c)),
            Ok(Ok(None)) => panic!("stream ended while the tenant awaits a deploy:\n{text}"),
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => break,
        }
    }
    assert!(text.contains(": keep-alive"), "no heartbeat in:\n{text}");
    assert!(
        text.contains("infrastructure_ready"),
        "live events missing:\n{text}"
    );

    let del = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tenants/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert!(del.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            resp.chunk(),
        )
        .await
        {
            Ok(Ok(Some(c))) => text.push_str(&String::from_utf8_lossy(&c)),
            Ok(Ok(None)) => break,
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("stream did not end after deletion:\n{text}"),
        }
    }
    let events: Vec<Event> = text
        .split("\n\n")
        .filter(|b| b.contains("event: provisioning"))
        .map(|b| {
            let data = b.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}"))
        })
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types.first(), Some(&"tenant_created"), "{types:?}");
    assert_eq!(events.last().unwrap().status, "deleted", "{types:?}");

    // Ids let a reconnecting client resume: after the last id nothing is replayed and the stream ends.
    let ids: Vec<i64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(ids.len(), events.len());
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let resumed = app
        .http
        .get(app.url(&format!("/api/v1/tenants/{id}/events")))
        .bearer_auth(&token)
        .header("last-event-id", ids[ids.len() - 2].to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        resumed.matches("event: provisioning").count(),
        1,
        "{resumed}"
    );
    // A replay of a finished tenant is the whole log and ends at once.
    let replay = read_events(&app, &token, &id, Duration::from_secs(5)).await;
    assert_eq!(replay.len(), events.len());
    app.stop().await;
}
