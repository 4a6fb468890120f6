//! Registry pushes and per-tenant read grants, upload sessions, usage, push access and manifest pushes in
//! flight.

use std::time::Duration;

use mgmt_domain::{CustomerStatus, NewRegistryPush, PushAccess, TenantId, TenantState, media_type};
use mgmt_persistence::testing::test_database;

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
        media_type: Some(media_type::OCI_MANIFEST.into()),
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

#[tokio::test]
async fn unreadable_digests_are_found_in_one_query_and_manifests_are_told_apart() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().registry_pushes;
    let c = t.customer().await.unwrap();
    let a = t.tenant(c.id, "a").await.unwrap();
    repo.finish_upload(a.id, None, &digest(1), 10)
        .await
        .unwrap();
    repo.record_manifest_push(NewRegistryPush {
        tenant_id: a.id,
        reference: format!("tenant-{}", a.id),
        digest: digest(5),
        media_type: None,
        referenced_digests: vec![digest(1)],
    })
    .await
    .unwrap();
    let asked = [digest(1), digest(2), digest(5), digest(3)];
    assert_eq!(
        repo.unreadable_digests(a.id, &asked).await.unwrap(),
        [digest(2), digest(3)]
    );
    assert!(repo.unreadable_digests(a.id, &[]).await.unwrap().is_empty());
    assert!(repo.tenant_pushed_manifest(a.id, &digest(5)).await.unwrap());
    assert!(
        !repo.tenant_pushed_manifest(a.id, &digest(1)).await.unwrap(),
        "a blob is no manifest"
    );
}

#[tokio::test]
async fn push_access_follows_the_tenant_and_the_customer() {
    let t = test_database().await.unwrap();
    let repos = t.repositories();
    let c = t.customer().await.unwrap();
    let a = t.tenant(c.id, "a").await.unwrap();
    let pushes = &repos.registry_pushes;
    assert_eq!(pushes.push_access(a.id).await.unwrap(), PushAccess::Allowed);
    t.set_customer_status(c.id, CustomerStatus::Suspended)
        .await
        .unwrap();
    assert_eq!(
        pushes.push_access(a.id).await.unwrap(),
        PushAccess::Suspended
    );
    assert_eq!(pushes.begin_manifest_push(a.id).await.unwrap(), None);
    t.set_customer_status(c.id, CustomerStatus::Active)
        .await
        .unwrap();
    let mut tenant = repos.tenants.get(a.id).await.unwrap();
    tenant.transition(TenantState::Deleting, None).unwrap();
    repos.tenants.update(&tenant).await.unwrap();
    assert_eq!(
        pushes.push_access(a.id).await.unwrap(),
        PushAccess::TenantGone
    );
    assert_eq!(
        pushes.push_access(TenantId::new_random()).await.unwrap(),
        PushAccess::TenantGone
    );
}

#[tokio::test]
async fn upload_sessions_are_counted_owned_and_measured() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().registry_pushes;
    let c = t.customer().await.unwrap();
    let a = t.tenant(c.id, "a").await.unwrap();
    let b = t.tenant(c.id, "b").await.unwrap();
    let idle = Duration::from_secs(900);
    let day = Duration::from_secs(86_400);
    let s1 = repo.reserve_upload(a.id, 2, idle).await.unwrap().unwrap();
    let s2 = repo.reserve_upload(a.id, 2, idle).await.unwrap().unwrap();
    assert_eq!(
        repo.reserve_upload(a.id, 2, idle).await.unwrap(),
        None,
        "limit of 2"
    );
    assert!(
        repo.reserve_upload(b.id, 2, idle).await.unwrap().is_some(),
        "per tenant"
    );
    repo.bind_upload(s1, "up-1").await.unwrap();
    repo.add_upload_bytes(s1, 100).await.unwrap();
    repo.add_upload_bytes(s1, 50).await.unwrap();
    let session = repo.upload_session("up-1").await.unwrap().unwrap();
    assert_eq!(
        (session.id, session.tenant_id, session.bytes),
        (s1, a.id, 150)
    );
    assert_eq!(repo.upload_session("up-unknown").await.unwrap(), None);
    assert_eq!(repo.tenant_usage(a.id, day, idle).await.unwrap(), 150);
    repo.finish_upload(a.id, Some(s1), &digest(7), 150)
        .await
        .unwrap();
    // The same blob again (another session) is stored once.
    repo.finish_upload(a.id, None, &digest(7), 150)
        .await
        .unwrap();
    assert_eq!(repo.tenant_usage(a.id, day, idle).await.unwrap(), 150);
    assert_eq!(repo.upload_session("up-1").await.unwrap(), None);
    repo.release_upload(s2).await.unwrap();
    assert!(repo.reserve_upload(a.id, 2, idle).await.unwrap().is_some());
    // Concurrent reservations never pass the limit.
    let c2 = t.tenant(c.id, "c").await.unwrap();
    let tries = (0..8).map(|_| {
        let repo = repo.clone();
        async move { repo.reserve_upload(c2.id, 3, idle).await.unwrap() }
    });
    let granted = futures::future::join_all(tries)
        .await
        .into_iter()
        .flatten()
        .count();
    assert_eq!(granted, 3);
}

