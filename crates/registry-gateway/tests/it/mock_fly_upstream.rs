//! The same push and isolation guarantees with mock-fly's registry (standing in for registry.fly.io:
//! Basic auth with user `x` and the org token) as the upstream.

use crate::common::*;
use mgmt_mock_fly::{MockFly, MockFlyConfig};
use reqwest::Method;
use secrecy::ExposeSecret;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_and_isolation_against_mock_fly() {
    let config = MockFlyConfig {
        token: "fo1_org_wide_secret_token_for_tests".into(),
        ..MockFlyConfig::default()
    };
    let fly = MockFly::start(config).await.unwrap();
    let up = Upstream {
        url: fly.registry_url(),
        username: "x".into(),
        password: fly.token().to_owned(),
    };
    let gw = start_gateway(up.config()).await;
    let (a_tenant, a) = gw.tenant("a").await;
    let (_b_tenant, b) = gw.tenant("b").await;

    let dir = tempfile::tempdir().unwrap();
    let image_a = random_image(&dir, "a", 3, 200_000, true);
    push_as(&gw, &image_a, &a.tag, &a)
        .await
        .expect("push through the gateway to mock-fly");
    let state = fly.state();
    let repo = state
        .repositories
        .get(REPO)
        .expect("shared repository exists upstream");
    assert_eq!(
        repo.tags.get(&a.tag).map(String::as_str),
        Some(image_a.top_digest())
    );
    assert!(image_a.layer_digests.iter().all(|d| repo.blobs.contains(d)));
    let pushes = gw
        .repos
        .registry_pushes
        .list_for_tenant(a_tenant.id)
        .await
        .unwrap();
    assert!(
        pushes
            .iter()
            .any(|p| p.reference == a.tag && p.digest == image_a.top_digest())
    );

    // Pull back through the gateway.
    let out = tempfile::tempdir().unwrap();
    let creds = (a.username.as_str(), a.token.expose_secret());
    mgmt_test_support::oci::skopeo_pull(&gw.image_ref(&a.tag), Some(creds), out.path(), "back")
        .await
        .expect("pull back");

    // B: cannot overwrite A's tag, read A's manifest or blobs, delete, or list.
    let dir_b = tempfile::tempdir().unwrap();
    let image_b = random_image(&dir_b, "b", 1, 10_000, false);
    assert!(push_as(&gw, &image_b, &a.tag, &b).await.is_err());
    assert_eq!(
        fly.state().repositories[REPO]
            .tags
            .get(&a.tag)
            .map(String::as_str),
        Some(image_a.top_digest())
    );
    assert_eq!(
        gw.answer(
            Method::GET,
            &format!("/v2/{REPO}/manifests/{}", image_a.top_digest()),
            &b
        )
        .await
        .0,
        404
    );
    assert_eq!(
        gw.answer(
            Method::HEAD,
            &format!("/v2/{REPO}/blobs/{}", image_a.layer_digests[0]),
            &b
        )
        .await
        .0,
        404
    );
    assert_eq!(
        gw.answer(
            Method::DELETE,
            &format!("/v2/{REPO}/manifests/{}", a.tag),
            &b
        )
        .await
        .0,
        403
    );
    assert_eq!(gw.answer(Method::GET, "/v2/_catalog", &b).await.0, 403);
    push_as(&gw, &image_b, &b.tag, &b)
        .await
        .expect("B pushes its own tag");
    let res = gw
        .req(Method::GET, &format!("/v2/{REPO}/tags/list"), &b)
        .send()
        .await
        .unwrap();
    let tags: serde_json::Value = res.json().await.unwrap();
    assert_eq!(tags["tags"], serde_json::json!([b.tag]));

    // The mock never saw a route it does not serve, and never a DELETE.
    assert!(
        fly.unknown_routes().is_empty(),
        "{:?}",
        fly.unknown_routes()
    );
    assert!(fly.requests().iter().all(|r| r.method != "DELETE"));
}
