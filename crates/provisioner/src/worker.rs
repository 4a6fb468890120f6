//! Background workers: claim jobs from the durable queue (`FOR UPDATE SKIP LOCKED`), keep their lease
//! alive with a heartbeat, and settle each job (done, retry with backoff, dead). Several processes may
//! run workers at once; the queue guarantees a job runs in one place and one tenant's jobs in order.
//!
//! Shutdown is graceful: a worker stops claiming, and a running job stops between steps and is
//! requeued at once for any other worker.

use std::sync::Arc;

use chrono::Utc;
use mgmt_domain::{Job, JobKind, JobState, RepoResult};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::jobs::{JobContext, JobError};
use crate::observer::JobOutcome;
use crate::service::TenantService;

const ALL_KINDS: [JobKind; 3] = [JobKind::Provision, JobKind::Deploy, JobKind::Cleanup];

/// The worker pool.
#[derive(Debug)]
pub struct Workers;

impl Workers {
    /// Spawns `service.config().worker.workers` workers; the handle resolves once all have stopped
    /// after `shutdown` is cancelled.
    pub fn spawn(service: Arc<TenantService>, shutdown: CancellationToken) -> JoinHandle<()> {
        let count = service.config.worker.workers.max(1);
        let instance = uuid::Uuid::new_v4().simple().to_string();
        let handles: Vec<JoinHandle<()>> = (0..count)
            .map(|n| {
                let id = format!(
                    "{}-{}-{n}",
                    service.config.worker.worker_id_prefix,
                    &instance[..8]
                );
                tokio::spawn(worker_loop(service.clone(), id, shutdown.clone()))
            })
            .collect();
        tokio::spawn(async move {
            for h in futures::future::join_all(handles).await {
                if let Err(e) = h {
                    tracing::error!(error = %e, "worker task ended abnormally");
                }
            }
        })
    }
}

