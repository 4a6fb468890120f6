//! Two tenants push byte-identical images (one digest); deleting one leaves the other's tag and
//! machine intact — on a registry with tag deletion and on one without (distribution 2.8's 400).

use crate::common;

use std::time::Duration;

use crate::common::{Harness, REPO, images};
use mgmt_domain::{TenantState, naming};
use mgmt_fly_client::Registry;
use mgmt_mock_fly::{MockFlyConfig, TagDeleteSupport};

const T: Duration = Duration::from_secs(30);

async fn identical_images_survive_the_other_tenants_delete(tag_delete: TagDeleteSupport) {
    let cfg = MockFlyConfig {
        tag_delete,
        ..MockFlyConfig::default()
    };
    let mut h = Harness::build(cfg, common::default_breaker(), |_| {}).await;
    h.start_workers();
    let a = h.provisioned("alpha", "basic").await;
    let b = h.provisioned("beta", "basic").await;
    let da = images::push(&h, &a.id, "same template, nothing changed").await;
    let db = images::push(&h, &b.id, "same template, nothing changed").await;
    assert_eq!(da, db, "byte-identical images share a digest");
    for t in [&a, &b] {
        h.service
            .deploy(h.customer.id, t.id, &h.image(&t.id))
            .await
            .unwrap();
    }
    let b = h.wait_state(b.id, TenantState::Running, T).await;
    h.wait_state(a.id, TenantState::Running, T).await;

    h.service.delete_tenant(h.customer.id, a.id).await.unwrap();
    let a = h.wait_state(a.id, TenantState::Deleted, T).await;
    assert_eq!(h.fly_leftovers(&a), Vec::<String>::new());

    let tag_b = naming::image_tag(&b.id);
    let resolved = h
        .registry
        .resolve(REPO, &tag_b)
        .await
        .unwrap()
        .expect("beta's tag still resolves");
    assert_eq!(resolved.digest, db);
    assert!(
        h.registry.get_manifest(REPO, &db).await.unwrap().is_some(),
        "beta's image is intact"
    );
    let s = h.mock.state();
    let machines = s.machines_of(&b.fly_app_name);
    assert_eq!(machines.len(), 1);
    assert_eq!(machines[0].image, images::pinned(&h.mock, &db));
    assert_eq!(machines[0].state, "started");
    assert!(
        s.tag(REPO, &naming::image_tag(&a.id)).is_none(),
        "alpha's tag is gone"
    );

    // Beta can still be redeployed from its tag.
    h.service
        .deploy(h.customer.id, b.id, &h.image(&b.id))
        .await
        .unwrap();
    h.wait_state(b.id, TenantState::Running, T).await;
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tag_deletion() {
    identical_images_survive_the_other_tenants_delete(TagDeleteSupport::Supported).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tag_deletion_placeholder_path() {
    identical_images_survive_the_other_tenants_delete(TagDeleteSupport::BadRequest400).await;
}
