//! Machines whose image is on the mock's own registry must name an image it holds.

use crate::common::oci::{self, Reg};
use crate::common::{Api, mock, mock_with};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn images_on_the_mock_registry_must_exist() {
    let m = mock().await;
    let api = Api::new(&m);
    let reg = Reg::new(&m);
    let host = m.registry_host();
    api.create_app("sp-img").await;
    let missing = format!("{host}/shared-images:tenant-1");
    let (s, b) = api
        .post(
            "/v1/apps/sp-img/machines",
            json!({ "config": { "image": missing } }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["error"].as_str().unwrap().contains("resolve image"));
    let img = oci::build("tenant-1", "hello");
    let digest = reg.push("shared-images", "tenant-1", &img).await;
    let pinned = format!("{host}/shared-images@{digest}");
    let made = api.create_machine("sp-img", &pinned).await;
    assert_eq!(made["image_ref"]["digest"], digest.as_str());
    assert_eq!(made["image_ref"]["repository"], "shared-images");
    let by_tag = api
        .create_machine("sp-img", &format!("{host}/shared-images:tenant-1"))
        .await;
    assert_eq!(by_tag["image_ref"]["digest"], digest.as_str());
    let wrong = format!("{host}/shared-images@sha256:{}", "0".repeat(64));
    let id = made["id"].as_str().unwrap();
    let (s, _) = api
        .post(
            &format!("/v1/apps/sp-img/machines/{id}"),
            json!({ "config": { "image": wrong } }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(m.state().machines_of("sp-img").len(), 2);
}

#[tokio::test]
async fn own_registry_images_may_be_unchecked_when_configured() {
    let m = mock_with(|c| c.require_registry_images = false).await;
    let api = Api::new(&m);
    api.create_app("sp-free").await;
    api.create_machine("sp-free", &format!("{}/nothing:here", m.registry_host()))
        .await;
}

#[tokio::test]
async fn a_separate_registry_listener_is_the_registry_host() {
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let m =
        mgmt_mock_fly::MockFly::start_with(mgmt_mock_fly::MockFlyConfig::default(), any, Some(any))
            .await
            .unwrap();
    assert_ne!(m.registry_url(), m.machines_url());
    assert_eq!(m.registry_url(), format!("http://{}", m.registry_host()));
    let api = Api::new(&m);
    api.create_app("sp-two").await;
    let (s, _) = api
        .post(
            "/v1/apps/sp-two/machines",
            json!({ "config": { "image": format!("{}/r:t", m.registry_host()) } }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let reg = Reg::new(&m);
    reg.push("r", "t", &oci::build("t", "two listeners")).await;
    api.create_machine("sp-two", &format!("{}/r:t", m.registry_host()))
        .await;
}

#[test]
fn the_handle_can_be_shared_across_tasks() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<mgmt_mock_fly::MockFly>();
    send_sync::<mgmt_mock_fly::StateSnapshot>();
}
