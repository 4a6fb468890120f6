//! Quotas and fairness: each limit is refused with the registry's own error (`DENIED` for sizes,
//! `TOOMANYREQUESTS` with `Retry-After` for rates and concurrency), and nothing partial stays upstream.

use std::path::Path;

use mgmt_domain::media_type::OCI_MANIFEST;
use mgmt_registry_gateway::GatewayLimits;
use mgmt_test_support::registry::RegistryServer;
use reqwest::Method;
use serde_json::json;

use crate::common::*;

/// Bytes of upload sessions the upstream still holds for the shared repository (the `data` file of
/// each session under `_uploads`). A cancelled session can leave an empty hash-state folder behind when
/// distribution finishes the aborted request after the cancel; its upload purger removes those.
fn open_uploads_upstream(reg: &RegistryServer) -> usize {
    let dir = reg.storage_dir().join(
        Path::new("docker/registry/v2/repositories")
            .join(REPO)
            .join("_uploads"),
    );
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().join("data").exists())
                .count()
        })
        .unwrap_or(0)
}

async fn gateway_with(limits: GatewayLimits) -> (RegistryServer, Upstream, Gateway) {
    let (reg, up) = registry();
    let gw = start_gateway_with(up.config(), limits).await;
    (reg, up, gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_over_the_largest_blob_is_refused_and_nothing_partial_stays() {
    let (reg, up, gw) = gateway_with(GatewayLimits {
        max_blob_bytes: 64 * 1024,
        ..GatewayLimits::default()
    })
    .await;
    let (t, cred) = gw.tenant("big").await;
    let dir = tempfile::tempdir().unwrap();
    let image = random_image(&dir, "big", 1, 200_000, false);
    let err = push_as(&gw, &image, &cred.tag, &cred)
        .await
        .expect_err("a 200 kB layer passed a 64 KiB limit");
    assert!(format!("{err:#}").contains("denied"), "{err:#}");
    assert_eq!(up.digest(&cred.tag).await, None);
    assert_eq!(
        open_uploads_upstream(&reg),
        0,
        "a partial upload stayed upstream"
    );
    assert!(!up.blob_exists(&image.layer_digests[0]).await);
    let usage = gw
        .repos
        .registry_pushes
        .tenant_usage(
            t.id,
            std::time::Duration::from_secs(86_400),
            std::time::Duration::from_secs(900),
        )
        .await
        .unwrap();
    assert!(usage < 64 * 1024, "usage {usage}");
    // A layer declared too large is refused before a byte is sent.
    let url = gw.open_upload(&cred).await;
    let (status, code) = outcome(
        request(Method::PATCH, &url, &cred)
            .header("content-length", "1000000")
            .body(vec![0u8; 1_000_000]),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "DENIED"));
    assert_eq!(open_uploads_upstream(&reg), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_storage_quota_is_refused_and_others_are_not() {
    let (_reg, up, gw) = gateway_with(GatewayLimits {
        max_tenant_bytes: 150_000,
        ..GatewayLimits::default()
    })
    .await;
    let (_t, cred) = gw.tenant("full").await;
    let (_o, other) = gw.tenant("other").await;
    let dir = tempfile::tempdir().unwrap();
    let first = random_image(&dir, "one", 2, 50_000, false);
    push_as(&gw, &first, &cred.tag, &cred)
        .await
        .expect("100 kB fits in 150 kB");
    let second = random_image(&dir, "two", 2, 50_000, false);
    let err = push_as(&gw, &second, &cred.tag, &cred)
        .await
        .expect_err("another 100 kB passed the quota");
    assert!(format!("{err:#}").contains("denied"), "{err:#}");
    assert_eq!(
        up.digest(&cred.tag).await.as_deref(),
        Some(first.top_digest()),
        "the tag still holds the first image"
    );
    // The quota is the tenant's own: another tenant pushes the same image.
    push_as(&gw, &second, &other.tag, &other)
        .await
        .expect("another tenant is not limited by this one's usage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_manifests_too_many_uploads_and_too_many_requests_are_refused() {
    let (_reg, up, gw) = gateway_with(GatewayLimits {
        max_manifest_bytes: 4096,
        max_concurrent_uploads: 2,
        ..GatewayLimits::default()
    })
    .await;
    let (_t, cred) = gw.tenant("busy").await;
    let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "annotations": {"pad": "x".repeat(5000)}});
    let (status, code) = outcome(
        gw.req(
            Method::PUT,
            &format!("/v2/{REPO}/manifests/{}", cred.tag),
            &cred,
        )
        .header("content-type", OCI_MANIFEST)
        .body(manifest.to_string()),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "DENIED"));
    assert_eq!(up.digest(&cred.tag).await, None);

    let start = format!("/v2/{REPO}/blobs/uploads/");
    for _ in 0..2 {
        assert_eq!(gw.answer(Method::POST, &start, &cred).await.0, 202);
    }
    let res = gw.req(Method::POST, &start, &cred).send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(error_code(res).await, "TOOMANYREQUESTS");

    let limited = start_gateway_with(
        up.config(),
        GatewayLimits {
            requests_per_second: 1,
            request_burst: 3,
            ..GatewayLimits::default()
        },
    )
    .await;
    let (_c, chatty) = limited.tenant("chatty").await;
    let (_q, quiet) = limited.tenant("quiet").await;
    for _ in 0..3 {
        assert_eq!(limited.answer(Method::GET, "/v2/", &chatty).await.0, 200);
    }
    let res = limited
        .req(Method::GET, "/v2/", &chatty)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(error_code(res).await, "TOOMANYREQUESTS");
    assert_eq!(
        limited.answer(Method::GET, "/v2/", &quiet).await.0,
        200,
        "another tenant is not slowed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_buffered_at_once_are_bounded_per_process() {
    let (_reg, _up, gw) = gateway_with(GatewayLimits {
        max_buffered_manifest_bytes: 100,
        ..GatewayLimits::default()
    })
    .await;
    let (_t, cred) = gw.tenant("t").await;
    let body = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "annotations": {"pad": "x".repeat(500)}});
    let res = gw
        .req(
            Method::PUT,
            &format!("/v2/{REPO}/manifests/{}", cred.tag),
            &cred,
        )
        .header("content-type", OCI_MANIFEST)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
}