async fn worker_loop(service: Arc<TenantService>, worker: String, shutdown: CancellationToken) {
    let settings = service.config.worker.clone();
    tracing::info!(%worker, "worker started");
    while !shutdown.is_cancelled() {
        match service
            .repos
            .jobs
            .claim(&worker, &ALL_KINDS, settings.lease)
            .await
        {
            Ok(Some(job)) => {
                let ctx = JobContext {
                    job,
                    shutdown: shutdown.clone(),
                };
                run_one(&service, &worker, ctx).await;
                continue; // look for more work at once
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(%worker, error = %e, "could not claim a job"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(settings.poll_interval) => {}
        }
    }
    tracing::info!(%worker, "worker stopped");
}

async fn run_one(service: &TenantService, worker: &str, ctx: JobContext) {
    let job = &ctx.job;
    let span = tracing::info_span!("job", job_id = %job.id, kind = job.kind.as_str(), tenant_id = ?job.tenant_id, attempt = job.attempts);
    run_and_settle(service, worker, &ctx).instrument(span).await;
}

async fn run_and_settle(service: &TenantService, worker: &str, ctx: &JobContext) {
    let settings = &service.config.worker;
    let job = &ctx.job;
    // Ends at the first failed heartbeat: the lease may already be gone (database unreachable, pool
    // exhausted) and another worker may hold the job. The run is then abandoned exactly as if this
    // worker had crashed, which every job is built to survive; the fence stops any write it still
    // had in flight.
    let heartbeat = async {
        loop {
            tokio::time::sleep(settings.lease / 3).await;
            if let Err(e) = service
                .repos
                .jobs
                .heartbeat(job.id, worker, settings.lease)
                .await
            {
                tracing::warn!(job_id = %job.id, error = %e, "job heartbeat failed");
                return;
            }
        }
    };
    let started = std::time::Instant::now();
    let result = tokio::select! {
        biased;
        r = service.run_job(ctx) => r,
        () = heartbeat => {
            tracing::warn!(job_id = %job.id, "job lease lost; abandoning this run");
            return;
        }
    };
    // A cleanup never goes dead: whatever stopped it (a database error included) is retried.
    let result = match result {
        Err(JobError::Fatal(e)) if job.kind == JobKind::Cleanup => Err(JobError::Retry(e)),
        // An outage past the job's budget is an ordinary failure (it counts, and may end the job).
        Err(JobError::Outage(e)) if !within_outage_budget(job, settings.outage_budget) => {
            Err(JobError::Retry(e))
        }
        other => other,
    };
    // A job about to go dead first leaves its tenant in a state the customer can act on.
    let last = job.max_attempts.is_some_and(|max| job.attempts >= max);
    match &result {
        Err(JobError::Fatal(e)) => give_up(service, job, e).await,
        Err(JobError::Retry(e)) if last => give_up(service, job, e).await,
        _ => {}
    }
    let (outcome, settle) = match result {
        Err(JobError::LeaseLost) => {
            tracing::warn!(job_id = %job.id, "job lease lost (fenced write refused); abandoning this run");
            return;
        }
        Err(JobError::Outage(e)) => {
            let delay = settings.backoff(job.attempts);
            tracing::warn!(job_id = %job.id, error = %e, delay_ms = delay.as_millis() as u64, "upstream outage; job requeued without counting the attempt");
            let at = Utc::now()
                + chrono::Duration::from_std(delay)
                    .unwrap_or_else(|_| chrono::Duration::seconds(60));
            let settled = service
                .repos
                .jobs
                .requeue_unburned(job.id, worker, &e, at)
                .await;
            (JobOutcome::Retried, settled.map(|_| ()))
        }
        Ok(()) => (
            JobOutcome::Succeeded,
            service.repos.jobs.complete(job.id, worker).await,
        ),
        Err(JobError::Interrupted) => {
            tracing::info!(job_id = %job.id, "job interrupted by shutdown; requeued");
            // Not a failure: the attempt is given back.
            let settled = service
                .repos
                .jobs
                .requeue_unburned(job.id, worker, "interrupted by shutdown", Utc::now())
                .await;
            (JobOutcome::Interrupted, settled.map(|_| ()))
        }
        Err(JobError::Retry(e)) => {
            let delay = settings.backoff(job.attempts);
            tracing::warn!(job_id = %job.id, error = %e, delay_ms = delay.as_millis() as u64, "job will be retried");
            let at = Utc::now()
                + chrono::Duration::from_std(delay)
                    .unwrap_or_else(|_| chrono::Duration::seconds(60));
            let settled = service.repos.jobs.retry_later(job.id, worker, &e, at).await;
            (
                retried_or_dead(&settled, JobOutcome::Retried),
                settled.map(|_| ()),
            )
        }
        Err(JobError::Fatal(e)) => {
            tracing::error!(job_id = %job.id, error = %e, "job failed permanently");
            (
                JobOutcome::Failed,
                service
                    .repos
                    .jobs
                    .fail_permanently(job.id, worker, &e)
                    .await,
            )
        }
    };
    service
        .job_observer
        .on_job_outcome(job.kind, outcome, started.elapsed());
    if let Err(e) = settle {
        // The lease runs out and another worker reruns the job; every job is safe to rerun.
        tracing::warn!(job_id = %job.id, error = %e, "could not settle job");
    }
}

/// Whether an outage met by `job` is still ridden out (requeued without counting the attempt).
fn within_outage_budget(job: &Job, budget: std::time::Duration) -> bool {
    let since = (Utc::now() - job.created_at).to_std().unwrap_or_default();
    since < budget
}

/// Settles the tenant of a job that will not run again; a failure is logged (the reconciler finds a
/// tenant left in a transitional state with no job and enqueues it again).
async fn give_up(service: &TenantService, job: &Job, reason: &str) {
    let settle = crate::jobs::fenced(Some(job.fence()), service.give_up(job, reason));
    if let Err(e) = settle.await {
        tracing::error!(job_id = %job.id, error = %e, "could not settle the tenant of a job that gives up");
    }
}

/// A requeue that ran out of attempts leaves the job dead; otherwise the attempt counts as `requeued`.
fn retried_or_dead(settled: &RepoResult<Job>, requeued: JobOutcome) -> JobOutcome {
    match settled {
        Ok(job) if job.state == JobState::Dead => JobOutcome::Dead,
        _ => requeued,
    }
}
