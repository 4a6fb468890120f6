//! Tenant A's credential against tenant B's image: no push to B's tag, no read of B's manifest or
//! B-only blobs, no delete, no catalog, no cross-repository mount, no smuggling B's blobs into a manifest.

use crate::common::*;
use mgmt_domain::media_type::{OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_a_cannot_touch_tenant_b() {
    let (_reg, up) = registry();
    let gw = start_gateway(up.config()).await;
    let (_a, a) = gw.tenant("a").await;
    let (_b, b) = gw.tenant("b").await;
    let dir_b = tempfile::tempdir().unwrap();
    let image_b = random_image(&dir_b, "b", 2, 50_000, false);
    push_as(&gw, &image_b, &b.tag, &b)
        .await
        .expect("B pushes its own image");
    let b_digest = up.digest(&b.tag).await.expect("B's tag upstream");

    // A cannot push onto B's tag: skopeo fails and B's tag is unchanged.
    let dir_a = tempfile::tempdir().unwrap();
    let image_a = random_image(&dir_a, "a", 1, 40_000, false);
    assert!(
        push_as(&gw, &image_a, &b.tag, &a).await.is_err(),
        "A pushed to B's tag"
    );
    assert_eq!(up.digest(&b.tag).await.as_deref(), Some(b_digest.as_str()));
    // ... nor onto any other tag, though its own works.
    assert!(push_as(&gw, &image_a, "latest", &a).await.is_err());
    assert_eq!(up.digest("latest").await, None);
    push_as(&gw, &image_a, &a.tag, &a)
        .await
        .expect("A pushes its own tag");

    let path = |p: String| format!("/v2/{REPO}/{p}");
    // B's manifest: by tag 403 (out of scope), by digest 404 (as if absent).
    assert_eq!(
        gw.answer(Method::GET, &path(format!("manifests/{}", b.tag)), &a)
            .await,
        (403, "DENIED".into())
    );
    assert_eq!(
        gw.answer(Method::GET, &path(format!("manifests/{b_digest}")), &a)
            .await,
        (404, "MANIFEST_UNKNOWN".into())
    );
    // B-only blobs: 404 BLOB_UNKNOWN on HEAD and GET, never 403 (skopeo aborts on a 403).
    for layer in &image_b.layer_digests {
        assert_eq!(
            gw.answer(Method::HEAD, &path(format!("blobs/{layer}")), &a)
                .await
                .0,
            404
        );
        assert_eq!(
            gw.answer(Method::GET, &path(format!("blobs/{layer}")), &a)
                .await,
            (404, "BLOB_UNKNOWN".into())
        );
        // B itself reads its blob.
        assert_eq!(
            gw.answer(Method::HEAD, &path(format!("blobs/{layer}")), &b)
                .await
                .0,
            200
        );
    }
    // No deletion, not even of A's own tag or of B's digest.
    for target in [
        format!("manifests/{}", a.tag),
        format!("manifests/{b_digest}"),
        format!("blobs/{}", image_b.layer_digests[0]),
    ] {
        assert_eq!(
            gw.answer(Method::DELETE, &path(target.clone()), &a).await,
            (403, "DENIED".into()),
            "{target}"
        );
    }
    assert_eq!(up.digest(&b.tag).await.as_deref(), Some(b_digest.as_str()));
    // No catalog; tag listing shows only A's tag; other repositories refused.
    assert_eq!(gw.answer(Method::GET, "/v2/_catalog", &a).await.0, 403);
    let res = gw
        .req(Method::GET, &path("tags/list".into()), &a)
        .send()
        .await
        .unwrap();
    let tags: serde_json::Value = res.json().await.unwrap();
    assert_eq!(tags["tags"], json!([a.tag]));
    assert_eq!(
        gw.answer(Method::GET, &format!("/v2/other/manifests/{}", a.tag), &a)
            .await
            .0,
        403
    );

    // A cross-repository mount of B's blob becomes a plain upload: 202, nothing mounted.
    let mount = path(format!(
        "blobs/uploads/?mount={}&from={REPO}",
        image_b.layer_digests[0]
    ));
    let res = gw.req(Method::POST, &mount, &a).send().await.unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(
        gw.answer(
            Method::HEAD,
            &path(format!("blobs/{}", image_b.layer_digests[0])),
            &a
        )
        .await
        .0,
        404
    );

    // A manifest naming B's blobs under A's tag is refused before it reaches the upstream.
    let smuggle = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": image_b.config_digest, "size": 1},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": image_b.layer_digests[0], "size": 1}],
    });
    let a_before = up.digest(&a.tag).await;
    assert_eq!(
        outcome(
            gw.req(Method::PUT, &path(format!("manifests/{}", a.tag)), &a)
                .header("content-type", OCI_MANIFEST)
                .body(smuggle.to_string())
        )
        .await,
        (400, "MANIFEST_BLOB_UNKNOWN".into())
    );
    assert_eq!(up.digest(&a.tag).await, a_before);
    // A's pushes recorded nothing of B's.
    for layer in &image_b.layer_digests {
        assert!(
            !gw.repos
                .registry_pushes
                .tenant_may_read(_a.id, layer)
                .await
                .unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_paths_and_methods_get_registry_errors() {
    let (_reg, up) = registry();
    let gw = start_gateway(up.config()).await;
    let (_t, cred) = gw.tenant("t").await;
    for (method, p, status) in [
        (
            Method::GET,
            format!("/v2/{REPO}/manifests/tenant%2D{}", _t.id),
            404,
        ),
        (Method::GET, format!("/v2/{REPO}/blobs/sha256:zz"), 404),
        (Method::PATCH, format!("/v2/{REPO}/blobs/uploads/a/b"), 404),
        (
            Method::PATCH,
            format!("/v2/{REPO}/manifests/{}", cred.tag),
            405,
        ),
        (Method::POST, "/v2/".to_owned(), 405),
    ] {
        let res = gw.req(method.clone(), &p, &cred).send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{method} {p}");
        assert!(
            !error_code(res).await.is_empty(),
            "{method} {p}: registry error body"
        );
    }
    // Manifests beyond the 4 MiB limit (distribution's own) are refused without being forwarded.
    let huge = vec![b' '; 5 * 1024 * 1024];
    assert_eq!(
        outcome(
            gw.req(
                Method::PUT,
                &format!("/v2/{REPO}/manifests/{}", cred.tag),
                &cred,
            )
            .body(huge)
        )
        .await,
        (403, "DENIED".into())
    );
}
