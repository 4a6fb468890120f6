//! Pushing tiny OCI images into mock-fly's registry with skopeo (the real client a CLI user runs), and
//! recording each push as the registry gateway would (deploys verify the image is the tenant's own).

use mgmt_domain::{NewRegistryPush, RegistryPushRepository, TenantId, naming};
use mgmt_mock_fly::MockFly;
use mgmt_test_support::oci::{self, OCI_INDEX, OCI_MANIFEST, OciImage};
use serde_json::Value;

use super::{Harness, REPO};

/// Builds an image whose one layer holds `content` and pushes it as `tenant`'s tag; returns the digest
/// the tag now resolves to. The same `content` gives a byte-identical image (the same digest).
pub async fn push(h: &Harness, tenant: &TenantId, content: &str) -> String {
    push_image(h, tenant, content, false)
        .await
        .top_digest()
        .to_owned()
}

/// As [`push`], optionally wrapped in an OCI index; returns the image's digests (its layout directory
/// is already removed).
pub async fn push_image(h: &Harness, tenant: &TenantId, content: &str, as_index: bool) -> OciImage {
    let dir = tempfile::tempdir().unwrap();
    let tag = naming::image_tag(tenant);
    let image = oci::build_image(dir.path(), "img", &[content.as_bytes()], as_index).unwrap();
    let dest = format!("{}/{REPO}:{tag}", h.mock.registry_host());
    oci::skopeo_push(&image, &dest, Some(("x", h.mock.token())), &[])
        .await
        .unwrap();
    record(h.repos.registry_pushes.as_ref(), *tenant, &image, &tag).await;
    image
}

/// Records `image` pushed under `tag` as the gateway does: its blobs uploaded by the tenant, the image
/// manifest (by digest when an index wraps it) and the index pushed by the tenant with what they reference.
pub async fn record(
    pushes: &dyn RegistryPushRepository,
    tenant: TenantId,
    image: &OciImage,
    tag: &str,
) {
    let blobs: Vec<String> = std::iter::once(&image.config_digest)
        .chain(&image.layer_digests)
        .cloned()
        .collect();
    for blob in &blobs {
        pushes.record_blob_upload(tenant, blob).await.unwrap();
    }
    let manifest_reference = match &image.index_digest {
        Some(_) => image.manifest_digest.clone(),
        None => tag.to_owned(),
    };
    record_manifest(
        pushes,
        tenant,
        &manifest_reference,
        &image.manifest_digest,
        OCI_MANIFEST,
        blobs,
    )
    .await;
    if let Some(index) = &image.index_digest {
        let children = vec![image.manifest_digest.clone()];
        record_manifest(pushes, tenant, tag, index, OCI_INDEX, children).await;
    }
}

/// Records one manifest push of the tenant (`references` become readable by it).
pub async fn record_manifest(
    pushes: &dyn RegistryPushRepository,
    tenant: TenantId,
    reference: &str,
    digest: &str,
    media_type: &str,
    references: Vec<String>,
) {
    pushes
        .record_manifest_push(NewRegistryPush {
            tenant_id: tenant,
            reference: reference.to_owned(),
            digest: digest.to_owned(),
            media_type: Some(media_type.to_owned()),
            referenced_digests: references,
        })
        .await
        .unwrap();
}

/// Puts `doc` (serialised as is) straight into mock-fly under `reference` (a tag or its digest),
/// bypassing the gateway and recording nothing; returns its digest.
pub async fn put_raw(h: &Harness, reference: &str, media_type: &str, doc: &Value) -> String {
    use mgmt_fly_client::Registry as _;
    let body = serde_json::to_vec(doc).unwrap();
    h.registry
        .put_manifest(REPO, reference, media_type, body.into())
        .await
        .unwrap()
}

/// The JSON of the manifest `digest` in mock-fly.
pub async fn manifest_json(h: &Harness, digest: &str) -> Value {
    use mgmt_fly_client::Registry as _;
    let m = h
        .registry
        .get_manifest(REPO, digest)
        .await
        .unwrap()
        .expect("manifest in the registry");
    serde_json::from_slice(&m.body).unwrap()
}

/// The image a machine of the tenant runs when pinned to `digest`.
pub fn pinned(mock: &MockFly, digest: &str) -> String {
    naming::pinned_image(&mock.registry_host(), REPO, digest)
}
