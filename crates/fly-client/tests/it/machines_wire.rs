//! Wire format of the Machines API client against a local fake server: auth header, error mapping,
//! retries and backoff, Retry-After, and the circuit breaker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::machines_common::{Recorder, TOKEN, client, client_with, json_reply, on};
use mgmt_fly_client::resilience::{BreakerConfig, BreakerState, RetryPolicy};
use mgmt_fly_client::{FlyError, FlyMachines};
use serde_json::json;
use wiremock::matchers::header;
use wiremock::{MockServer, ResponseTemplate};

#[tokio::test]
async fn macaroons_go_as_flyv1_and_others_as_bearer() {
    let server = MockServer::start().await;
    let app = json!({"name": "a1", "organization": {"slug": "our-org"}});
    on("GET", "/v1/apps/a1")
        .and(header("authorization", format!("FlyV1 {TOKEN}").as_str()))
        .respond_with(json_reply(200, &app))
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/v1/apps/a1")
        .and(header("authorization", "Bearer plain-token"))
        .respond_with(json_reply(200, &app))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(client(&server).get_app("a1").await.unwrap().name, "a1");
    assert_eq!(
        client_with(&server, "plain-token", |_| {})
            .get_app("a1")
            .await
            .unwrap()
            .name,
        "a1"
    );
}

#[tokio::test]
async fn errors_map_to_actionable_kinds_without_the_token() {
    let server = MockServer::start().await;
    let cases: Vec<(&str, u16, serde_json::Value)> = vec![
        ("nf", 404, json!({"error": "app not found"})),
        ("tk", 422, json!({"error": "taken", "status": "name_taken"})),
        (
            "cf",
            409,
            json!({"status": "error", "message": "lease currently held", "code": "invalid"}),
        ),
        ("un", 401, json!({"error": format!("bad token {TOKEN}")})),
        ("bad", 400, json!({"error": "invalid config"})),
    ];
    for (name, status, body) in &cases {
        on("GET", &format!("/v1/apps/{name}"))
            .respond_with(ResponseTemplate::new(*status).set_body_json(body))
            .mount(&server)
            .await;
    }
    let c = client(&server);
    assert!(matches!(c.get_app("nf").await, Err(FlyError::NotFound(m)) if m == "app not found"));
    assert!(matches!(c.get_app("tk").await, Err(FlyError::NameTaken(_))));
    assert!(
        matches!(c.get_app("cf").await, Err(FlyError::Conflict(m)) if m.contains("lease currently held"))
    );
    let unauthorized = c.get_app("un").await.unwrap_err();
    assert!(matches!(unauthorized, FlyError::Unauthorized(_)));
    assert!(
        !unauthorized.to_string().contains(TOKEN),
        "token leaked: {unauthorized}"
    );
    assert!(!format!("{unauthorized:?} {c:?}").contains(TOKEN));
    assert!(
        matches!(c.get_app("bad").await, Err(FlyError::Api { status: 400, message }) if message == "invalid config")
    );
    // None of these is transient, so none was retried.
    assert_eq!(server.received_requests().await.unwrap().len(), cases.len());
}

#[tokio::test]
async fn idempotent_calls_retry_5xx_then_succeed() {
    let server = MockServer::start().await;
    on("GET", "/v1/apps/a1/volumes")
        .respond_with(json_reply(503, json!({"error": "busy"})))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    on("GET", "/v1/apps/a1/volumes")
        .respond_with(json_reply(
            200,
            json!([{"id": "vol_1", "name": "services"}]),
        ))
        .mount(&server)
        .await;
    let recorder = Arc::new(Recorder::default());
    let c = client(&server).with_observer(recorder.clone());
    let vols = c.list_volumes("a1").await.unwrap();
    assert_eq!(vols[0].id, "vol_1");
    let outcomes: Vec<_> = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, op, o)| format!("{op}:{o}"))
        .collect();
    assert_eq!(
        outcomes,
        [
            "list_volumes:transient",
            "list_volumes:transient",
            "list_volumes:ok"
        ]
    );
}

#[tokio::test]
async fn retries_are_bounded_and_end_transient() {
    let server = MockServer::start().await;
    on("GET", "/v1/apps/a1")
        .respond_with(ResponseTemplate::new(502))
        .expect(4)
        .mount(&server)
        .await;
    assert!(matches!(
        client(&server).get_app("a1").await,
        Err(FlyError::Transient(_))
    ));
}

#[tokio::test]
async fn retry_after_is_honoured_and_429_ends_rate_limited() {
    let server = MockServer::start().await;
    on("GET", "/v1/apps/a1")
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    on("GET", "/v1/apps/a1")
        .respond_with(json_reply(200, json!({"name": "a1"})))
        .mount(&server)
        .await;
    let started = Instant::now();
    client(&server).get_app("a1").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited only {:?}",
        started.elapsed()
    );

    on("GET", "/v1/apps/a2")
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .expect(4)
        .mount(&server)
        .await;
    let err = client(&server).get_app("a2").await.unwrap_err();
    assert!(
        matches!(err, FlyError::RateLimited { retry_after: Some(d) } if d == Duration::ZERO),
        "{err:?}"
    );
}

#[tokio::test]
async fn non_idempotent_creates_are_not_retried_on_5xx() {
    let server = MockServer::start().await;
    on("POST", "/v1/apps/a1/volumes")
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    let req = mgmt_fly_client::CreateVolumeRequest {
        name: "services".into(),
        region: "iad".into(),
        size_gb: 1,
        encrypted: None,
    };
    assert!(matches!(
        client(&server).create_volume("a1", &req).await,
        Err(FlyError::Transient(_))
    ));
}

#[tokio::test]
async fn breaker_opens_fails_fast_and_probes_half_open() {
    let server = MockServer::start().await;
    let c = client_with(&server, TOKEN, |cfg| {
        cfg.retry = RetryPolicy::none();
        cfg.breaker = BreakerConfig {
            failure_threshold: 3,
            cool_down: Duration::from_secs(60),
        };
    });
    on("GET", "/v1/apps/a1")
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(5)
        .mount(&server)
        .await;
    on("GET", "/v1/apps/a1")
        .respond_with(json_reply(200, json!({"name": "a1"})))
        .mount(&server)
        .await;
    // A 404 is the upstream working: it does not count.
    on("GET", "/v1/apps/gone")
        .respond_with(json_reply(404, json!({"error": "app not found"})))
        .mount(&server)
        .await;
    for _ in 0..2 {
        assert!(c.get_app("a1").await.is_err());
        assert!(c.get_app("gone").await.unwrap_err().is_not_found());
    }
    assert_eq!(
        c.breaker_state(),
        BreakerState::Closed,
        "404s reset the count"
    );
    for _ in 0..3 {
        assert!(matches!(c.get_app("a1").await, Err(FlyError::Transient(_))));
    }
    assert_eq!(c.breaker_state(), BreakerState::Open);
    let before = server.received_requests().await.unwrap().len();
    assert!(matches!(
        c.get_app("a1").await,
        Err(FlyError::CircuitOpen {
            upstream: "machines"
        })
    ));
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        before,
        "open breaker sends nothing"
    );
    // The breaker runs on tokio's clock: move it past the cool-down instead of sleeping. Paused only for
    // the jump, so no request's own timeout can fire meanwhile.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(61)).await;
    tokio::time::resume();
    assert_eq!(c.circuit_state(), Some(BreakerState::HalfOpen));
    assert_eq!(c.get_app("a1").await.unwrap().name, "a1");
    assert_eq!(c.breaker_state(), BreakerState::Closed);
}
