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
    // Ends only when the lease is gone (another worker may now hold the job): the run is then
    // abandoned exactly as if this worker had crashed, which every job is built to survive.
    let heartbeat = async {
        loop {
            tokio::time::sleep(settings.lease / 3).await;
            match service
                .repos
                .jobs
                .heartbeat(job.id, worker, settings.lease)
                .await
            {
                Ok(()) => {}
                Err(e) if e.is_not_found() => return,
                Err(e) => {
                    tracing::warn!(job_id = %job.id, error = %e, "job heartbeat failed (will retry)")
                }
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
    let (outcome, settle) = match result {
        Ok(()) => (
            JobOutcome::Succeeded,
            service.repos.jobs.complete(job.id, worker).await,
        ),
        Err(JobError::Interrupted) => {
            tracing::info!(job_id = %job.id, "job interrupted by shutdown; requeued");
            let settled = service
                .repos
                .jobs
                .retry_later(job.id, worker, "interrupted by shutdown", Utc::now())
                .await;
            (
                retried_or_dead(&settled, JobOutcome::Interrupted),
                settled.map(|_| ()),
            )
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

/// A requeue that ran out of attempts leaves the job dead; otherwise the attempt counts as `requeued`.
fn retried_or_dead(settled: &RepoResult<Job>, requeued: JobOutcome) -> JobOutcome {
    match settled {
        Ok(job) if job.state == JobState::Dead => JobOutcome::Dead,
        _ => requeued,
    }
}
