//! Registry v2: auth, uploads (monolithic, chunked, streamed), manifests with content negotiation,
//! tags, and deletion semantics.

mod common;

use common::mock_with;
use common::oci::{self, Reg, digest};
use mock_fly::TagDeleteSupport;
use mock_fly::media_types::{OCI_INDEX, OCI_MANIFEST};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn registry(tag_delete: TagDeleteSupport) -> (mock_fly::MockFly, Reg) {
    let m = mock_with(|c| c.tag_delete = tag_delete).await;
    let reg = Reg::new(&m);
    (m, reg)
}

#[tokio::test]
async fn basic_auth_with_the_token_is_required() {
    let (m, reg) = registry(TagDeleteSupport::Supported).await;
    let anon = reg
        .http
        .get(format!("{}/v2/", m.registry_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    assert!(
        anon.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=")
    );
    let body: Value = anon.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
    let wrong = reg
        .http
        .get(format!("{}/v2/", m.registry_url()))
        .basic_auth("x", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let bearer = reg
        .http
        .get(format!("{}/v2/", m.registry_url()))
        .bearer_auth(m.token())
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);
    let ok = reg.req(Method::GET, "/v2/").send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        ok.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
}

#[tokio::test]
async fn monolithic_upload_then_head_and_get() {
    let (_m, reg) = registry(TagDeleteSupport::Supported).await;
    let bytes = b"layer bytes".to_vec();
    let d = reg.put_blob("org/shared", &bytes).await;
    let head = reg
        .req(Method::HEAD, &format!("/v2/org/shared/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(head.headers()["docker-content-digest"], d.as_str());
    let get = reg
        .req(Method::GET, &format!("/v2/org/shared/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // A blob is visible only in the repositories it was pushed (or mounted) into.
    let other = reg
        .req(Method::HEAD, &format!("/v2/other/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    let mount = reg
        .req(
            Method::POST,
            &format!("/v2/other/blobs/uploads/?mount={d}&from=org/shared"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(mount.status(), StatusCode::CREATED);
    assert_eq!(
        reg.req(Method::HEAD, &format!("/v2/other/blobs/{d}"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let bad = reg
        .req(
            Method::POST,
            &format!("/v2/org/shared/blobs/uploads/?digest={}", digest(b"else")),
        )
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.json::<Value>().await.unwrap()["errors"][0]["code"],
        "DIGEST_INVALID"
    );
}

#[tokio::test]
async fn chunked_upload_with_content_range() {
    let (m, reg) = registry(TagDeleteSupport::Supported).await;
    let start = reg
        .req(Method::POST, "/v2/a/b/blobs/uploads/")
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::ACCEPTED);
    let loc = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        loc.starts_with("http://") && loc.contains("/v2/a/b/blobs/uploads/"),
        "{loc}"
    );
    assert_eq!(start.headers()["range"], "0-0");
    assert!(start.headers().contains_key("docker-upload-uuid"));
    let p1 = reg
        .req(Method::PATCH, &loc)
        .header("content-range", "0-4")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(p1.status(), StatusCode::ACCEPTED);
    assert_eq!(p1.headers()["range"], "0-4");
    let loc = p1.headers()["location"].to_str().unwrap().to_owned();
    let wrong = reg
        .req(Method::PATCH, &loc)
        .header("content-range", "0-4")
        .body("again")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let p2 = reg
        .req(Method::PATCH, &loc)
        .header("content-range", "5-10")
        .body(" world")
        .send()
        .await
        .unwrap();
    assert_eq!(p2.headers()["range"], "0-10");
    // The old Location's _state is stale now; the new one works.
    assert_eq!(
        reg.req(Method::GET, &loc).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let loc = p2.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        reg.req(Method::GET, &loc).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let d = digest(b"hello world!");
    let put = reg
        .req(Method::PUT, &format!("{loc}&digest={d}"))
        .body("!")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    assert_eq!(put.headers()["docker-content-digest"], d.as_str());
    assert_eq!(m.state().open_uploads, 0);
    assert!(m.state().repositories["a/b"].blobs.contains(&d));
    assert_eq!(
        reg.req(Method::PATCH, &loc)
            .body("late")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn docker_style_single_streamed_patch_without_length() {
    let (_m, reg) = registry(TagDeleteSupport::Supported).await;
    let start = reg
        .req(Method::POST, "/v2/big/blobs/uploads/")
        .send()
        .await
        .unwrap();
    let loc = start.headers()["location"].to_str().unwrap().to_owned();
    // 8 MiB in 64 KiB chunks, sent with chunked transfer encoding (no Content-Length).
    let chunk = vec![7u8; 64 * 1024];
    let all: Vec<u8> = chunk.repeat(128);
    let stream = futures::stream::iter(
        (0..128).map(move |_| Ok::<_, std::io::Error>(bytes::Bytes::from(chunk.clone()))),
    );
    let patch = reg
        .req(Method::PATCH, &loc)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::ACCEPTED);
    assert_eq!(
        patch.headers()["range"],
        format!("0-{}", all.len() - 1).as_str()
    );
    let loc = patch.headers()["location"].to_str().unwrap().to_owned();
    let d = digest(&all);
    let put = reg
        .req(Method::PUT, &format!("{loc}&digest={d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let got = reg
        .req(Method::GET, &format!("/v2/big/blobs/{d}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(digest(&got), d);
}

#[tokio::test]
async fn oci_manifests_need_their_media_type_in_accept() {
    let (_m, reg) = registry(TagDeleteSupport::Supported).await;
    let img = oci::build("t1", "negotiation");
    let d = reg.push("shared", "t1", &img).await;
    let get = |accepts: &'static [&'static str], method: Method| {
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
    let docker_only = get(
        &["application/vnd.docker.distribution.manifest.v2+json"],
        Method::HEAD,
    )
    .await
    .unwrap();
    assert_eq!(docker_only.status(), StatusCode::NOT_FOUND);
    // skopeo sends several Accept headers; the OCI type in the second one must count.
    let multi = get(
        &[
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
        ],
        Method::HEAD,
    )
    .await
    .unwrap();
    assert_eq!(multi.status(), StatusCode::OK);
    assert_eq!(multi.headers()["docker-content-digest"], d.as_str());
    assert_eq!(multi.headers()["content-type"], OCI_MANIFEST);
    assert_eq!(
        multi.headers()["content-length"],
        img.manifest.len().to_string().as_str()
    );
    let list = get(&["application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json;q=0.9"], Method::GET).await.unwrap();
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
