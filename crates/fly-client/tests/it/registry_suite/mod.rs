//! The registry test suite, written once over a "registry under test" and run against Debian's
//! `docker-registry` and against mock-fly's registry, so the mock is held to the real thing.

#![allow(dead_code)] // each test binary uses the parts it needs

use std::time::Duration;

use mgmt_fly_client::resilience::RetryPolicy;
use mgmt_fly_client::{FlyError, HttpRegistry, Registry, RegistryConfig, TagDeletion};
use mgmt_test_support::oci::{self, OciImage};
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};

/// Which path safe deletion must take on this registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletePath {
    DeletedTag,
    Placeholder,
    PlaceholderLeft,
}

/// A running registry and how to reach it; `_keep` holds the server alive.
pub struct Target {
    pub name: &'static str,
    pub url: String,
    pub host: String,
    pub username: String,
    pub password: String,
    pub delete_path: DeletePath,
    pub _keep: Box<dyn std::any::Any + Send>,
}

impl Target {
    pub fn client(&self) -> HttpRegistry {
        self.client_with_password(&self.password)
    }

    pub fn client_with_password(&self, password: &str) -> HttpRegistry {
        let mut cfg = RegistryConfig::new(
            &self.url,
            &self.username,
            SecretString::from(password.to_string()),
        );
        cfg.retry = RetryPolicy {
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            ..RetryPolicy::default()
        };
        HttpRegistry::new(cfg).unwrap()
    }

    pub async fn push(&self, image: &OciImage, repo: &str, tag: &str) {
        let dest = format!("{}/{repo}:{tag}", self.host);
        oci::skopeo_push(image, &dest, Some((&self.username, &self.password)), &[])
            .await
            .unwrap_or_else(|e| panic!("[{}] push {dest}: {e:#}", self.name));
    }
}

fn build(dir: &std::path::Path, tag: &str, content: &[u8], as_index: bool) -> OciImage {
    oci::build_image(dir, tag, &[content, b"second layer"], as_index).unwrap()
}

/// An OCI manifest and an OCI index resolve to the digests skopeo pushed, with the right media types.
pub async fn oci_manifest_and_index_resolve(t: &Target) {
    let dir = tempfile::tempdir().unwrap();
    let plain = build(dir.path(), "plain", b"plain image", false);
    let indexed = build(dir.path(), "indexed", b"indexed image", true);
    t.push(&plain, "suite/app", "plain").await;
    t.push(&indexed, "suite/app", "indexed").await;
    let reg = t.client();

    let got = reg
        .resolve("suite/app", "plain")
        .await
        .unwrap()
        .expect("plain tag resolves");
    assert_eq!(got.digest, plain.manifest_digest, "[{}]", t.name);
    assert_eq!(got.media_type, oci::OCI_MANIFEST, "[{}]", t.name);
    let got = reg
        .resolve("suite/app", "indexed")
        .await
        .unwrap()
        .expect("indexed tag resolves");
    assert_eq!(got.digest, indexed.top_digest(), "[{}]", t.name);
    assert_eq!(got.media_type, oci::OCI_INDEX, "[{}]", t.name);

    let manifest = reg
        .get_manifest("suite/app", "indexed")
        .await
        .unwrap()
        .expect("manifest");
    assert_eq!(
        format!("sha256:{}", hex::encode(Sha256::digest(&manifest.body))),
        manifest.digest
    );
    assert_eq!(manifest.digest, indexed.top_digest());
    let by_digest = reg
        .resolve("suite/app", &indexed.manifest_digest)
        .await
        .unwrap()
        .expect("child manifest");
    assert_eq!(by_digest.media_type, oci::OCI_MANIFEST);

    assert!(
        reg.blob_exists("suite/app", &plain.layer_digests[0])
            .await
            .unwrap()
    );
    assert!(
        reg.blob_exists("suite/app", &plain.config_digest)
            .await
            .unwrap()
    );
    let missing = format!("sha256:{}", "0".repeat(64));
    assert!(!reg.blob_exists("suite/app", &missing).await.unwrap());

    if let Some(mut tags) = reg.list_tags("suite/app").await.unwrap() {
        tags.sort();
        assert_eq!(tags, ["indexed", "plain"], "[{}]", t.name);
    }
}

/// A missing tag is `None`; bad credentials are an error, never "absent".
pub async fn unauthorized_is_not_absent(t: &Target) {
    let dir = tempfile::tempdir().unwrap();
    let image = build(dir.path(), "v1", b"auth image", false);
    t.push(&image, "suite/auth", "v1").await;
    assert_eq!(
        t.client().resolve("suite/auth", "nope").await.unwrap(),
        None,
        "[{}]",
        t.name
    );
    assert_eq!(
        t.client()
            .resolve("suite/never-pushed", "v1")
            .await
            .unwrap(),
        None,
        "[{}]",
        t.name
    );
    let wrong = t.client_with_password("wrong-password");
    let err = wrong.resolve("suite/auth", "v1").await.unwrap_err();
    assert!(
        matches!(err, FlyError::Unauthorized(_)),
        "[{}] {err:?}",
        t.name
    );
    assert!(!err.to_string().contains("wrong-password"));
    let err = wrong.resolve("suite/auth", "nope").await.unwrap_err();
    assert!(
        matches!(err, FlyError::Unauthorized(_)),
        "[{}] {err:?}",
        t.name
    );
}

