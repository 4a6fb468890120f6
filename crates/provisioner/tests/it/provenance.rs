//! A deploy re-verifies the image graph upstream before anything is recorded: every manifest and blob
//! the tenant's tag reaches must be one the gateway recorded as the tenant's. Other tenants' content
//! smuggled in past the gateway (a layer, an index child, a case-variant `Layers` key the upstream reads)
//! is refused with a conflict naming the digest, and nothing is deployed.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use crate::common::{Harness, REPO, images};
use mgmt_domain::{JobKind, Tenant, TenantDatabaseAdmin, TenantState, naming};
use mgmt_fly_client::{BreakerConfig, HttpRegistry, Registry as _, RegistryConfig};
use mgmt_mock_fly::{MockFly, MockFlyConfig};
use mgmt_persistence::testing::{tenant_cluster_admin, test_database};
use mgmt_provisioner::ServiceError;
use mgmt_test_support::oci::{OCI_INDEX, OCI_MANIFEST};
use secrecy::SecretString;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

/// The descriptor of the manifest `digest` in mock-fly, as an index lists it.
async fn descriptor(h: &Harness, digest: &str) -> Value {
    let m = h
        .registry
        .get_manifest(REPO, digest)
        .await
        .unwrap()
        .unwrap();
    json!({
        "mediaType": m.media_type,
        "digest": digest,
        "size": m.body.len(),
        "platform": { "architecture": "amd64", "os": "linux" },
    })
}

fn index_of(children: Vec<Value>) -> Value {
    json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children })
}

