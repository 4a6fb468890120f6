//! Wire format of the Machines API client against a local fake server: requests sent, auth header,
//! error mapping, retries and backoff, Retry-After, the breaker, and creates made safe to repeat.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fly_client::resilience::{BreakerConfig, BreakerState, CallObserver, RetryPolicy};
use fly_client::{CreateMachineRequest, FlyError, FlyMachines, HttpFlyMachines, MachineConfig, MachineState, MachinesConfig};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "fm2_sekrit-macaroon-token";

fn fast_retry() -> RetryPolicy {
    RetryPolicy { max_retries: 3, min_delay: Duration::from_millis(10), max_delay: Duration::from_millis(50), max_retry_after: Duration::from_secs(5) }
}

fn client_with(server: &MockServer, token: &str, f: impl FnOnce(&mut MachinesConfig)) -> HttpFlyMachines {
    let mut cfg = MachinesConfig::new(server.uri(), SecretString::from(token.to_string()), "our-org");
    cfg.retry = fast_retry();
    cfg.consistency_wait = Duration::from_millis(300);
    f(&mut cfg);
    HttpFlyMachines::new(cfg).unwrap()
}

fn client(server: &MockServer) -> HttpFlyMachines {
    client_with(server, TOKEN, |_| {})
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String, String)>>);

impl CallObserver for Recorder {
    fn on_call(&self, upstream: &str, operation: &str, outcome: &str, _elapsed: Duration) {
        self.0.lock().unwrap().push((upstream.into(), operation.into(), outcome.into()));
    }
}

#[tokio::test]
async fn macaroons_go_as_flyv1_and_others_as_bearer() {
    let server = MockServer::start().await;
    let app = json!({"name": "a1", "organization": {"slug": "our-org"}});
    Mock::given(method("GET")).and(path("/v1/apps/a1")).and(header("authorization", format!("FlyV1 {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(&app)).expect(1).mount(&server).await;
    Mock::given(method("GET")).and(path("/v1/apps/a1")).and(header("authorization", "Bearer plain-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&app)).expect(1).mount(&server).await;
    assert_eq!(client(&server).get_app("a1").await.unwrap().name, "a1");
    assert_eq!(client_with(&server, "plain-token", |_| {}).get_app("a1").await.unwrap().name, "a1");
}

#[tokio::test]
async fn errors_map_to_actionable_kinds_without_the_token() {
    let server = MockServer::start().await;
    let cases: Vec<(&str, u16, serde_json::Value)> = vec![
        ("nf", 404, json!({"error": "app not found"})),
        ("tk", 422, json!({"error": "taken", "status": "name_taken"})),
        ("cf", 409, json!({"status": "error", "message": "lease currently held", "code": "invalid"})),
        ("un", 401, json!({"error": format!("bad token {TOKEN}")})),
        ("bad", 400, json!({"error": "invalid config"})),
    ];
    for (name, status, body) in &cases {
        Mock::given(method("GET")).and(path(format!("/v1/apps/{name}")))
            .respond_with(ResponseTemplate::new(*status).set_body_json(body)).mount(&server).await;
    }
    let c = client(&server);
    assert!(matches!(c.get_app("nf").await, Err(FlyError::NotFound(m)) if m == "app not found"));
    assert!(matches!(c.get_app("tk").await, Err(FlyError::NameTaken(_))));
    assert!(matches!(c.get_app("cf").await, Err(FlyError::Conflict(m)) if m.contains("lease currently held")));
    let unauthorized = c.get_app("un").await.unwrap_err();
    assert!(matches!(unauthorized, FlyError::Unauthorized(_)));
    assert!(!unauthorized.to_string().contains(TOKEN), "token leaked: {unauthorized}");
    assert!(!format!("{unauthorized:?} {c:?}").contains(TOKEN));
    assert!(matches!(c.get_app("bad").await, Err(FlyError::Api { status: 400, message }) if message == "invalid config"));
    // None of these is transient, so none was retried.
    assert_eq!(server.received_requests().await.unwrap().len(), cases.len());
}

#[tokio::test]
async fn idempotent_calls_retry_5xx_then_succeed() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/v1/apps/a1/volumes"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": "busy"})))
        .up_to_n_times(2).mount(&server).await;
    Mock::given(method("GET")).and(path("/v1/apps/a1/volumes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": "vol_1", "name": "services"}])))
        .mount(&server).await;
    let recorder = Arc::new(Recorder::default());
    let c = client(&server).with_observer(recorder.clone());
    let vols = c.list_volumes("a1").await.unwrap();
    assert_eq!(vols[0].id, "vol_1");
    let outcomes: Vec<_> = recorder.0.lock().unwrap().iter().map(|(_, op, o)| format!("{op}:{o}")).collect();
    assert_eq!(outcomes, ["list_volumes:transient", "list_volumes:transient", "list_volumes:ok"]);
}

#[tokio::test]
async fn retries_are_bounded_and_end_transient() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/v1/apps/a1"))
        .respond_with(ResponseTemplate::new(502)).expect(4).mount(&server).await;
    assert!(matches!(client(&server).get_app("a1").await, Err(FlyError::Transient(_))));
}