/// Two tenants push byte-identical images; deleting one tag leaves the other resolving.
pub async fn safe_delete_keeps_the_identical_twin(t: &Target) {
    let dir = tempfile::tempdir().unwrap();
    let image = build(dir.path(), "same", b"the shared base template", false);
    t.push(&image, "suite/shared", "tenant-a").await;
    t.push(&image, "suite/shared", "tenant-b").await;
    let reg = t.client();
    let a = reg
        .resolve("suite/shared", "tenant-a")
        .await
        .unwrap()
        .unwrap();
    let b = reg
        .resolve("suite/shared", "tenant-b")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.digest, b.digest, "identical images share a digest");

    let outcome = reg
        .delete_tag_safely("suite/shared", "tenant-a")
        .await
        .unwrap();
    match (t.delete_path, &outcome) {
        (DeletePath::DeletedTag, TagDeletion::DeletedTag) => {}
        (DeletePath::Placeholder, TagDeletion::ReplacedWithPlaceholder { placeholder_digest })
        | (DeletePath::PlaceholderLeft, TagDeletion::PlaceholderLeft { placeholder_digest }) => {
            assert_ne!(
                placeholder_digest, &a.digest,
                "the original digest is never the one deleted"
            );
        }
        _ => panic!("[{}] expected {:?}, got {outcome:?}", t.name, t.delete_path),
    }

    let left = reg.resolve("suite/shared", "tenant-a").await.unwrap();
    match &outcome {
        TagDeletion::PlaceholderLeft { placeholder_digest } => {
            assert_eq!(
                left.map(|m| m.digest).as_ref(),
                Some(placeholder_digest),
                "tag now points at the placeholder"
            );
        }
        _ => assert_eq!(left, None, "[{}] tenant-a is gone", t.name),
    }
    let twin = reg
        .resolve("suite/shared", "tenant-b")
        .await
        .unwrap()
        .expect("tenant-b still resolves");
    assert_eq!(twin.digest, b.digest, "[{}]", t.name);
    assert!(
        reg.get_manifest("suite/shared", &b.digest)
            .await
            .unwrap()
            .is_some()
    );
    // The twin can still be pulled whole.
    let out = tempfile::tempdir().unwrap();
    oci::skopeo_pull(
        &format!("{}/suite/shared:tenant-b", t.host),
        Some((&t.username, &t.password)),
        out.path(),
        "b",
    )
    .await
    .unwrap_or_else(|e| panic!("[{}] pull tenant-b: {e:#}", t.name));

    if !matches!(outcome, TagDeletion::PlaceholderLeft { .. }) {
        let again = reg
            .delete_tag_safely("suite/shared", "tenant-a")
            .await
            .unwrap();
        assert_eq!(again, TagDeletion::AlreadyGone, "[{}]", t.name);
    }
    assert_eq!(
        reg.delete_tag_safely("suite/shared", "never-existed")
            .await
            .unwrap(),
        TagDeletion::AlreadyGone
    );
}

/// A manifest put under a tag resolves to the digest `put_manifest` reports.
pub async fn put_manifest_round_trips(t: &Target) {
    let dir = tempfile::tempdir().unwrap();
    let image = build(dir.path(), "src", b"put image", false);
    t.push(&image, "suite/put", "src").await;
    let reg = t.client();
    let manifest = reg.get_manifest("suite/put", "src").await.unwrap().unwrap();
    let digest = reg
        .put_manifest(
            "suite/put",
            "copy",
            &manifest.media_type,
            manifest.body.clone(),
        )
        .await
        .unwrap();
    assert_eq!(digest, manifest.digest);
    assert_eq!(
        reg.resolve("suite/put", "copy")
            .await
            .unwrap()
            .unwrap()
            .digest,
        manifest.digest
    );
}

/// A Docker v2 schema 2 image resolves as such (never down-converted to schema 1, another digest).
pub async fn docker_v2_manifest_resolves(t: &Target) {
    let dir = tempfile::tempdir().unwrap();
    let image = build(dir.path(), "d", b"docker image", false);
    let dest = format!("{}/suite/docker:v2", t.host);
    oci::skopeo_push(
        &image,
        &dest,
        Some((&t.username, &t.password)),
        &["--format", "v2s2"],
    )
    .await
    .unwrap_or_else(|e| panic!("[{}] push {dest}: {e:#}", t.name));
    let reg = t.client();
    let resolved = reg
        .resolve("suite/docker", "v2")
        .await
        .unwrap()
        .expect("resolves");
    assert_eq!(
        resolved.media_type,
        mgmt_domain::media_type::DOCKER_MANIFEST,
        "[{}]",
        t.name
    );
    let manifest = reg
        .get_manifest("suite/docker", "v2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(manifest.digest, resolved.digest);
    assert_eq!(
        format!("sha256:{}", hex::encode(Sha256::digest(&manifest.body))),
        resolved.digest
    );
    assert_ne!(
        resolved.digest, image.manifest_digest,
        "converted from OCI, so a new digest"
    );
}
