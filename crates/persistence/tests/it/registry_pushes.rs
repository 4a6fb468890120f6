//! Registry pushes and per-tenant read grants.

use tenant_domain::NewRegistryPush;
use tenant_persistence::testing::test_database;

fn digest(n: u32) -> String {
    format!("sha256:{n:064x}")
}

#[tokio::test]
async fn a_tenant_may_read_only_what_it_pushed_or_uploaded() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().registry_pushes;
    let alice = t.customer().await.unwrap();
    let a = t.tenant(alice.id, "a").await.unwrap();
    let b = t.tenant(alice.id, "b").await.unwrap();

    repo.record_blob_upload(a.id, &digest(1)).await.unwrap();
    repo.record_blob_upload(a.id, &digest(1)).await.unwrap();
    let push = NewRegistryPush {
        tenant_id: a.id,
        reference: format!("tenant-{}", a.id),
        digest: digest(10),
        media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
        referenced_digests: vec![digest(1), digest(2), digest(3)],
    };
    let p1 = repo.record_manifest_push(push.clone()).await.unwrap();
    assert_eq!(
        (p1.digest.as_str(), p1.tenant_id),
        (digest(10).as_str(), a.id)
    );
    let p2 = repo
        .record_manifest_push(NewRegistryPush {
            digest: digest(11),
            referenced_digests: vec![digest(1)],
            ..push
        })
        .await
        .unwrap();

    for n in [1, 2, 3, 10, 11] {
        assert!(repo.tenant_may_read(a.id, &digest(n)).await.unwrap(), "{n}");
        assert!(
            !repo.tenant_may_read(b.id, &digest(n)).await.unwrap(),
            "{n} leaked to b"
        );
    }
    assert!(!repo.tenant_may_read(a.id, &digest(99)).await.unwrap());
    assert_eq!(repo.list_for_tenant(a.id).await.unwrap(), [p2, p1]);
    assert!(repo.list_for_tenant(b.id).await.unwrap().is_empty());
    assert!(repo.record_blob_upload(a.id, "not a digest").await.is_err());
}