/// A manifest push that checked in before the deletion is seen by cleanup; one that comes after the
/// deletion committed is refused. The check and the record are one statement that locks the tenant row,
/// so an uncommitted move to `deleting` holds the push back until it commits, and the push then sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_push_cannot_slip_past_a_deletion() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let t = test_database().await.unwrap();
    let repos = t.repositories();
    let c = t.customer().await.unwrap();
    let a = t.tenant(c.id, "a").await.unwrap();
    let pushes = repos.registry_pushes.clone();
    let window = Duration::from_secs(120);
    let id = pushes
        .begin_manifest_push(a.id)
        .await
        .unwrap()
        .expect("live tenant");
    assert_eq!(
        pushes
            .manifest_pushes_in_flight(a.id, window)
            .await
            .unwrap(),
        1
    );
    pushes.end_manifest_push(id).await.unwrap();
    assert_eq!(
        pushes
            .manifest_pushes_in_flight(a.id, window)
            .await
            .unwrap(),
        0
    );

    let url = secrecy::ExposeSecret::expose_secret(&t.url()).to_owned();
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    diesel::sql_query("BEGIN").execute(&mut conn).await.unwrap();
    diesel::sql_query("UPDATE management.tenants SET state = 'deleting' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(a.id.as_uuid())
        .execute(&mut conn)
        .await
        .unwrap();
    let racing = tokio::spawn(async move { pushes.begin_manifest_push(a.id).await.unwrap() });
    // Fixed wait: the assertion is that the push does NOT finish within this window.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !racing.is_finished(),
        "the push waits for the deletion's transaction"
    );
    diesel::sql_query("COMMIT")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        racing.await.unwrap(),
        None,
        "the push sees the committed deletion"
    );
}

/// The storage quota counts what a tenant uploaded within the window, so old images of a tenant that
/// deploys often (every CLI build makes new layers) stop counting and never lock it out.
#[tokio::test]
async fn usage_counts_only_blobs_first_seen_within_the_window() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let t = test_database().await.unwrap();
    let repo = t.repositories().registry_pushes;
    let c = t.customer().await.unwrap();
    let a = t.tenant(c.id, "a").await.unwrap();
    let (day, idle) = (Duration::from_secs(86_400), Duration::from_secs(900));
    repo.finish_upload(a.id, None, &digest(1), 1_000)
        .await
        .unwrap();
    repo.finish_upload(a.id, None, &digest(2), 300)
        .await
        .unwrap();
    assert_eq!(repo.tenant_usage(a.id, day, idle).await.unwrap(), 1_300);
    let url = secrecy::ExposeSecret::expose_secret(&t.url()).to_owned();
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    diesel::sql_query(
        "UPDATE management.registry_tenant_digests SET first_seen_at = now() - interval '2 days'
         WHERE digest = $1",
    )
    .bind::<diesel::sql_types::Text, _>(digest(1))
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(repo.tenant_usage(a.id, day, idle).await.unwrap(), 300);
    // Uploading an old blob again does not count it again, nor make it new.
    repo.finish_upload(a.id, None, &digest(1), 1_000)
        .await
        .unwrap();
    assert_eq!(repo.tenant_usage(a.id, day, idle).await.unwrap(), 300);
}
