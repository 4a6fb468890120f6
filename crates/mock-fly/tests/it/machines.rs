//! Machines: lifecycle, wait, update, delete, list filters, and image resolution against the registry.

use std::time::{Duration, Instant};

use crate::common::{Api, mock, mock_with};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn lifecycle_created_starting_started_then_stop_and_start() {
    let m = mock_with(|c| c.machine_start_delay = Duration::from_millis(500)).await;
    let api = Api::new(&m);
    api.create_app("sp-life").await;
    let t0 = Instant::now();
    let created = api
        .create_machine("sp-life", "registry-1.docker.io/library/ubuntu:latest")
        .await;
    assert_eq!(created["state"], "created");
    let id = created["id"].as_str().unwrap().to_owned();
    let v1 = created["instance_id"].as_str().unwrap().to_owned();
    assert_eq!(v1.len(), 26);
    let (_, now) = api.get(&format!("/v1/apps/sp-life/machines/{id}")).await;
    assert_eq!(now["state"], "starting");
    let (s, w) = api
        .wait(
            "sp-life",
            &id,
            &format!("state=started&instance_id={v1}&timeout=10"),
        )
        .await;
    assert_eq!((s, w["ok"].as_bool()), (StatusCode::OK, Some(true)));
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "started before machine_start_delay"
    );
    assert_eq!(w["version"], v1.as_str());

    let (s, b) = api
        .post(&format!("/v1/apps/sp-life/machines/{id}/start"), json!({}))
        .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{b}");
    assert_eq!(
        api.post(&format!("/v1/apps/sp-life/machines/{id}/stop"), json!({}))
            .await
            .0,
        StatusCode::OK
    );
    let (s, w) = api
        .wait(
            "sp-life",
            &id,
            &format!("state=stopped&instance_id={v1}&timeout=5"),
        )
        .await;
    assert_eq!((s, w["state"].as_str()), (StatusCode::OK, Some("stopped")));
    let (s, b) = api
        .post(&format!("/v1/apps/sp-life/machines/{id}/start"), json!({}))
        .await;
    assert_eq!(
        (s, b["previous_state"].as_str()),
        (StatusCode::OK, Some("stopped"))
    );
    assert_eq!(
        api.wait("sp-life", &id, "state=started&timeout=5").await.0,
        StatusCode::OK
    );
    assert_eq!(
        api.post(
            &format!("/v1/apps/sp-life/machines/{id}/restart"),
            json!({})
        )
        .await
        .0,
        StatusCode::OK
    );
    // A restart is a stop and a start: the machine goes down first, keeping its version.
    assert_eq!(m.state().machines[0].state, "stopping");
    assert_eq!(
        api.wait("sp-life", &id, "state=started&timeout=5").await.0,
        StatusCode::OK
    );
    let snapshot = m.state();
    let events: Vec<&str> = snapshot.machines[0]
        .events
        .iter()
        .map(|e| e["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(events[..4], ["started", "starting", "stopped", "stopping"]);
}

#[tokio::test]
async fn wait_times_out_with_408_and_checks_its_arguments() {
    let m = mock_with(|c| c.machine_start_delay = Duration::from_secs(30)).await;
    let api = Api::new(&m);
    api.create_app("sp-wait").await;
    let id = api.create_machine("sp-wait", "alpine").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t0 = Instant::now();
    let (s, b) = api.wait("sp-wait", &id, "state=started&timeout=1").await;
    assert_eq!(s, StatusCode::REQUEST_TIMEOUT, "{b}");
    assert!(b["error"].is_string());
    assert!(t0.elapsed() >= Duration::from_millis(900));
    assert_eq!(
        api.wait("sp-wait", &id, "state=flying").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.wait("sp-wait", &id, "timeout=soon").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.wait("sp-wait", "00000000000000", "timeout=1").await.0,
        StatusCode::NOT_FOUND
    );
    // `starting` is not a state one can wait for.
    assert_eq!(
        api.wait("sp-wait", &id, "state=started,starting&timeout=1")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn update_bumps_the_version_and_restarts() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app("sp-up").await;
    let created = api.create_machine("sp-up", "alpine:3.19").await;
    let id = created["id"].as_str().unwrap();
    let v1 = created["instance_id"].as_str().unwrap();
    assert_eq!(
        api.wait(
            "sp-up",
            id,
            &format!("state=started&version={v1}&timeout=5")
        )
        .await
        .0,
        StatusCode::OK
    );
    let (s, up) = api
        .post(
            &format!("/v1/apps/sp-up/machines/{id}"),
            json!({ "config": { "image": "alpine:3.20" }, "current_version": v1 }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    let v2 = up["instance_id"].as_str().unwrap();
    assert_ne!(v1, v2);
    assert_eq!(up["state"], "starting");
    assert_eq!(up["config"]["image"], "alpine:3.20");
    // The old version never reaches `started` again.
    assert_eq!(
        api.wait(
            "sp-up",
            id,
            &format!("state=started&instance_id={v1}&timeout=1")
        )
        .await
        .0,
        StatusCode::REQUEST_TIMEOUT
    );
    assert_eq!(
        api.wait(
            "sp-up",
            id,
            &format!("state=started&instance_id={v2}&timeout=5")
        )
        .await
        .0,
        StatusCode::OK
    );
    let (s, _) = api
        .post(
            &format!("/v1/apps/sp-up/machines/{id}"),
            json!({ "config": { "image": "alpine" }, "current_version": v1 }),
        )
        .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    let (s, _) = api
        .post(
            &format!("/v1/apps/sp-up/machines/{id}"),
            json!({ "config": {} }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let snap = m.state();
    assert_eq!(snap.machines[0].instance_id, v2);
    assert_eq!(snap.machines[0].image, "alpine:3.20");
}

#[tokio::test]
async fn delete_refuses_a_running_machine_without_force() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app("sp-rm").await;
    let (_, vol) = api
        .post("/v1/apps/sp-rm/volumes", json!({ "name": "services" }))
        .await;
    let vid = vol["id"].as_str().unwrap();
    let (s, mach) = api.post("/v1/apps/sp-rm/machines", json!({ "config": { "image": "alpine", "mounts": [{ "volume": vid, "path": "/app/services" }] } })).await;
    assert_eq!(s, StatusCode::OK, "{mach}");
    let id = mach["id"].as_str().unwrap();
    api.wait("sp-rm", id, "state=started&timeout=5").await;
    let (s, b) = api.delete(&format!("/v1/apps/sp-rm/volumes/{vid}")).await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{b}");
    let (s, b) = api.delete(&format!("/v1/apps/sp-rm/machines/{id}")).await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{b}");
    let (s, b) = api
        .delete(&format!("/v1/apps/sp-rm/machines/{id}?force=true"))
        .await;
    assert_eq!((s, b), (StatusCode::OK, json!({ "ok": true })));
    assert_eq!(
        api.wait("sp-rm", id, "state=destroyed&timeout=1").await.0,
        StatusCode::OK
    );
    assert_eq!(
        api.delete(&format!("/v1/apps/sp-rm/machines/{id}?force=true"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert!(
        api.get("/v1/apps/sp-rm/machines")
            .await
            .1
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        api.get("/v1/apps/sp-rm/machines?include_deleted=true")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.delete(&format!("/v1/apps/sp-rm/volumes/{vid}")).await.0,
        StatusCode::OK
    );
    assert_eq!(m.state().destroyed_machines, [id]);
}

#[tokio::test]
async fn list_filters_by_metadata_and_state() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app("sp-list").await;
    let a = api.create_machine("sp-list", "alpine").await;
    let (_, _b) = api
        .post(
            "/v1/apps/sp-list/machines",
            json!({ "config": { "image": "alpine", "metadata": { "tenant": "t2" } } }),
        )
        .await;
    let (_, list) = api
        .get("/v1/apps/sp-list/machines?metadata.tenant=t1")
        .await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a["id"].as_str().unwrap()]);
    assert!(
        api.get("/v1/apps/sp-list/machines?metadata.tenant=t3")
            .await
            .1
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (_, md) = api
        .get(&format!(
            "/v1/apps/sp-list/machines/{}/metadata",
            a["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(md, json!({ "tenant": "t1" }));
    assert_eq!(
        api.get("/v1/apps/sp-list/machines?state=stopped")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        0
    );
}
