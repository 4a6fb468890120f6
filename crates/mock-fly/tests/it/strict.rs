//! mock-fly as strict as Fly: machine configs validated (guest sizes, services, checks, restart
//! policy, regions, mounts), asynchronous deletes, and a repeated certificate add refused.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Api, mock, mock_with};

const APP: &str = "strict-app";

async fn create(api: &Api, region: &str, config: Value) -> (StatusCode, Value) {
    api.post(
        &format!("/v1/apps/{APP}/machines"),
        json!({ "region": region, "config": config }),
    )
    .await
}

fn config(extra: Value) -> Value {
    let mut c = json!({ "image": "alpine" });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_machine_configs_are_refused_with_flys_error_body() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app(APP).await;
    let bad = [
        json!({"guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 300}}),
        json!({"guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 4096}}),
        json!({"guest": {"cpu_kind": "shared", "cpus": 3, "memory_mb": 768}}),
        json!({"guest": {"cpu_kind": "performance", "cpus": 1, "memory_mb": 1024}}),
        json!({"guest": {"cpu_kind": "turbo", "cpus": 1, "memory_mb": 256}}),
        json!({"services": [{"protocol": "sctp", "internal_port": 8080}]}),
        json!({"services": [{"protocol": "tcp"}]}),
        json!({"services": [{"protocol": "tcp", "internal_port": 8080, "ports": [{"port": 70000}]}]}),
        json!({"services": [{"protocol": "tcp", "internal_port": 8080, "ports": [{"port": 443, "handlers": ["magic"]}]}]}),
        json!({"checks": {"h": {"type": "grpc", "port": 8080}}}),
        json!({"checks": {"h": {"type": "http", "port": 8080, "interval": "often"}}}),
        json!({"checks": {"h": {"type": "http", "port": 8080, "path": "health"}}}),
        json!({"checks": {"h": {"type": "http"}}}),
        json!({"restart": {"policy": "sometimes"}}),
    ];
    for extra in bad {
        let (s, b) = create(&api, "iad", config(extra.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{extra} was accepted: {b}");
        assert!(b["error"].as_str().is_some_and(|e| !e.is_empty()), "{b}");
    }
    let (s, b) = create(&api, "mars", config(json!({}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(m.state().machines.is_empty(), "nothing refused was created");

    let good = config(json!({
        "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 1024},
        "services": [{"protocol": "tcp", "internal_port": 8080,
            "ports": [{"port": 80, "handlers": ["http"], "force_https": true},
                      {"port": 443, "handlers": ["tls", "http"]}]}],
        "checks": {"health": {"type": "http", "port": 8080, "path": "/api/v1/health",
            "interval": "15s", "timeout": "5s", "grace_period": "1m30s"}},
        "restart": {"policy": "on-failure", "max_retries": 3},
    }));
    let (s, b) = create(&api, "fra", good).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mounts_need_a_live_volume_of_the_app_in_the_machines_region() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app(APP).await;
    let vol = |region: &str| {
        let api = api.clone();
        let region = region.to_owned();
        async move {
            let (s, b) = api
                .post(
                    &format!("/v1/apps/{APP}/volumes"),
                    json!({"name": "data", "region": region, "size_gb": 1}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{b}");
            b["id"].as_str().unwrap().to_owned()
        }
    };
    let (s, _) = api
        .post(
            &format!("/v1/apps/{APP}/volumes"),
            json!({"name": "data", "region": "atlantis"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "unknown region");
    let fra = vol("fra").await;
    let mount = |v: &str| config(json!({"mounts": [{"volume": v, "path": "/data"}]}));
    let (s, b) = create(&api, "iad", mount(&fra)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "other region accepted: {b}");
    let (s, b) = create(&api, "fra", mount(&fra)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, _) = create(&api, "fra", mount(&fra)).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "attached to another machine already"
    );
    let doomed = vol("fra").await;
    let (s, _) = api
        .delete(&format!("/v1/apps/{APP}/volumes/{doomed}"))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = create(&api, "fra", mount(&doomed)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "pending_destroy mounted: {b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn deletes_are_asynchronous_as_on_fly() {
    let delay = Duration::from_millis(400);
    let m = mock_with(|c| c.destroy_delay = delay).await;
    let api = Api::new(&m);
    api.create_app(APP).await;
    let (_, v) = api
        .post(
            &format!("/v1/apps/{APP}/volumes"),
            json!({"name": "data", "region": "iad"}),
        )
        .await;
    let vid = v["id"].as_str().unwrap().to_owned();
    let machine = create(
        &api,
        "iad",
        config(json!({"mounts": [{"volume": vid, "path": "/data"}]})),
    )
    .await
    .1;
    let mid = machine["id"].as_str().unwrap();

    // Machine: `destroying`, holding its volume, then `destroyed`.
    let (s, b) = api
        .delete(&format!("/v1/apps/{APP}/machines/{mid}?force=true"))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, got) = api.get(&format!("/v1/apps/{APP}/machines/{mid}")).await;
    assert_eq!(got["state"], "destroying");
    let (s, _) = api.delete(&format!("/v1/apps/{APP}/volumes/{vid}")).await;
    assert_eq!(
        s,
        StatusCode::PRECONDITION_FAILED,
        "still attached while destroying"
    );
    let (s, b) = api.wait(APP, mid, "state=destroyed&timeout=5").await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // Volume: `pending_destroy`, a second delete refused, then gone.
    let (s, b) = api.delete(&format!("/v1/apps/{APP}/volumes/{vid}")).await;
    assert_eq!(
        (s, b["state"].as_str()),
        (StatusCode::OK, Some("pending_destroy"))
    );
    let (_, list) = api.get(&format!("/v1/apps/{APP}/volumes")).await;
    assert_eq!(list[0]["state"], "pending_destroy");
    let (s, _) = api.delete(&format!("/v1/apps/{APP}/volumes/{vid}")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    tokio::time::sleep(delay + Duration::from_millis(200)).await;
    let (_, list) = api.get(&format!("/v1/apps/{APP}/volumes")).await;
    assert_eq!(list, json!([]));

    // App: 202, lingers `suspended` with its name taken, then 404.
    let (s, _) = api.delete(&format!("/v1/apps/{APP}")).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, b) = api.get(&format!("/v1/apps/{APP}")).await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("suspended"))
    );
    let (s, b) = api
        .post("/v1/apps", json!({"app_name": APP, "org_slug": "personal"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, _) = api.get(&format!("/v1/apps/{APP}/volumes")).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "app-scoped routes are gone already"
    );
    let (s, _) = api.delete(&format!("/v1/apps/{APP}")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "a repeated delete is accepted");
    tokio::time::sleep(delay + Duration::from_millis(200)).await;
    let (s, _) = api.get(&format!("/v1/apps/{APP}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let st = m.state();
    assert!(st.apps.is_empty() && st.machines.is_empty() && st.volumes.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_certificate_add_is_refused_with_422() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app(APP).await;
    let path = format!("/v1/apps/{APP}/certificates/acme");
    let host = json!({"hostname": "abc.example.com"});
    let (s, _) = api.post(&path, host.clone()).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = api.post(&path, host).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(
        b["error"].as_str().unwrap().contains("already exists"),
        "{b}"
    );
}
