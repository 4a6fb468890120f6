//! Issue 16 at the storage level: the transactional outbox (tenant change + event + job in one
//! transaction) and fenced writes (a run whose job was claimed again can no longer write).

use std::time::Duration;

use mgmt_domain::{
    EventType, JobKind, JobState, NewJob, NewTenant, NewTenantEvent, RepoError, TenantId,
    TenantState, TenantWrite,
};
use mgmt_persistence::testing::test_database;

fn job(kind: JobKind, tenant: TenantId) -> NewJob {
    NewJob {
        kind,
        tenant_id: Some(tenant),
        payload: serde_json::json!({}),
        max_attempts: Some(5),
    }
}

#[tokio::test]
async fn create_writes_tenant_event_and_job_together_or_nothing() {
    let t = test_database().await.unwrap();
    let repos = t.repositories();
    let alice = t.customer().await.unwrap();
    let new = |name: &str| {
        NewTenant::new(
            TenantId::new_random(),
            alice.id,
            name,
            "free",
            "iad",
            "sites.example.test",
        )
    };
    let first = new("one");
    let ev = NewTenantEvent::new(
        first.id,
        EventType::TenantCreated,
        TenantState::Pending,
        None,
    );
    let tenant = repos
        .tenants
        .write_with_job(
            TenantWrite::Insert {
                new: first.clone(),
                max_live: 1,
            },
            ev,
            job(JobKind::Provision, first.id),
        )
        .await
        .unwrap();
    assert_eq!(tenant.state, TenantState::Pending);
    let jobs = repos.jobs.list_for_tenant(tenant.id).await.unwrap();
    assert_eq!(
        jobs.iter().map(|j| (j.kind, j.state)).collect::<Vec<_>>(),
        [(JobKind::Provision, JobState::Queued)]
    );
    assert_eq!(
        repos
            .events
            .list_after(tenant.id, 0, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // Over the limit: neither the tenant, nor its event, nor its job.
    let second = new("two");
    let ev = NewTenantEvent::new(
        second.id,
        EventType::TenantCreated,
        TenantState::Pending,
        None,
    );
    let err = repos
        .tenants
        .write_with_job(
            TenantWrite::Insert {
                new: second.clone(),
                max_live: 1,
            },
            ev,
            job(JobKind::Provision, second.id),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::LimitReached { .. }), "{err:?}");
    assert!(
        repos
            .tenants
            .get(second.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        repos
            .jobs
            .list_for_tenant(second.id)
            .await
            .unwrap()
            .is_empty()
    );

    // A job that fails to insert (a constraint) rolls the state change and event back too.
    let mut deleting = tenant.clone();
    deleting.transition(TenantState::Deleting, None).unwrap();
    let ev = NewTenantEvent::new(tenant.id, EventType::CleanupStarted, deleting.state, None);
    let bad = NewJob {
        max_attempts: Some(0), // refused by jobs_max_attempts_check
        ..job(JobKind::Cleanup, tenant.id)
    };
    repos
        .tenants
        .write_with_job(TenantWrite::Update(deleting.clone()), ev.clone(), bad)
        .await
        .unwrap_err();
    assert_eq!(repos.tenants.get(tenant.id).await.unwrap(), tenant);
    assert_eq!(
        repos
            .events
            .list_after(tenant.id, 0, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // An update with a stale version writes nothing either; a current one writes all three.
    let mut stale = deleting.clone();
    stale.row_version -= 1;
    let err = repos
        .tenants
        .write_with_job(
            TenantWrite::Update(stale),
            ev.clone(),
            job(JobKind::Cleanup, tenant.id),
        )
        .await
        .unwrap_err();
    assert_eq!(err, RepoError::StaleVersion { entity: "tenant" });
    let done = repos
        .tenants
        .write_with_job(
            TenantWrite::Update(deleting),
            ev,
            job(JobKind::Cleanup, tenant.id),
        )
        .await
        .unwrap();
    assert_eq!(done.state, TenantState::Deleting);
    let kinds: Vec<JobKind> = repos
        .jobs
        .list_for_tenant(tenant.id)
        .await
        .unwrap()
        .iter()
        .map(|j| j.kind)
        .collect();
    assert_eq!(kinds, [JobKind::Cleanup, JobKind::Provision]);
}

#[tokio::test]
async fn writes_of_a_run_whose_job_was_claimed_again_are_refused() {
    let t = test_database().await.unwrap();
    let repos = t.repositories();
    let alice = t.customer().await.unwrap();
    let tenant = t.tenant(alice.id, "fenced").await.unwrap();
    repos
        .jobs
        .enqueue(job(JobKind::Provision, tenant.id))
        .await
        .unwrap();
    let kinds = [JobKind::Provision];
    let old = repos
        .jobs
        .claim("w1", &kinds, Duration::from_millis(200))
        .await
        .unwrap()
        .unwrap();
    // While the claim holds, its writes go through.
    let mut next = tenant.clone();
    next.transition(TenantState::Provisioning, None).unwrap();
    let ev = NewTenantEvent::new(
        tenant.id,
        EventType::VmProvisioningStarted,
        next.state,
        None,
    );
    let v2 = repos
        .tenants
        .update_fenced(&next, Some(ev.clone()), Some(old.fence()))
        .await
        .unwrap();
    repos
        .events
        .append_fenced(ev.clone(), Some(old.fence()))
        .await
        .unwrap();
    // Fixed wait: part of the scenario, w1's lease expires (its database was unreachable) and w2
    // claims the job.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let new = repos
        .jobs
        .claim("w2", &kinds, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("reclaimed");
    let mut late = v2.clone();
    late.transition(TenantState::Failed, Some("late".into()))
        .unwrap();
    let err = repos
        .tenants
        .update_fenced(&late, Some(ev.clone()), Some(old.fence()))
        .await
        .unwrap_err();
    assert!(err.is_fenced(), "{err:?}");
    let err = repos
        .events
        .append_fenced(ev.clone(), Some(old.fence()))
        .await
        .unwrap_err();
    assert!(err.is_fenced(), "{err:?}");
    assert_eq!(repos.tenants.get(tenant.id).await.unwrap(), v2);
    assert_eq!(
        repos
            .events
            .list_after(tenant.id, 0, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    // The new run writes.
    repos
        .tenants
        .update_fenced(&late, Some(ev), Some(new.fence()))
        .await
        .unwrap();
}
