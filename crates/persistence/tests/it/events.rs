//! The ordered event log.

use mgmt_domain::{EventType, NewTenantEvent, RepoError, TenantId, TenantState};
use mgmt_persistence::testing::test_database;

#[tokio::test]
async fn events_come_back_in_order_and_page_by_id() {
    let t = test_database().await.unwrap();
    let events = t.repositories().events;
    let alice = t.customer().await.unwrap();
    let a = t.tenant(alice.id, "a").await.unwrap();
    let b = t.tenant(alice.id, "b").await.unwrap();
    assert_eq!(events.latest(a.id).await.unwrap(), None);

    let kinds = [
        EventType::TenantCreated,
        EventType::DatabaseCreated,
        EventType::VmProvisioned,
        EventType::TenantReady,
    ];
    let mut written = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        written.push(
            events
                .append(NewTenantEvent::new(
                    a.id,
                    kind,
                    TenantState::Provisioning,
                    Some(format!("{i}")),
                ))
                .await
                .unwrap(),
        );
        events
            .append(NewTenantEvent::new(
                b.id,
                EventType::CleanupStarted,
                TenantState::Deleting,
                None,
            ))
            .await
            .unwrap();
    }
    let all = events.list_after(a.id, 0, 100).await.unwrap();
    assert_eq!(all, written);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(all.iter().map(|e| e.event_type).collect::<Vec<_>>(), kinds);
    assert!(
        all.iter()
            .all(|e| e.tenant_id == a.id && e.status == "provisioning")
    );

    let page = events.list_after(a.id, written[0].id, 2).await.unwrap();
    assert_eq!(page, written[1..3]);
    assert!(
        events
            .list_after(a.id, written[3].id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(events.latest(a.id).await.unwrap(), Some(written[3].clone()));
    assert_eq!(events.list_after(b.id, 0, 100).await.unwrap().len(), 4);

    let orphan = NewTenantEvent::new(
        TenantId::new_random(),
        EventType::TenantCreated,
        TenantState::Pending,
        None,
    );
    assert_eq!(
        events.append(orphan).await.unwrap_err(),
        RepoError::NotFound { entity: "tenant" }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_following_concurrent_writers_misses_nothing() {
    let t = test_database().await.unwrap();
    let events = t.repositories().events;
    let alice = t.customer().await.unwrap();
    let tenant = t.tenant(alice.id, "a").await.unwrap();
    const WRITERS: usize = 4;
    const EACH: usize = 25;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let events = events.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    let msg = Some(format!("{w}-{i}"));
                    events
                        .append(NewTenantEvent::new(
                            tenant.id,
                            EventType::VmProvisioningProgress,
                            TenantState::Provisioning,
                            msg,
                        ))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    // Follow the log as a stream would: remember the last id, ask for what comes after it.
    let mut seen = Vec::new();
    let mut last = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while seen.len() < WRITERS * EACH {
        assert!(
            std::time::Instant::now() < deadline,
            "stream stalled at {}",
            seen.len()
        );
        for e in events.list_after(tenant.id, last, 7).await.unwrap() {
            last = e.id;
            seen.push(e.message.unwrap());
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), WRITERS * EACH, "every event exactly once");
}
