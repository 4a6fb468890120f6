//! The change listener against PostgreSQL: a committed event or state change signals its tenant, a
//! rolled-back one signals nothing, job counters follow the jobs, and a dropped connection reconnects and
//! says `Missed` (so the fan-out reads once).

use std::sync::Arc;
use std::time::Duration;

use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use mgmt_domain::{EventType, NewTenantEvent, TenantState};
use mgmt_persistence::testing::test_database;
use mgmt_persistence::{ChangeSignal, job_counts, spawn_change_listener};
use tokio::sync::mpsc;

/// A listener whose signals arrive on a channel; waits until it listens (its first `Missed`).
async fn listener(
    url: secrecy::SecretString,
) -> (
    tokio::task::JoinHandle<()>,
    mpsc::UnboundedReceiver<ChangeSignal>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = spawn_change_listener(
        url,
        Arc::new(move |s| {
            let _ = tx.send(s);
        }),
    );
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the listener listens")
        .unwrap();
    assert_eq!(first, ChangeSignal::Missed);
    (handle, rx)
}

/// The next signal within `within`, if any.
async fn next(
    rx: &mut mpsc::UnboundedReceiver<ChangeSignal>,
    within: Duration,
) -> Option<ChangeSignal> {
    tokio::time::timeout(within, rx.recv()).await.ok().flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_write_signals_its_tenant_and_a_rolled_back_one_nothing() {
    let t = test_database().await.unwrap();
    let (handle, mut rx) = listener(t.url()).await;
    let customer = t.customer().await.unwrap();
    let tenant = t.tenant(customer.id, "a").await.unwrap();
    // The insert itself is not an UPDATE: nothing was signalled for it.
    assert_eq!(next(&mut rx, Duration::from_millis(300)).await, None);

    let mut conn = t.pool.get().await.unwrap();
    conn.batch_execute(&format!(
        "BEGIN;
         INSERT INTO management.tenant_events (tenant_id, event_type, status, message)
             VALUES ('{}', 'vm_provisioning_progress', 'provisioning', 'rolled back');
         UPDATE management.tenants SET status_message = 'rolled back' WHERE id = '{}';
         ROLLBACK;",
        tenant.id, tenant.id
    ))
    .await
    .unwrap();
    assert_eq!(
        next(&mut rx, Duration::from_millis(500)).await,
        None,
        "a rolled-back transaction notifies nobody"
    );

    t.repositories()
        .events
        .append(NewTenantEvent::new(
            tenant.id,
            EventType::VmProvisioningProgress,
            TenantState::Provisioning,
            Some("committed".into()),
        ))
        .await
        .unwrap();
    assert_eq!(
        next(&mut rx, Duration::from_secs(5)).await,
        Some(ChangeSignal::Tenant(tenant.id))
    );

    diesel::sql_query("UPDATE management.tenants SET status_message = 'moved on' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(tenant.id.as_uuid())
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        next(&mut rx, Duration::from_secs(5)).await,
        Some(ChangeSignal::Tenant(tenant.id)),
        "a state change signals too"
    );
    // Rewriting the same values is no change.
    diesel::sql_query("UPDATE management.tenants SET status_message = 'moved on' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(tenant.id.as_uuid())
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(next(&mut rx, Duration::from_millis(300)).await, None);
    handle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_reconnects_and_says_missed() {
    let t = test_database().await.unwrap();
    let (handle, mut rx) = listener(t.url()).await;
    let mut conn = t.pool.get().await.unwrap();
    // The database's own view of the listener session, by the application name it sets.
    let db_name = t.db.url().rsplit('/').next().unwrap().to_owned();
    conn.batch_execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'mgmt-change-listener' AND datname = '{db_name}'"
    ))
    .await
    .unwrap();
    assert_eq!(
        next(&mut rx, Duration::from_secs(10)).await,
        Some(ChangeSignal::Missed),
        "after a reconnect every follower is told to read once"
    );
    // And it listens again.
    let customer = t.customer().await.unwrap();
    let tenant = t.tenant(customer.id, "b").await.unwrap();
    diesel::sql_query("UPDATE management.tenants SET status_message = 'after' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(tenant.id.as_uuid())
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        next(&mut rx, Duration::from_secs(5)).await,
        Some(ChangeSignal::Tenant(tenant.id))
    );
    handle.abort();
}

#[tokio::test]
async fn job_counts_follow_the_jobs_without_counting_them() {
    let t = test_database().await.unwrap();
    let customer = t.customer().await.unwrap();
    let a = t.tenant(customer.id, "a").await.unwrap();
    let b = t.tenant(customer.id, "b").await.unwrap();
    let mut conn = t.pool.get().await.unwrap();
    conn.batch_execute(&format!(
        "INSERT INTO management.jobs (kind, tenant_id) VALUES ('provision', '{a}'), ('provision', '{b}'),
             ('cleanup', '{a}');
         UPDATE management.jobs SET attempts = 1 WHERE kind = 'cleanup';
         UPDATE management.jobs SET state = 'running', lease_owner = 'w', lease_expires_at = now()
             WHERE kind = 'provision' AND tenant_id = '{b}';",
        a = a.id,
        b = b.id
    ))
    .await
    .unwrap();
    let stats = job_counts(&t.pool).await.unwrap();
    let counted = t.repositories().jobs.stats().await.unwrap();
    assert_eq!(stats, counted);
    assert_eq!(
        (stats.queued, stats.running, stats.retrying, stats.dead),
        (2, 1, 1, 0)
    );
    conn.batch_execute("UPDATE management.jobs SET state = 'dead' WHERE state = 'running'; DELETE FROM management.jobs WHERE kind = 'cleanup';")
        .await
        .unwrap();
    let stats = job_counts(&t.pool).await.unwrap();
    assert_eq!(stats, t.repositories().jobs.stats().await.unwrap());
    assert_eq!(
        (stats.queued, stats.running, stats.retrying, stats.dead),
        (1, 0, 0, 1)
    );
}
