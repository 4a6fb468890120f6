//! Registry v2 manifests: content negotiation, reference checks, tags and deletion semantics.

use crate::common::mock_with;
use crate::common::oci::{self, Reg};
use mgmt_domain::media_type::{DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use mgmt_mock_fly::TagDeleteSupport;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn registry(tag_delete: TagDeleteSupport) -> (mgmt_mock_fly::MockFly, Reg) {
    let m = mock_with(|c| c.tag_delete = tag_delete).await;
    let reg = Reg::new(&m);
    (m, reg)
}

#[tokio::test]
async fn oci_manifests_need_their_media_type_in_accept() {
    let (_m, reg) = registry(TagDeleteSupport::Supported).await;
    let img = oci::build("t1", "negotiation");
    let d = reg.push("shared", "t1", &img).await;
    let get = |accepts: &[&str], method: Method| {
        let mut rb = reg.req(method, "/v2/shared/manifests/t1");
        for a in accepts {
            rb = rb.header("accept", *a);
        }
        rb.send()
    };
    let none = get(&[], Method::GET).await.unwrap();
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        none.json::<Value>().await.unwrap()["errors"][0]["code"],
        "MANIFEST_UNKNOWN"
    );
    let docker_only = get(&[DOCKER_MANIFEST], Method::HEAD).await.unwrap();
    assert_eq!(docker_only.status(), StatusCode::NOT_FOUND);
    // skopeo sends several Accept headers; the OCI type in the second one must count.
    let multi = get(&[DOCKER_MANIFEST, OCI_MANIFEST], Method::HEAD)
        .await
        .unwrap();
    assert_eq!(multi.status(), StatusCode::OK);
    assert_eq!(multi.headers()["docker-content-digest"], d.as_str());
    assert_eq!(multi.headers()["content-type"], OCI_MANIFEST);
    assert_eq!(
        multi.headers()["content-length"],
        img.manifest.len().to_string().as_str()
    );
    let one_header = format!("{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.9");
    let list = get(&[&one_header], Method::GET).await.unwrap();
    assert_eq!(
        list.bytes().await.unwrap().as_ref(),
        img.manifest.as_slice()
    );

    let index = serde_json::to_vec(&json!({ "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{ "mediaType": OCI_MANIFEST, "digest": d, "size": img.manifest.len() }] }))
    .unwrap();
    assert_eq!(
        reg.put_manifest("shared", "idx", OCI_INDEX, &index)
            .await
            .status(),
        StatusCode::CREATED
    );
    let r = reg
        .req(Method::GET, "/v2/shared/manifests/idx")
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = reg
        .req(Method::GET, "/v2/shared/manifests/idx")
        .header("accept", OCI_INDEX)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn manifests_must_reference_pushed_content() {
    let (_m, reg) = registry(TagDeleteSupport::Supported).await;
    let img = oci::build("t", "refs");
    reg.put_blob("r", &img.config).await;
    let r = reg
        .put_manifest("r", "t", OCI_MANIFEST, &img.manifest)
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["code"],
        "MANIFEST_BLOB_UNKNOWN"
    );
    reg.put_blob("r", &img.layer).await;
    let wrong = format!("sha256:{}", "a".repeat(64));
    assert_eq!(
        reg.put_manifest("r", &wrong, OCI_MANIFEST, &img.manifest)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        reg.put_manifest("r", "t", OCI_MANIFEST, b"{not json")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        reg.put_manifest("r", &img.manifest_digest, OCI_MANIFEST, &img.manifest)
            .await
            .status(),
        StatusCode::CREATED
    );
}

async fn tags(reg: &Reg, repo: &str) -> Value {
    reg.req(Method::GET, &format!("/v2/{repo}/tags/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn delete_by_digest_removes_every_tag_on_it() {
    let (m, reg) = registry(TagDeleteSupport::Supported).await;
    let img = oci::build("x", "same bytes");
    let d = reg.push("shared", "tenant-a", &img).await;
    assert_eq!(reg.push("shared", "tenant-b", &img).await, d);
    let other = reg
        .push("shared", "tenant-c", &oci::build("y", "different"))
        .await;
    assert_eq!(
        tags(&reg, "shared").await,
        json!({ "name": "shared", "tags": ["tenant-a", "tenant-b", "tenant-c"] })
    );
    let r = reg
        .req(Method::DELETE, &format!("/v2/shared/manifests/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(tags(&reg, "shared").await["tags"], json!(["tenant-c"]));
    assert_eq!(m.state().tag("shared", "tenant-c"), Some(other.as_str()));
    assert_eq!(
        reg.req(Method::DELETE, &format!("/v2/shared/manifests/{d}"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let unknown = reg
        .req(Method::GET, "/v2/never/tags/list")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["errors"][0]["code"],
        "NAME_UNKNOWN"
    );
}

#[tokio::test]
async fn delete_by_tag_follows_the_configured_support() {
    for (mode, status, code) in [
        (TagDeleteSupport::Supported, 202, None),
        (TagDeleteSupport::BadRequest400, 400, Some("DIGEST_INVALID")),
        (
            TagDeleteSupport::MethodNotAllowed405,
            405,
            Some("UNSUPPORTED"),
        ),
    ] {
        let (m, reg) = registry(mode).await;
        let img = oci::build("x", "tagdel");
        let d = reg.push("shared", "tenant-a", &img).await;
        reg.push("shared", "tenant-b", &img).await;
        let r = reg
            .req(Method::DELETE, "/v2/shared/manifests/tenant-a")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{mode:?}");
        if let Some(code) = code {
            assert_eq!(r.json::<Value>().await.unwrap()["errors"][0]["code"], code);
            assert_eq!(m.state().tag("shared", "tenant-a"), Some(d.as_str()));
        } else {
            // Untag only: the other tag and the manifest stay.
            assert_eq!(m.state().tag("shared", "tenant-a"), None);
            assert_eq!(m.state().tag("shared", "tenant-b"), Some(d.as_str()));
            assert!(m.state().repositories["shared"].manifests.contains_key(&d));
        }
    }
}

/// Like distribution with deletion disabled: every manifest and blob DELETE, by tag or digest, in a
/// repository that exists or not, is 405 with distribution's exact body, and nothing goes away.
#[tokio::test]
async fn deletion_disabled_refuses_every_delete() {
    let (m, reg) = registry(TagDeleteSupport::MethodNotAllowed405).await;
    let img = oci::build("x", "undeletable");
    let d = reg.push("shared", "tenant-a", &img).await;
    let layer = &img.built.layer_digests[0];
    for path in [
        "/v2/shared/manifests/tenant-a".to_owned(),
        format!("/v2/shared/manifests/{d}"),
        format!("/v2/shared/blobs/{layer}"),
        format!("/v2/never/manifests/{d}"),
        format!("/v2/never/blobs/{layer}"),
    ] {
        let r = reg.req(Method::DELETE, &path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({ "errors": [{ "code": "UNSUPPORTED", "message": "The operation is unsupported." }] }),
            "{path}"
        );
    }
    let snap = m.state();
    assert_eq!(snap.tag("shared", "tenant-a"), Some(d.as_str()));
    assert!(snap.repositories["shared"].manifests.contains_key(&d));
    assert!(snap.repositories["shared"].blobs.contains(layer));
    assert!(m.unknown_routes().is_empty());
}

/// With deletion enabled a blob DELETE unlinks the blob from the repository: 202, then 404.
#[tokio::test]
async fn blob_delete_unlinks_the_blob() {
    for mode in [TagDeleteSupport::Supported, TagDeleteSupport::BadRequest400] {
        let (m, reg) = registry(mode).await;
        let img = oci::build("x", "unlink me");
        reg.push("shared", "tenant-a", &img).await;
        let blob = format!("/v2/shared/blobs/{}", img.built.config_digest);
        let status = |rb: reqwest::RequestBuilder| async move { rb.send().await.unwrap().status() };
        assert_eq!(
            status(reg.req(Method::DELETE, &blob)).await,
            StatusCode::ACCEPTED,
            "{mode:?}"
        );
        assert_eq!(
            status(reg.req(Method::HEAD, &blob)).await,
            StatusCode::NOT_FOUND
        );
        let again = reg.req(Method::DELETE, &blob).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            again.json::<Value>().await.unwrap()["errors"][0]["code"],
            "BLOB_UNKNOWN"
        );
        assert!(m.unknown_routes().is_empty());
    }
}
