//! Leases: the wrapped responses, 409 when held by another nonce, and writes refused without it.

use crate::common::{Api, mock};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn lease_is_exclusive_and_guards_writes() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app("sp-lease").await;
    let id = api.create_machine("sp-lease", "alpine").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/apps/sp-lease/machines/{id}/lease");
    assert_eq!(api.get(&path).await.0, StatusCode::NOT_FOUND);
    let (s, lease) = api
        .post(&path, json!({ "ttl": 60, "description": "deploy" }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{lease}");
    assert_eq!(lease["status"], "success");
    let nonce = lease["data"]["nonce"].as_str().unwrap().to_owned();
    assert!(lease["data"]["expires_at"].as_i64().unwrap() > 0);
    assert_eq!(lease["data"]["description"], "deploy");
    assert!(
        lease["data"]["version"]
            .as_str()
            .is_some_and(|v| v.len() == 26)
    );

    let (s, held) = api.post(&path, json!({ "ttl": 60 })).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        (held["status"].as_str(), held["code"].as_str()),
        (Some("error"), Some("invalid"))
    );
    assert!(
        held["message"]
            .as_str()
            .unwrap()
            .contains("lease currently held by")
    );

    // Writes without the nonce are refused; with it they pass.
    let (s, b) = api
        .post(&format!("/v1/apps/sp-lease/machines/{id}/stop"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .contains("lease currently held")
    );
    let (s, _) = api
        .send(
            api.request(Method::POST, &format!("/v1/apps/sp-lease/machines/{id}"))
                .header("fly-machine-lease-nonce", "wrong")
                .json(&json!({ "config": { "image": "alpine" } })),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = api
        .send(
            api.request(Method::POST, &format!("/v1/apps/sp-lease/machines/{id}"))
                .header("fly-machine-lease-nonce", &nonce)
                .json(&json!({ "config": { "image": "alpine" } })),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Refresh with the own nonce.
    let (s, _) = api
        .send(
            api.request(Method::POST, &path)
                .header("fly-machine-lease-nonce", &nonce)
                .json(&json!({ "ttl": 120 })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(api.get(&path).await.1["data"]["nonce"], nonce.as_str());

    assert_eq!(api.delete(&path).await.0, StatusCode::BAD_REQUEST);
    let (s, _) = api
        .send(
            api.request(Method::DELETE, &path)
                .header("fly-machine-lease-nonce", "other"),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, b) = api
        .send(
            api.request(Method::DELETE, &path)
                .header("fly-machine-lease-nonce", &nonce),
        )
        .await;
    assert_eq!(
        (s, b),
        (
            StatusCode::OK,
            json!({ "status": "success", "data": { "ok": true } })
        )
    );
    assert_eq!(
        api.post(&format!("/v1/apps/sp-lease/machines/{id}/stop"), json!({}))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn create_with_lease_ttl_returns_a_nonce() {
    let m = mock().await;
    let api = Api::new(&m);
    api.create_app("sp-lt").await;
    let (s, b) = api
        .post(
            "/v1/apps/sp-lt/machines",
            json!({ "lease_ttl": 30, "config": { "image": "alpine" } }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let nonce = b["nonce"].as_str().unwrap();
    assert_eq!(m.state().machines[0].lease.as_ref().unwrap().nonce, nonce);
}
