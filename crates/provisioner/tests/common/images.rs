//! Pushing tiny OCI images into mock-fly's registry with skopeo (the real client a CLI user runs).

use mock_fly::MockFly;
use tenant_domain::{TenantId, naming};
use test_support::oci;

use super::REPO;

/// Builds an image whose one layer holds `content` and pushes it as `tenant`'s tag; returns the digest
/// the tag now resolves to. The same `content` gives a byte-identical image (the same digest).
pub async fn push(mock: &MockFly, tenant: &TenantId, content: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let tag = naming::image_tag(tenant);
    let image = oci::build_image(dir.path(), "img", &[content.as_bytes()], false).unwrap();
    let dest = format!("{}/{REPO}:{tag}", mock.registry_host());
    oci::skopeo_push(&image, &dest, Some(("x", mock.token())), &[])
        .await
        .unwrap();
    image.top_digest().to_owned()
}

/// The image a machine of the tenant runs when pinned to `digest`.
pub fn pinned(mock: &MockFly, digest: &str) -> String {
    naming::pinned_image(&mock.registry_host(), REPO, digest)
}
