//! A tenant pushes a real multi-layer image through the gateway with skopeo; the upstream
//! (Debian's docker-registry with htpasswd) then holds it under the tenant's tag.

use crate::common::*;
use mgmt_domain::{RegistryTarget, Tenant};
use mgmt_registry_gateway::IssuedCredential;
use secrecy::ExposeSecret;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pushes_an_index_image_under_the_tenant_tag_and_pulls_it_back() {
    let (_reg, up) = registry();
    let gw = start_gateway(up.config()).await;
    let (tenant, cred) = gw.tenant("acme").await;
    let dir = tempfile::tempdir().unwrap();
    let image = random_image(&dir, "v1", 3, 300_000, true);

    push_as(&gw, &image, &cred.tag, &cred)
        .await
        .expect("push through the gateway");

    assert_eq!(
        up.digest(&cred.tag).await.as_deref(),
        Some(image.top_digest())
    );
    let pushes = gw
        .repos
        .registry_pushes
        .list_for_tenant(tenant.id)
        .await
        .unwrap();
    let by_tag = pushes
        .iter()
        .find(|p| p.reference == cred.tag)
        .expect("tag push recorded");
    assert_eq!(by_tag.digest, image.top_digest());
    assert_eq!(by_tag.media_type.as_deref(), Some(image.top_media_type()));
    assert!(
        pushes.iter().any(|p| p.reference == image.manifest_digest),
        "child manifest pushed by digest is recorded"
    );
    for digest in image
        .layer_digests
        .iter()
        .chain([&image.config_digest, &image.manifest_digest])
    {
        assert!(
            gw.repos
                .registry_pushes
                .tenant_may_read(tenant.id, digest)
                .await
                .unwrap(),
            "{digest}"
        );
    }

    // The CLI deploys the string built from the registry-token fields; the deploy rule accepts it.
    let image_string = format!("{}/{}:{}", cred.registry, cred.repository, cred.tag);
    let target = RegistryTarget::new(gw.issuer.public_host(), gw.issuer.repository());
    target
        .validate_deploy_image(&tenant.id, &image_string)
        .expect("deploy rule accepts the pushed image");

    // Pull it back through the gateway: every blob and manifest of its own image is readable.
    let out = tempfile::tempdir().unwrap();
    let creds = (cred.username.as_str(), cred.token.expose_secret());
    mgmt_test_support::oci::skopeo_pull(&gw.image_ref(&cred.tag), Some(creds), out.path(), "back")
        .await
        .expect("pull back");

    // Pushing again (same content, layers already there) works and records a second push.
    push_as(&gw, &image, &cred.tag, &cred)
        .await
        .expect("second push");
    let again = gw
        .repos
        .registry_pushes
        .list_for_tenant(tenant.id)
        .await
        .unwrap();
    assert!(again.iter().filter(|p| p.reference == cred.tag).count() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_manifest_push_with_docker_v2_format_works() {
    let (_reg, up) = registry();
    let gw = start_gateway(up.config()).await;
    let (_tenant, cred) = gw.tenant("plain").await;
    let dir = tempfile::tempdir().unwrap();
    let image = random_image(&dir, "v1", 2, 100_000, false);
    let creds = (cred.username.as_str(), cred.token.expose_secret());
    mgmt_test_support::oci::skopeo_push(
        &image,
        &gw.image_ref(&cred.tag),
        Some(creds),
        &["--format", "v2s2"],
    )
    .await
    .expect("docker v2 push");
    let digest = up.digest(&cred.tag).await.expect("tag present upstream");
    assert!(digest.starts_with("sha256:"));

    // tags/list shows the tenant its own tag and nothing else.
    let res = gw
        .req(
            reqwest::Method::GET,
            &format!("/v2/{REPO}/tags/list"),
            &cred,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["tags"], serde_json::json!([cred.tag]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_started_on_one_gateway_finishes_on_another() {
    let (_reg, up) = registry();
    let gw = start_gateway(up.config()).await;
    let other = gw.replica(up.config());
    let (tenant, cred) = gw.tenant("replicas").await;
    let blob = b"hello through two replicas".to_vec();
    let digest = format!("sha256:{}", hex_sha256(&blob));

    let res = start_upload(&gw, &cred).await;
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    // The upstream's absolute Location is rewritten to the gateway; its signed query is kept.
    assert!(location.starts_with(&gw.url), "{location}");
    assert!(location.contains("_state="), "{location}");
    let path = location.trim_start_matches(&gw.url).to_owned();

    let put = format!("{}{path}&digest={digest}", other.url);
    let res = request(reqwest::Method::PUT, &put, &cred)
        .header("content-type", "application/octet-stream")
        .body(blob)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers()["docker-content-digest"].to_str().unwrap(),
        digest
    );
    assert!(may_read(&gw, &tenant, &digest).await);
    let res = gw
        .req(
            reqwest::Method::HEAD,
            &format!("/v2/{REPO}/blobs/{digest}"),
            &cred,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-length"].to_str().unwrap(), "26");
}

/// Opens an upload session in the shared repository through `gw`: 202 with the session's headers.
async fn start_upload(gw: &Gateway, cred: &IssuedCredential) -> reqwest::Response {
    let path = format!("/v2/{REPO}/blobs/uploads/");
    let res = gw
        .req(reqwest::Method::POST, &path, cred)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    res
}

/// Whether the gateway recorded `digest` as pushed by `tenant` (so the tenant may read it).
async fn may_read(gw: &Gateway, tenant: &Tenant, digest: &str) -> bool {
    gw.repos
        .registry_pushes
        .tenant_may_read(tenant.id, digest)
        .await
        .unwrap()
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Docker streams a whole layer in one chunked PATCH without `Content-Length`, then `PUT ?digest=`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_patch_without_length_is_streamed_through() {
    let (_reg, up) = registry();
    let gw = start_gateway(up.config()).await;
    let (tenant, cred) = gw.tenant("chunked").await;
    let chunks: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 64 * 1024]).collect();
    let digest = format!("sha256:{}", hex_sha256(&chunks.concat()));

    let res = start_upload(&gw, &cred).await;
    let uuid = res.headers()["docker-upload-uuid"]
        .to_str()
        .unwrap()
        .to_owned();
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let stream = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
    let res = request(reqwest::Method::PATCH, &location, &cred)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(
        res.headers()["range"].to_str().unwrap(),
        format!("0-{}", 64 * 64 * 1024 - 1)
    );
    assert_eq!(res.headers()["docker-upload-uuid"].to_str().unwrap(), uuid);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&gw.url), "{location}");

    let res = request(
        reqwest::Method::PUT,
        &format!("{location}&digest={digest}"),
        &cred,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    assert!(may_read(&gw, &tenant, &digest).await);
    // A ranged read of the blob comes back partial.
    let res = gw
        .req(
            reqwest::Method::GET,
            &format!("/v2/{REPO}/blobs/{digest}"),
            &cred,
        )
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &[0u8; 10]);
}