#[tokio::test]
async fn retry_after_is_honoured_and_429_ends_rate_limited() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/v1/apps/a1"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1")).up_to_n_times(1).mount(&server).await;
    Mock::given(method("GET")).and(path("/v1/apps/a1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": "a1"}))).mount(&server).await;
    let started = Instant::now();
    client(&server).get_app("a1").await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "waited only {:?}", started.elapsed());

    Mock::given(method("GET")).and(path("/v1/apps/a2"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0")).expect(4).mount(&server).await;
    let err = client(&server).get_app("a2").await.unwrap_err();
    assert!(matches!(err, FlyError::RateLimited { retry_after: Some(d) } if d == Duration::ZERO), "{err:?}");
}

#[tokio::test]
async fn non_idempotent_creates_are_not_retried_on_5xx() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/v1/apps/a1/volumes"))
        .respond_with(ResponseTemplate::new(500)).expect(1).mount(&server).await;
    let req = fly_client::CreateVolumeRequest { name: "services".into(), region: "iad".into(), size_gb: 1, encrypted: None };
    assert!(matches!(client(&server).create_volume("a1", &req).await, Err(FlyError::Transient(_))));
}

#[tokio::test]
async fn breaker_opens_fails_fast_and_probes_half_open() {
    let server = MockServer::start().await;
    let c = client_with(&server, TOKEN, |cfg| {
        cfg.retry = RetryPolicy::none();
        cfg.breaker = BreakerConfig { failure_threshold: 3, cool_down: Duration::from_millis(300) };
    });
    Mock::given(method("GET")).and(path("/v1/apps/a1"))
        .respond_with(ResponseTemplate::new(503)).up_to_n_times(5).mount(&server).await;
    Mock::given(method("GET")).and(path("/v1/apps/a1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": "a1"}))).mount(&server).await;
    // A 404 is the upstream working: it does not count.
    Mock::given(method("GET")).and(path("/v1/apps/gone"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "app not found"}))).mount(&server).await;
    for _ in 0..2 {
        assert!(c.get_app("a1").await.is_err());
        assert!(c.get_app("gone").await.unwrap_err().is_not_found());
    }
    assert_eq!(c.breaker_state(), BreakerState::Closed, "404s reset the count");
    for _ in 0..3 {
        assert!(matches!(c.get_app("a1").await, Err(FlyError::Transient(_))));
    }
    assert_eq!(c.breaker_state(), BreakerState::Open);
    let before = server.received_requests().await.unwrap().len();
    assert!(matches!(c.get_app("a1").await, Err(FlyError::CircuitOpen { upstream: "machines" })));
    assert_eq!(server.received_requests().await.unwrap().len(), before, "open breaker sends nothing");
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(c.circuit_state(), Some(BreakerState::HalfOpen));
    assert_eq!(c.get_app("a1").await.unwrap().name, "a1");
    assert_eq!(c.breaker_state(), BreakerState::Closed);
}

#[tokio::test]
async fn name_taken_is_adopted_when_the_app_is_ours() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/v1/apps")).and(body_json(json!({"app_name": "a1", "name": "a1", "org_slug": "our-org"})))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({"error": "taken", "status": "name_taken"})))
        .mount(&server).await;
    Mock::given(method("GET")).and(path("/v1/apps/a1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": "a1", "organization": {"slug": "our-org"}})))
        .mount(&server).await;
    let created = client(&server).create_app("a1").await.unwrap();
    assert!(!created.created);
    assert_eq!(created.app.name, "a1");
}

#[tokio::test]
async fn name_taken_by_another_org_or_invisible_is_name_taken() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/v1/apps"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({"error": "taken", "status": "name_taken"})))
        .mount(&server).await;
    Mock::given(method("GET")).and(path("/v1/apps/theirs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": "theirs", "organization": {"slug": "other"}})))
        .mount(&server).await;
    Mock::given(method("GET")).and(path("/v1/apps/hidden"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "app not found"}))).mount(&server).await;
    let c = client(&server);
    assert!(matches!(c.create_app("theirs").await, Err(FlyError::NameTaken(_))));
    assert!(matches!(c.create_app("hidden").await, Err(FlyError::NameTaken(_))));
}

#[tokio::test]
async fn created_app_body_is_returned() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/v1/apps"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "app_1", "name": "a1", "extra": 1}))).mount(&server).await;
    let created = client(&server).create_app("a1").await.unwrap();
    assert!(created.created);
    assert_eq!(created.app.id.as_deref(), Some("app_1"));
}

fn machine_request() -> CreateMachineRequest {
    let mut config = MachineConfig { image: "registry.fly.io/x@sha256:abc".into(), ..Default::default() };
    config.metadata.insert("tenant_id".into(), "t-1".into());
    CreateMachineRequest { region: Some("iad".into()), config, ..Default::default() }
}

