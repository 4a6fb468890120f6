//! The same registry suite against mock-fly's registry (user `x`, the mock's token as password), in
//! each of its tag-deletion modes, proving the mock behaves like the real registry.

use crate::registry_suite;

use crate::registry_suite::{DeletePath, Target};
use mgmt_mock_fly::{MockFly, MockFlyConfig, TagDeleteSupport};

async fn target(tag_delete: TagDeleteSupport, delete_path: DeletePath) -> Target {
    let mock = MockFly::start(MockFlyConfig {
        tag_delete,
        ..MockFlyConfig::default()
    })
    .await
    .expect("mock-fly starts");
    Target {
        name: "mock-fly",
        url: mock.registry_url(),
        host: mock.registry_host(),
        username: "x".into(),
        password: mock.token().into(),
        delete_path,
        _keep: Box::new(mock),
    }
}

async fn default_target() -> Target {
    target(TagDeleteSupport::Supported, DeletePath::DeletedTag).await
}

#[tokio::test(flavor = "multi_thread")]
async fn oci_manifest_and_index_resolve() {
    registry_suite::oci_manifest_and_index_resolve(&default_target().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthorized_is_not_absent() {
    registry_suite::unauthorized_is_not_absent(&default_target().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn safe_delete_with_tag_delete_supported() {
    registry_suite::safe_delete_keeps_the_identical_twin(&default_target().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn safe_delete_like_distribution_2_8() {
    let t = target(TagDeleteSupport::BadRequest400, DeletePath::Placeholder).await;
    registry_suite::safe_delete_keeps_the_identical_twin(&t).await;
}

/// The mock's 405 mode is distribution with deletion disabled (every DELETE → 405 `UNSUPPORTED`):
/// the placeholder cannot be deleted either, so it is left on the tag, as with docker-registry.
#[tokio::test(flavor = "multi_thread")]
async fn safe_delete_with_deletion_disabled_leaves_placeholder_and_twin() {
    let t = target(
        TagDeleteSupport::MethodNotAllowed405,
        DeletePath::PlaceholderLeft,
    )
    .await;
    registry_suite::safe_delete_keeps_the_identical_twin(&t).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn put_manifest_round_trips() {
    registry_suite::put_manifest_round_trips(&default_target().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_v2_manifest_resolves() {
    registry_suite::docker_v2_manifest_resolves(&default_target().await).await;
}