/// Deploys the tenant's tag and expects a refusal whose message names every string in `names`; then
/// checks that nothing happened: no deployment, no deploy job, no event, the tenant row untouched, no
/// machine.
async fn assert_refused(h: &Harness, before: &Tenant, names: &[&str]) {
    let id = before.id;
    let events_before = h.event_types(id).await;
    match h.service.deploy(h.customer.id, id, &h.image(&id)).await {
        Err(ServiceError::Conflict(m)) => {
            for name in names {
                assert!(m.contains(name), "{m:?} does not name {name}");
            }
            assert!(m.starts_with("deploy refused: "), "{m}");
        }
        other => panic!("expected a conflict naming {names:?}, got {other:?}"),
    }
    assert_eq!(
        h.repos.deployments.list_for_tenant(id).await.unwrap(),
        vec![],
        "no deployment recorded"
    );
    let jobs = h.repos.jobs.list_for_tenant(id).await.unwrap();
    assert!(
        jobs.iter().all(|j| j.kind != JobKind::Deploy),
        "no deploy job: {jobs:?}"
    );
    assert_eq!(&h.repos.tenants.get(id).await.unwrap(), before);
    assert_eq!(h.event_types(id).await, events_before);
    assert!(h.mock.state().machines_of(&before.fly_app_name).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenants_own_image_and_index_deploy() {
    let mut h = Harness::start().await;
    h.start_workers();
    let t = h.provisioned("own", "basic").await;

    let digest = images::push(&h, &t.id, "own image").await;
    let (_, dep) = h
        .service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    assert_eq!(dep.digest.as_deref(), Some(digest.as_str()));
    let t = h.wait_state(t.id, TenantState::Running, T).await;
    assert_eq!(t.deployed_digest.as_deref(), Some(digest.as_str()));

    // What BuildKit pushes by default: an index wrapping the image manifest.
    let image = images::push_image(&h, &t.id, "own image, as an index", true).await;
    let index = image.index_digest.clone().unwrap();
    let (_, dep) = h
        .service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    assert_eq!(dep.digest.as_deref(), Some(index.as_str()));
    h.wait_deployed(t.id, &index, T).await;
    let s = h.mock.state();
    assert_eq!(
        s.machines_of(&t.fly_app_name)[0].image,
        images::pinned(&h.mock, &index)
    );
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_reaching_another_tenants_manifest_or_layer_is_refused() {
    let mut h = Harness::start().await;
    h.start_workers();
    let a = h.provisioned("alpha", "basic").await;
    let b = h.provisioned("beta", "basic").await;
    let own = images::push(&h, &a.id, "alpha's own image").await;
    let theirs = images::push_image(&h, &b.id, "beta's secret", false).await;
    let tag_a = naming::image_tag(&a.id);
    let before = h.repos.tenants.get(a.id).await.unwrap();

    // Alpha's tag moved onto beta's manifest behind the gateway's back.
    let doc = images::manifest_json(&h, &theirs.manifest_digest).await;
    let moved = images::put_raw(&h, &tag_a, OCI_MANIFEST, &doc).await;
    assert_eq!(moved, theirs.manifest_digest);
    assert_refused(&h, &before, &[&theirs.manifest_digest, "tag points at"]).await;

    // Alpha's own manifest (recorded as pushed) with beta's layer, which alpha never uploaded.
    let mut doc = images::manifest_json(&h, &own).await;
    let config = doc["config"]["digest"].as_str().unwrap().to_owned();
    doc["layers"] = images::manifest_json(&h, &theirs.manifest_digest).await["layers"].clone();
    let crafted = images::put_raw(&h, &tag_a, OCI_MANIFEST, &doc).await;
    let pushes = h.repos.registry_pushes.as_ref();
    images::record_manifest(pushes, a.id, &tag_a, &crafted, OCI_MANIFEST, vec![config]).await;
    assert_refused(&h, &before, &[&theirs.layer_digests[0], &crafted]).await;

    // Beta's own image still deploys, and alpha's once its tag is its own again.
    h.service
        .deploy(h.customer.id, b.id, &h.image(&b.id))
        .await
        .unwrap();
    h.wait_state(b.id, TenantState::Running, T).await;
    images::push(&h, &a.id, "alpha's own image").await;
    h.service
        .deploy(h.customer.id, a.id, &h.image(&a.id))
        .await
        .unwrap();
    h.wait_state(a.id, TenantState::Running, T).await;
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_listing_another_tenants_manifest_is_refused() {
    let mut h = Harness::start().await;
    h.start_workers();
    let a = h.provisioned("alpha", "basic").await;
    let b = h.provisioned("beta", "basic").await;
    let own = images::push(&h, &a.id, "alpha's amd64 image").await;
    let theirs = images::push(&h, &b.id, "beta's image").await;
    let tag_a = naming::image_tag(&a.id);
    let before = h.repos.tenants.get(a.id).await.unwrap();

    let mut foreign = descriptor(&h, &theirs).await;
    foreign["platform"]["architecture"] = json!("arm64");
    let index = index_of(vec![descriptor(&h, &own).await, foreign]);
    let pushed = images::put_raw(&h, &tag_a, OCI_INDEX, &index).await;
    // Even if the hole let alpha read beta's manifest, alpha never pushed it.
    let pushes = h.repos.registry_pushes.as_ref();
    let refs = vec![own.clone(), theirs.clone()];
    images::record_manifest(pushes, a.id, &tag_a, &pushed, OCI_INDEX, refs).await;
    assert_refused(&h, &before, &[&theirs, &pushed]).await;
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_variant_layers_key_the_upstream_stores_is_refused() {
    let mut h = Harness::start().await;
    h.start_workers();
    let a = h.provisioned("alpha", "basic").await;
    let b = h.provisioned("beta", "basic").await;
    let own = images::push_image(&h, &a.id, "alpha's own image", false).await;
    let theirs = images::push_image(&h, &b.id, "beta's secret", false).await;
    let tag_a = naming::image_tag(&a.id);
    let before = h.repos.tenants.get(a.id).await.unwrap();

    // `layers` is alpha's (what a case-sensitive reader checks); Go's registry would also read `Layers`.
    let mut doc = images::manifest_json(&h, &own.manifest_digest).await;
    doc["Layers"] = images::manifest_json(&h, &theirs.manifest_digest).await["layers"].clone();
    let crafted = images::put_raw(&h, &tag_a, OCI_MANIFEST, &doc).await;
    let body = h
        .registry
        .get_manifest(REPO, &crafted)
        .await
        .unwrap()
        .unwrap()
        .body;
    assert!(
        String::from_utf8_lossy(&body).contains("\"Layers\""),
        "the upstream stored both keys"
    );
    let pushes = h.repos.registry_pushes.as_ref();
    let refs = std::iter::once(own.config_digest.clone())
        .chain(own.layer_digests.clone())
        .collect();
    images::record_manifest(pushes, a.id, &tag_a, &crafted, OCI_MANIFEST, refs).await;
    assert_refused(&h, &before, &[&crafted, "cannot be verified"]).await;
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_indexes_and_oversized_indexes_are_refused_before_fetching_children() {
    let mut h = Harness::start().await;
    h.start_workers();
    let a = h.provisioned("alpha", "basic").await;
    let tag_a = naming::image_tag(&a.id);
    let pushes = h.repos.registry_pushes.as_ref();

    // An index (alpha's own) listing alpha's own index.
    let inner = images::push_image(&h, &a.id, "alpha's image", true).await;
    let inner_index = inner.index_digest.clone().unwrap();
    let before = h.repos.tenants.get(a.id).await.unwrap();
    let outer = index_of(vec![descriptor(&h, &inner_index).await]);
    let outer = images::put_raw(&h, &tag_a, OCI_INDEX, &outer).await;
    let refs = vec![inner_index.clone()];
    images::record_manifest(pushes, a.id, &tag_a, &outer, OCI_INDEX, refs).await;
    assert_refused(&h, &before, &[&inner_index, "nested"]).await;

    // 64 children of alpha's own: with the index, more manifests than one deploy fetches.
    let mut doc = images::manifest_json(&h, &inner.manifest_digest).await;
    let blobs: Vec<String> = std::iter::once(inner.config_digest.clone())
        .chain(inner.layer_digests.clone())
        .collect();
    let mut children = Vec::new();
    for i in 0..64 {
        doc["annotations"] = json!({ "variant": i.to_string() });
        let variant = format!("alpha-variant-{i}");
        let d = images::put_raw(&h, &variant, OCI_MANIFEST, &doc).await;
        images::record_manifest(pushes, a.id, &variant, &d, OCI_MANIFEST, blobs.clone()).await;
        children.push(d);
    }
    let mut descriptors = Vec::new();
    for c in &children {
        descriptors.push(descriptor(&h, c).await);
    }
    let big = images::put_raw(&h, &tag_a, OCI_INDEX, &index_of(descriptors)).await;
    images::record_manifest(pushes, a.id, &tag_a, &big, OCI_INDEX, children).await;
    let gets = |h: &Harness| {
        h.mock
            .requests()
            .iter()
            .filter(|r| r.op.as_deref() == Some("registry_manifest_get"))
            .count()
    };
    let fetched = gets(&h);
    assert_refused(&h, &before, &[&big, "at most 63"]).await;
    assert_eq!(gets(&h) - fetched, 1, "only the index itself was fetched");
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_outage_while_verifying_is_unavailable_not_a_refusal() {
    // A registry client whose breaker stays closed, so the outage ends as soon as the faults do.
    let db = test_database().await.expect("test database");
    let mock = MockFly::start(MockFlyConfig::default()).await.unwrap();
    let (fly, _) = common::clients(&mock, common::default_breaker());
    let mut rc = RegistryConfig::new(
        mock.registry_url(),
        "x",
        SecretString::from(mock.token().to_owned()),
    );
    rc.retry = common::fast_retry();
    rc.breaker = BreakerConfig {
        failure_threshold: 1000,
        cool_down: Duration::from_millis(100),
    };
    let registry = Arc::new(HttpRegistry::new(rc).unwrap());
    let admin: Arc<dyn TenantDatabaseAdmin> = Arc::new(tenant_cluster_admin());
    let config = common::provisioner_config(&mock);
    let mut h = Harness::assemble(db, mock, fly, registry, admin, config).await;
    h.start_workers();
    let t = h.provisioned("patient", "basic").await;
    let digest = images::push(&h, &t.id, "patient image").await;

    h.mock
        .faults()
        .fail_next("registry_manifest_get", 1000, 503);
    match h.service.deploy(h.customer.id, t.id, &h.image(&t.id)).await {
        Err(e @ ServiceError::Unavailable(_)) => assert!(e.is_transient()),
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert_eq!(
        h.repos.deployments.list_for_tenant(t.id).await.unwrap(),
        vec![]
    );
    h.mock.faults().clear();
    let (_, dep) = h
        .service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    assert_eq!(dep.digest.as_deref(), Some(digest.as_str()));
    h.wait_state(t.id, TenantState::Running, T).await;
    h.stop_workers().await;
}
