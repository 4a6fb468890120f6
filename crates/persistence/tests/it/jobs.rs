//! The job queue: dedupe, exactly-once claims under concurrency, leases, retries, per-tenant order.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use mgmt_domain::{JobKind, JobState, NewJob, QueueStats, RepoError, TenantId};
use mgmt_persistence::testing::{TestDb, test_database};
use uuid::Uuid;

const ALL: [JobKind; 3] = [JobKind::Provision, JobKind::Deploy, JobKind::Cleanup];
const LEASE: Duration = Duration::from_secs(60);

fn job(kind: JobKind, tenant: Option<TenantId>) -> NewJob {
    NewJob {
        kind,
        tenant_id: tenant,
        payload: serde_json::json!({"n": 1}),
        max_attempts: Some(5),
    }
}

async fn tenant(t: &TestDb) -> TenantId {
    let c = t.customer().await.unwrap();
    t.tenant(c.id, "t").await.unwrap().id
}

#[tokio::test]
async fn enqueue_dedupes_a_queued_job_of_the_same_kind_and_tenant() {
    let t = test_database().await.unwrap();
    let q = t.repositories().jobs;
    let tid = tenant(&t).await;
    let first = q.enqueue(job(JobKind::Cleanup, Some(tid))).await.unwrap();
    assert_eq!(
        (first.state, first.attempts, first.lease_owner.as_deref()),
        (JobState::Queued, 0, None)
    );
    assert_eq!(first.payload, serde_json::json!({"n": 1}));
    let again = q.enqueue(job(JobKind::Cleanup, Some(tid))).await.unwrap();
    assert_eq!(again.id, first.id);
    let other_kind = q.enqueue(job(JobKind::Provision, Some(tid))).await.unwrap();
    assert_ne!(other_kind.id, first.id);
    let (n1, n2) = (
        q.enqueue(job(JobKind::Deploy, None)).await.unwrap(),
        q.enqueue(job(JobKind::Deploy, None)).await.unwrap(),
    );
    assert_ne!(n1.id, n2.id, "jobs without a tenant are not deduped");

    // Once the first one runs, a new one may be queued behind it.
    let claimed = q
        .claim("w1", &[JobKind::Cleanup], LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, first.id);
    let behind = q.enqueue(job(JobKind::Cleanup, Some(tid))).await.unwrap();
    assert_ne!(behind.id, first.id);
    assert_eq!(
        q.list_for_tenant(tid)
            .await
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect::<Vec<_>>(),
        [behind.id, other_kind.id, first.id]
    );
    assert_eq!(
        q.get(Uuid::new_v4()).await.unwrap_err(),
        RepoError::NotFound { entity: "job" }
    );
    let orphan = q
        .enqueue(job(JobKind::Cleanup, Some(TenantId::new_random())))
        .await
        .unwrap_err();
    assert_eq!(orphan, RepoError::NotFound { entity: "tenant" });
}