fn machine_json(id: &str, tenant: &str) -> serde_json::Value {
    json!({"id": id, "state": "created", "instance_id": "01H", "config": {"image": "i", "metadata": {"tenant_id": tenant}}})
}

#[tokio::test]
async fn machine_create_408_is_resolved_by_metadata_lookup() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/v1/apps/a1/machines"))
        .respond_with(ResponseTemplate::new(408).set_body_json(json!({"error": "timeout"}))).expect(1).mount(&server).await;
    Mock::given(method("GET")).and(path("/v1/apps/a1/machines")).and(query_param("metadata.tenant_id", "t-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([machine_json("m-other", "t-2"), machine_json("m-1", "t-1")])))
        .expect(1).mount(&server).await;
    let m = client(&server).create_machine("a1", &machine_request(), None).await.unwrap();
    assert_eq!(m.id, "m-1");
}

#[tokio::test]
async fn machine_create_408_without_a_match_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/v1/apps/a1/machines")).and(header("fly-machine-lease-nonce", "n1"))
        .respond_with(ResponseTemplate::new(408)).up_to_n_times(1).mount(&server).await;
    Mock::given(method("POST")).and(path("/v1/apps/a1/machines"))
        .respond_with(ResponseTemplate::new(200).set_body_json(machine_json("m-2", "t-1"))).expect(1).mount(&server).await;
    Mock::given(method("GET")).and(path("/v1/apps/a1/machines"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([]))).expect(1).mount(&server).await;
    let m = client(&server).create_machine("a1", &machine_request(), Some("n1")).await.unwrap();
    assert_eq!(m.id, "m-2");
}

#[tokio::test]
async fn wait_keeps_waiting_through_408_then_times_out_transient() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/v1/apps/a1/machines/m1/wait"))
        .and(query_param("state", "started")).and(query_param("instance_id", "01H")).and(query_param("timeout", "1"))
        .respond_with(ResponseTemplate::new(408).set_body_json(json!({"error": "deadline exceeded"})))
        .up_to_n_times(2).mount(&server).await;
    Mock::given(method("GET")).and(path("/v1/apps/a1/machines/m1/wait"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true}))).mount(&server).await;
    let c = client(&server);
    c.wait_machine("a1", "m1", MachineState::Started, Some("01H"), Duration::from_secs(1)).await.unwrap();

    Mock::given(method("GET")).and(path("/v1/apps/a1/machines/m2/wait"))
        .respond_with(ResponseTemplate::new(408)).mount(&server).await;
    let err = c.wait_machine("a1", "m2", MachineState::Stopped, None, Duration::from_millis(1500)).await.unwrap_err();
    assert!(matches!(err, FlyError::Transient(_)), "{err:?}");
    assert_eq!(c.breaker_state(), BreakerState::Closed, "408 from wait is not a failure");
}

#[tokio::test]
async fn leases_secrets_and_ips_use_fly_shapes() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/v1/apps/a1/machines/m1/lease")).and(body_json(json!({"ttl": 30, "description": "deploy"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"status": "success", "data": {"nonce": "n1", "expires_at": 1}})))
        .mount(&server).await;
    Mock::given(method("DELETE")).and(path("/v1/apps/a1/machines/m1/lease")).and(header("fly-machine-lease-nonce", "n1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "success", "data": {"ok": true}})))
        .expect(1).mount(&server).await;
    Mock::given(method("POST")).and(path("/v1/apps/a1/secrets")).and(body_json(json!({"values": {"K": "v"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"version": 3, "secrets": [{"name": "K", "value": "v"}]})))
        .mount(&server).await;
    Mock::given(method("POST")).and(path("/v1/apps/a1/secrets")).and(body_json(json!({"values": {"K": null}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Version": 4, "secrets": []}))).mount(&server).await;
    Mock::given(method("GET")).and(path("/v1/apps/a1/secrets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"secrets": [{"name": "K", "digest": "d"}]}))).mount(&server).await;
    Mock::given(method("POST")).and(path("/v1/apps/a1/ip_assignments")).and(body_json(json!({"type": "shared_v4"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ip": "1.2.3.4", "shared": true}))).mount(&server).await;
    Mock::given(method("DELETE")).and(path("/v1/apps/a1/machines/m1")).and(query_param("force", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true}))).expect(1).mount(&server).await;
    let c = client(&server);
    let lease = c.acquire_lease("a1", "m1", Duration::from_secs(30), "deploy").await.unwrap();
    assert_eq!(lease.nonce, "n1");
    c.release_lease("a1", "m1", "n1").await.unwrap();
    let secrets = [("K".to_string(), SecretString::from("v".to_string()))].into_iter().collect();
    assert_eq!(c.set_secrets("a1", secrets).await.unwrap(), 3);
    assert_eq!(c.unset_secrets("a1", &["K".into()]).await.unwrap(), 4);
    assert_eq!(c.list_secret_names("a1").await.unwrap().names, ["K"]);
    assert_eq!(c.assign_ip("a1", fly_client::IpKind::SharedV4).await.unwrap().ip, "1.2.3.4");
    c.delete_machine("a1", "m1", true, None).await.unwrap();
}
