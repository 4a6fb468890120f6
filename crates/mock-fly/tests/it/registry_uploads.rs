//! Registry v2 auth and blob uploads: monolithic, chunked with `Content-Range`, Docker's streamed PATCH.

use crate::common::mock_with;
use crate::common::oci::{Reg, digest};
use mgmt_mock_fly::TagDeleteSupport;
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn registry(tag_delete: TagDeleteSupport) -> (mgmt_mock_fly::MockFly, Reg) {
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