#[tokio::test]
async fn claim_takes_only_the_requested_kinds_and_due_jobs() {
    let t = test_database().await.unwrap();
    let q = t.repositories().jobs;
    let deploy = q.enqueue(job(JobKind::Deploy, None)).await.unwrap();
    assert_eq!(
        q.claim("w", &[JobKind::Cleanup], LEASE).await.unwrap(),
        None
    );
    assert_eq!(q.claim("w", &[], LEASE).await.unwrap(), None);
    let got = q.claim("w", &ALL, LEASE).await.unwrap().unwrap();
    assert_eq!(
        (got.id, got.state, got.attempts),
        (deploy.id, JobState::Running, 1)
    );
    assert_eq!(got.lease_owner.as_deref(), Some("w"));
    let expires = got.lease_expires_at.unwrap();
    assert!(
        expires > Utc::now() + chrono::Duration::seconds(50),
        "{expires}"
    );
    assert_eq!(
        q.claim("w2", &ALL, LEASE).await.unwrap(),
        None,
        "a running job with a live lease is not claimable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn n_workers_on_m_jobs_process_every_job_exactly_once() {
    let t = test_database().await.unwrap();
    let q = t.repositories().jobs;
    let mut expected = Vec::new();
    for i in 0..40 {
        // Half with their own tenant, half without one.
        let tid = if i % 2 == 0 {
            Some(tenant(&t).await)
        } else {
            None
        };
        expected.push(q.enqueue(job(ALL[i % 3], tid)).await.unwrap().id);
    }
    let processed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let (q, processed) = (q.clone(), processed.clone());
            tokio::spawn(async move {
                let name = format!("worker-{w}");
                while let Some(job) = q.claim(&name, &ALL, LEASE).await.unwrap() {
                    processed.lock().unwrap().push(job.id);
                    q.complete(job.id, &name).await.unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let mut processed = processed.lock().unwrap().clone();
    assert_eq!(
        processed.len(),
        expected.len(),
        "a job was processed twice or not at all"
    );
    processed.sort();
    expected.sort();
    assert_eq!(processed, expected);
    for id in expected {
        let j = q.get(id).await.unwrap();
        assert_eq!(
            (j.state, j.attempts, j.lease_owner),
            (JobState::Done, 1, None)
        );
    }
    assert_eq!(q.stats().await.unwrap(), QueueStats::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_of_one_tenant_never_run_at_the_same_time() {
    let t = test_database().await.unwrap();
    let q = t.repositories().jobs;
    let mut tenants = Vec::new();
    for _ in 0..10 {
        tenants.push(tenant(&t).await);
    }
    // Kind-major order, so one tenant's jobs sit far apart in the queue and land in different
    // claimers' candidate batches.
    let mut total = 0;
    for kind in ALL {
        for tid in &tenants {
            q.enqueue(job(kind, Some(*tid))).await.unwrap();
            total += 1;
        }
    }
    let running: Arc<HashMap<TenantId, AtomicUsize>> =
        Arc::new(tenants.iter().map(|t| (*t, AtomicUsize::new(0))).collect());
    let done = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(8));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (q, running, done, start) =
                (q.clone(), running.clone(), done.clone(), start.clone());
            tokio::spawn(async move {
                let name = format!("worker-{w}");
                let deadline = std::time::Instant::now() + Duration::from_secs(30);
                start.wait().await;
                while done.load(Ordering::SeqCst) < total {
                    assert!(std::time::Instant::now() < deadline, "queue stalled");
                    let Some(job) = q.claim(&name, &ALL, LEASE).await.unwrap() else {
                        // Fixed wait: a worker's idle pause on an empty queue, part of the scenario.
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        continue;
                    };
                    let counter = &running[&job.tenant_id.unwrap()];
                    assert_eq!(
                        counter.fetch_add(1, Ordering::SeqCst),
                        0,
                        "two jobs of one tenant ran at once"
                    );
                    // Fixed wait: the job "runs" a while, so overlapping runs would be caught.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    counter.fetch_sub(1, Ordering::SeqCst);
                    q.complete(job.id, &name).await.unwrap();
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), total);
}

#[tokio::test]
async fn a_job_whose_lease_expired_is_taken_again_and_the_old_worker_is_refused() {
    let t = test_database().await.unwrap();
    let q = t.repositories().jobs;
    let tid = tenant(&t).await;
    let queued = q.enqueue(job(JobKind::Provision, Some(tid))).await.unwrap();
    let first = q
        .claim("dead-worker", &ALL, Duration::from_millis(300))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.id, queued.id);
    assert_eq!(
        q.claim("w2", &ALL, LEASE).await.unwrap(),
        None,
        "lease still live"
    );
    // Fixed wait: part of the scenario, the dead worker's 300 ms lease expires.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let retaken = q
        .claim("w2", &ALL, LEASE)
        .await
        .unwrap()
        .expect("expired lease is claimable");
    // A reclaim does not count an attempt (the run was cut off, it did not fail), and it takes a new
    // fencing token: the cut-off run's fence no longer holds, the new one's does.
    assert_eq!(
        (retaken.id, retaken.attempts, retaken.lease_owner.as_deref()),
        (first.id, 1, Some("w2"))
    );
    assert!(retaken.fence > first.fence);
    assert!(q.check_fence(first.fence()).await.unwrap_err().is_fenced());
    q.check_fence(retaken.fence()).await.unwrap();

    let lost = RepoError::NotFound {
        entity: "job lease",
    };
    assert_eq!(q.complete(first.id, "dead-worker").await.unwrap_err(), lost);
    assert_eq!(
        q.heartbeat(first.id, "dead-worker", LEASE)
            .await
            .unwrap_err(),
        lost
    );
    assert_eq!(
        q.retry_later(first.id, "dead-worker", "x", Utc::now())
            .await
            .unwrap_err(),
        lost
    );
    assert_eq!(
        q.fail_permanently(first.id, "dead-worker", "x")
            .await
            .unwrap_err(),
        lost
    );
    q.heartbeat(first.id, "w2", LEASE).await.unwrap();
    q.complete(first.id, "w2").await.unwrap();
    assert_eq!(q.get(first.id).await.unwrap().state, JobState::Done);
    // A settled job fences every run of it.
    assert!(
        q.check_fence(retaken.fence())
            .await
            .unwrap_err()
            .is_fenced()
    );
}

#[tokio::test]
async fn heartbeat_keeps_a_long_job_from_being_retaken() {
    let t = test_database().await.unwrap();
    let q = t.repositories().jobs;
    q.enqueue(job(JobKind::Deploy, None)).await.unwrap();
    let j = q
        .claim("w1", &ALL, Duration::from_millis(300))
        .await
        .unwrap()
        .unwrap();
    for _ in 0..3 {
        // Fixed wait: part of the scenario, half the lease passes between heartbeats.
        tokio::time::sleep(Duration::from_millis(150)).await;
        q.heartbeat(j.id, "w1", Duration::from_millis(300))
            .await
            .unwrap();
    }
    assert_eq!(q.claim("w2", &ALL, LEASE).await.unwrap(), None);
    assert!(q.get(j.id).await.unwrap().lease_expires_at.unwrap() > j.lease_expires_at.unwrap());
}

#[tokio::test]
async fn retries_record_the_error_and_backoff_and_end_dead_after_max_attempts() {
    let t = test_database().await.unwrap();
    let q = t.repositories().jobs;
    let tid = tenant(&t).await;
    let queued = q
        .enqueue(NewJob {
            max_attempts: Some(2),
            ..job(JobKind::Deploy, Some(tid))
        })
        .await
        .unwrap();

    let j = q.claim("w", &ALL, LEASE).await.unwrap().unwrap();
    let later = Utc::now() + chrono::Duration::hours(1);
    let retried = q
        .retry_later(j.id, "w", "fly answered 503", later)
        .await
        .unwrap();
    assert_eq!((retried.state, retried.attempts), (JobState::Queued, 1));
    assert_eq!(retried.last_error.as_deref(), Some("fly answered 503"));
    assert_eq!(retried.lease_owner, None);
    assert!((retried.run_after - later).num_milliseconds().abs() < 5);
    assert_eq!(
        q.claim("w", &ALL, LEASE).await.unwrap(),
        None,
        "not due before run_after"
    );
    assert_eq!(
        q.stats().await.unwrap(),
        QueueStats {
            queued: 1,
            running: 0,
            dead: 0,
            retrying: 1
        }
    );

    let again = q.retry_later(queued.id, "w", "x", Utc::now()).await;
    assert_eq!(
        again.unwrap_err(),
        RepoError::NotFound {
            entity: "job lease"
        },
        "a queued job is held by no one"
    );
}

#[tokio::test]
async fn a_job_runs_again_after_its_backoff_and_dies_at_max_attempts() {
    let t = test_database().await.unwrap();
    let q = t.repositories().jobs;
    let tid = tenant(&t).await;
    let queued = q
        .enqueue(NewJob {
            max_attempts: Some(2),
            ..job(JobKind::Deploy, Some(tid))
        })
        .await
        .unwrap();
    let j = q.claim("w", &ALL, LEASE).await.unwrap().unwrap();
    q.retry_later(
        j.id,
        "w",
        "first failure",
        Utc::now() + chrono::Duration::milliseconds(300),
    )
    .await
    .unwrap();
    assert_eq!(q.claim("w", &ALL, LEASE).await.unwrap(), None);
    // Fixed wait: part of the scenario, the 300 ms backoff passes.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let j = q
        .claim("w", &ALL, LEASE)
        .await
        .unwrap()
        .expect("due after its backoff");
    assert_eq!((j.id, j.attempts), (queued.id, 2));
    assert_eq!(
        j.last_error.as_deref(),
        Some("first failure"),
        "kept while it runs again"
    );
    let dead = q
        .retry_later(j.id, "w", "second failure", Utc::now())
        .await
        .unwrap();
    assert_eq!(
        (dead.state, dead.attempts, dead.last_error.as_deref()),
        (JobState::Dead, 2, Some("second failure"))
    );
    assert_eq!(
        q.claim("w", &ALL, LEASE).await.unwrap(),
        None,
        "dead jobs never run again"
    );
    assert_eq!(
        q.stats().await.unwrap(),
        QueueStats {
            queued: 0,
            running: 0,
            dead: 1,
            retrying: 0
        }
    );
}

#[tokio::test]
async fn a_job_without_max_attempts_is_retried_forever() {
    let t = test_database().await.unwrap();
    let q = t.repositories().jobs;
    q.enqueue(NewJob {
        max_attempts: None,
        ..job(JobKind::Cleanup, None)
    })
    .await
    .unwrap();
    for attempt in 1..=7 {
        let j = q.claim("w", &ALL, LEASE).await.unwrap().unwrap();
        assert_eq!(j.attempts, attempt);
        let r = q
            .retry_later(j.id, "w", "still failing", Utc::now())
            .await
            .unwrap();
        assert_eq!(r.state, JobState::Queued);
    }
}

#[tokio::test]
async fn a_lost_worker_on_the_last_attempt_does_not_burn_it() {
    let t = test_database().await.unwrap();
    let q = t.repositories().jobs;
    let queued = q
        .enqueue(NewJob {
            max_attempts: Some(1),
            ..job(JobKind::Provision, None)
        })
        .await
        .unwrap();
    q.claim("w", &ALL, Duration::from_millis(100))
        .await
        .unwrap()
        .unwrap();
    // Fixed wait: part of the scenario, the lost worker's 100 ms lease expires.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The crash is not the job's failure: it runs again, on the same (last) attempt.
    let again = q
        .claim("w2", &ALL, LEASE)
        .await
        .unwrap()
        .expect("reclaimed");
    assert_eq!(
        (again.id, again.state, again.attempts),
        (queued.id, JobState::Running, 1)
    );
}

#[tokio::test]
async fn an_unburned_requeue_gives_the_attempt_back_and_never_kills_the_job() {
    let t = test_database().await.unwrap();
    let q = t.repositories().jobs;
    let tid = tenant(&t).await;
    let queued = q
        .enqueue(NewJob {
            max_attempts: Some(1),
            ..job(JobKind::Provision, Some(tid))
        })
        .await
        .unwrap();
    for _ in 0..3 {
        let c = q.claim("w", &ALL, LEASE).await.unwrap().expect("claimable");
        assert_eq!(c.attempts, 1);
        let r = q
            .requeue_unburned(c.id, "w", "interrupted by shutdown", Utc::now())
            .await
            .unwrap();
        assert_eq!((r.state, r.attempts), (JobState::Queued, 0));
    }
    // A newer queued job of the same kind carries the work on: this one closes as done.
    let c = q.claim("w", &ALL, LEASE).await.unwrap().unwrap();
    let next = q.enqueue(job(JobKind::Provision, Some(tid))).await.unwrap();
    assert_ne!(next.id, queued.id);
    let r = q
        .requeue_unburned(c.id, "w", "Fly unavailable", Utc::now())
        .await
        .unwrap();
    assert_eq!(r.state, JobState::Done);
    assert!(r.last_error.unwrap().contains("superseded"));
    // Not held any more: refused.
    assert!(
        q.requeue_unburned(c.id, "w", "x", Utc::now())
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn fail_permanently_and_a_retry_superseded_by_a_newer_job() {
    let t = test_database().await.unwrap();
    let q = t.repositories().jobs;
    let tid = tenant(&t).await;
    q.enqueue(job(JobKind::Provision, Some(tid))).await.unwrap();
    let j = q.claim("w", &ALL, LEASE).await.unwrap().unwrap();
    q.fail_permanently(j.id, "w", "invalid region")
        .await
        .unwrap();
    let dead = q.get(j.id).await.unwrap();
    assert_eq!(
        (dead.state, dead.last_error.as_deref(), dead.lease_owner),
        (JobState::Dead, Some("invalid region"), None)
    );

    // A deploy fails while a newer deploy of the same tenant is already queued: the newer one carries on.
    q.enqueue(job(JobKind::Deploy, Some(tid))).await.unwrap();
    let running = q.claim("w", &ALL, LEASE).await.unwrap().unwrap();
    let newer = q.enqueue(job(JobKind::Deploy, Some(tid))).await.unwrap();
    assert_ne!(newer.id, running.id);
    let closed = q
        .retry_later(running.id, "w", "boom", Utc::now())
        .await
        .unwrap();
    assert_eq!(closed.state, JobState::Done);
    assert!(closed.last_error.unwrap().contains(&newer.id.to_string()));
    assert_eq!(
        q.claim("w", &ALL, LEASE).await.unwrap().unwrap().id,
        newer.id
    );
}
