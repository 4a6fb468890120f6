//! Apps, secrets, volumes, IPs and certificates: Fly's status codes, bodies and consistency.

use std::time::{Duration, Instant};

use crate::common::{Api, mock, mock_with};
use mgmt_test_support::wait::{Check, eventually};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn create_app_answers_201_with_the_app_and_422_name_taken() {
    let m = mock().await;
    let api = Api::new(&m);
    let (s, b) = api
        .post(
            "/v1/apps",
            json!({ "app_name": "sp-abc", "org_slug": "personal", "network": "n1" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(b["name"], "sp-abc");
    assert_eq!(b["organization"]["slug"], "personal");
    // The app's own network is recorded and reported (tests check tenants are isolated by it).
    assert_eq!(b["network"], "n1");
    assert_eq!(
        m.state().app("sp-abc").map(|a| a.network.as_str()),
        Some("n1")
    );
    let (s, b) = api
        .post(
            "/v1/apps",
            json!({ "app_name": "sp-abc", "org_slug": "personal" }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["status"], "name_taken");
    assert!(b["error"].as_str().is_some_and(|e| !e.is_empty()));
    let (s, _) = api
        .post(
            "/v1/apps",
            json!({ "app_name": "Bad_Name", "org_slug": "personal" }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = api.post("/v1/apps", json!({ "app_name": "ok-name" })).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = api.call(reqwest::Method::POST, "/v1/apps", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn missing_app_is_404_app_not_found() {
    let m = mock().await;
    let (s, b) = Api::new(&m).get("/v1/apps/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(b, json!({ "error": "app not found" }));
}

#[tokio::test]
async fn a_new_app_is_invisible_for_the_configured_delay() {
    let m = mock_with(|c| c.app_visibility_delay = Duration::from_millis(800)).await;
    let api = Api::new(&m);
    let created = Instant::now();
    api.create_app("sp-late").await;
    assert_eq!(api.get("/v1/apps/sp-late").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.get("/v1/apps/sp-late/secrets").await.0,
        StatusCode::NOT_FOUND
    );
    // Still taken, though: Fly refuses the name while it propagates.
    let (s, _) = api
        .post(
            "/v1/apps",
            json!({ "app_name": "sp-late", "org_slug": "personal" }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    eventually(Duration::from_secs(5), || async {
        let status = api.get("/v1/apps/sp-late").await.0;
        if status == StatusCode::OK {
            Check::Done(())
        } else {
            Check::not_yet(status)
        }
    })
    .await
    .expect("the new app became visible");
    assert!(
        created.elapsed() >= Duration::from_millis(800),
        "visible before the configured delay"
    );
}

#[tokio::test]
async fn secrets_are_versioned_and_never_show_values() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app("sp-sec").await;
    let (s, b) = api
        .post(
            "/v1/apps/sp-sec/secrets",
            json!({ "values": { "DATABASE_URL": "postgres://x", "JWT_SECRET": "s3cr3t" } }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["version"], 1);
    let (s, b) = api
        .post("/v1/apps/sp-sec/secrets/API_KEY", json!({ "value": "k" }))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(b["version"], 2);
    let (_, list) = api.get("/v1/apps/sp-sec/secrets").await;
    let names: Vec<&str> = list["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["API_KEY", "DATABASE_URL", "JWT_SECRET"]);
    let text = list.to_string();
    assert!(
        !text.contains("postgres://x") && !text.contains("s3cr3t"),
        "values leaked: {text}"
    );
    assert!(list["secrets"][0].get("value").is_none());
    let (s, b) = api.delete("/v1/apps/sp-sec/secrets/API_KEY").await;
    assert_eq!((s, b["version"].as_u64()), (StatusCode::OK, Some(3)));
    assert_eq!(
        api.delete("/v1/apps/sp-sec/secrets/API_KEY").await.0,
        StatusCode::NOT_FOUND
    );
    let (_, b) = api
        .post(
            "/v1/apps/sp-sec/secrets",
            json!({ "values": { "JWT_SECRET": null } }),
        )
        .await;
    assert_eq!(b["version"], 4);
    let snap = m.state();
    let app = snap.app("sp-sec").unwrap();
    assert_eq!(app.secrets_version, 4);
    assert_eq!(app.secrets.keys().collect::<Vec<_>>(), ["DATABASE_URL"]);
    let (s, _) = api
        .post(
            "/v1/apps/sp-sec/secrets",
            json!({ "values": { "bad name": "x" } }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn volumes_ips_and_certificates_round_trip() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app("sp-res").await;
    let (s, vol) = api
        .post(
            "/v1/apps/sp-res/volumes",
            json!({ "name": "services", "region": "iad", "size_gb": 1 }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let vid = vol["id"].as_str().unwrap().to_owned();
    assert!(vid.starts_with("vol_"));
    assert_eq!(
        api.get("/v1/apps/sp-res/volumes")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get(&format!("/v1/apps/sp-res/volumes/{vid}")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        api.post("/v1/apps/sp-res/volumes", json!({ "name": "Bad-Name" }))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    let (s, v4) = api
        .post(
            "/v1/apps/sp-res/ip_assignments",
            json!({ "type": "shared_v4" }),
        )
        .await;
    assert_eq!((s, v4["shared"].as_bool()), (StatusCode::OK, Some(true)));
    let (_, v6) = api
        .post("/v1/apps/sp-res/ip_assignments", json!({ "type": "v6" }))
        .await;
    assert_eq!(
        api.post("/v1/apps/sp-res/ip_assignments", json!({ "type": "v5" }))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.get("/v1/apps/sp-res/ip_assignments").await.1["ips"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let v6 = v6["ip"].as_str().unwrap();
    assert_eq!(
        api.delete(&format!("/v1/apps/sp-res/ip_assignments/{v6}"))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.delete(&format!("/v1/apps/sp-res/ip_assignments/{v6}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let (s, c) = api
        .post(
            "/v1/apps/sp-res/certificates/acme",
            json!({ "hostname": "abc.example.com" }),
        )
        .await;
    assert_eq!(
        (s, c["hostname"].as_str()),
        (StatusCode::CREATED, Some("abc.example.com"))
    );
    assert_eq!(
        api.get("/v1/apps/sp-res/certificates/abc.example.com")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        api.post(
            "/v1/apps/sp-res/certificates/acme",
            json!({ "hostname": "not a host" })
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        api.delete("/v1/apps/sp-res/certificates/abc.example.com")
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get("/v1/apps/sp-res/certificates/abc.example.com")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    api.post(
        "/v1/apps/sp-res/certificates/acme",
        json!({ "hostname": "keep.example.com" }),
    )
    .await;

    let (s, b) = api.delete(&format!("/v1/apps/sp-res/volumes/{vid}")).await;
    assert_eq!(
        (s, b["state"].as_str()),
        (StatusCode::OK, Some("pending_destroy"))
    );
    // The volume lingers as `pending_destroy` (Fly destroys it asynchronously), then is gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while api.get(&format!("/v1/apps/sp-res/volumes/{vid}")).await.0 != StatusCode::NOT_FOUND {
        assert!(
            std::time::Instant::now() < deadline,
            "the volume never went"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let snap = m.state();
    assert_eq!(snap.app("sp-res").unwrap().ips.len(), 1);
    assert!(
        snap.app("sp-res")
            .unwrap()
            .certificates
            .contains_key("keep.example.com")
    );
}

#[tokio::test]
async fn deleting_an_app_takes_everything_with_it() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app("sp-del").await;
    api.create_app("sp-other").await;
    api.post("/v1/apps/sp-del/volumes", json!({ "name": "services" }))
        .await;
    api.create_machine("sp-del", "docker.io/library/alpine:3")
        .await;
    api.create_machine("sp-other", "docker.io/library/alpine:3")
        .await;
    let (s, b) = api.delete("/v1/apps/sp-del").await;
    assert_eq!((s, b), (StatusCode::ACCEPTED, serde_json::Value::Null));
    // Fly deletes asynchronously: a repeat while the app lingers is accepted again; once it is gone,
    // 404.
    assert_eq!(api.delete("/v1/apps/sp-del").await.0, StatusCode::ACCEPTED);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while api.get("/v1/apps/sp-del").await.0 != StatusCode::NOT_FOUND {
        assert!(std::time::Instant::now() < deadline, "the app never went");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(api.delete("/v1/apps/sp-del").await.0, StatusCode::NOT_FOUND);
    let snap = m.state();
    assert!(
        snap.leftovers("sp-del", "repo", &[]).is_empty(),
        "{:?}",
        snap.leftovers("sp-del", "repo", &[])
    );
    assert_eq!(snap.machines_of("sp-other").len(), 1);
    let (s, apps) = api.get("/v1/apps?org_slug=personal").await;
    assert_eq!((s, apps["total_apps"].as_u64()), (StatusCode::OK, Some(1)));
}
