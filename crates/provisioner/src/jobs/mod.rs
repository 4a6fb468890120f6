//! Background jobs: provisioning saga, deploy rollout, durable cleanup, and the dispatch the workers use.

pub(crate) mod billing;
mod cleanup;
mod compensate;
mod deploy;
mod deploy_outcome;
mod give_up;
pub(crate) mod health_gate;
mod machine_spec;
mod provision;
mod provision_steps;

use mgmt_domain::{Fence, Job, JobKind, Tenant};
use tokio_util::sync::CancellationToken;

use crate::error::ServiceError;
use crate::service::TenantService;

pub use machine_spec::machine_request;
pub(crate) use provision::random_secret;
pub(crate) use provision_steps::dns_target;

/// How a job run ended, when it did not simply finish.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JobError {
    /// Try again after a backoff (transient failure, or a cleanup step still failing).
    #[error("{0}")]
    Retry(String),
    /// Give up (a bug or a corrupt record).
    #[error("{0}")]
    Fatal(String),
    /// Shutdown asked the worker to stop between steps: requeue at once for any worker.
    #[error("interrupted by shutdown")]
    Interrupted,
    /// An upstream (Fly, the registry, the database) is down or refusing: ride the outage out with
    /// backoff, without counting the attempt, while the job is within its outage budget.
    #[error("{0}")]
    Outage(String),
    /// The run's fence no longer holds (its lease was lost and the job claimed again): stop, settle
    /// nothing (the job is not this run's any more).
    #[error("job lease lost")]
    LeaseLost,
}

tokio::task_local! {
    /// The fence of the job run this task belongs to: every tenant write and event of the run is made
    /// under it (see `TenantService::update_tenant`), so a run cut off from its lease cannot write.
    static FENCE: Fence;
}

/// The fence of the job run the current task belongs to (`None` outside job runs: customer requests).
pub(crate) fn current_fence() -> Option<Fence> {
    FENCE.try_with(|f| *f).ok()
}

/// Runs `fut` as part of the job run fenced by `fence` (for tasks a run spawns, which do not inherit it).
pub(crate) async fn fenced<F: std::future::Future>(fence: Option<Fence>, fut: F) -> F::Output {
    match fence {
        Some(f) => FENCE.scope(f, fut).await,
        None => fut.await,
    }
}

impl From<ServiceError> for JobError {
    fn from(e: ServiceError) -> Self {
        if matches!(e, ServiceError::Fenced) {
            Self::LeaseLost
        } else if e.is_transient() {
            Self::Outage(e.to_string())
        } else {
            Self::Fatal(e.to_string())
        }
    }
}

/// What a running job may look at besides the service.
#[derive(Debug, Clone)]
pub(crate) struct JobContext {
    pub job: Job,
    pub shutdown: CancellationToken,
}

impl JobContext {
    /// Called between steps: a shutdown stops the job there (the step in flight is finished).
    pub fn checkpoint(&self) -> Result<(), JobError> {
        if self.shutdown.is_cancelled() {
            Err(JobError::Interrupted)
        } else {
            Ok(())
        }
    }
}

impl TenantService {
    /// Runs one claimed job to its end (or to a retry), every write fenced by the claim's token.
    pub(crate) async fn run_job(&self, ctx: &JobContext) -> Result<(), JobError> {
        FENCE
            .scope(ctx.job.fence(), self.run_job_unfenced(ctx))
            .await
    }

    async fn run_job_unfenced(&self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(tenant_id) = ctx.job.tenant_id else {
            return Err(JobError::Fatal("job has no tenant".into()));
        };
        let tenant: Tenant = match self.repos.tenants.get(tenant_id).await {
            Ok(t) => t,
            Err(e) if e.is_not_found() => {
                return Err(JobError::Fatal(format!("tenant {tenant_id} not found")));
            }
            Err(e) => return Err(ServiceError::from(e).into()),
        };
        match ctx.job.kind {
            JobKind::Provision => self.provision_job(ctx, tenant).await,
            JobKind::Deploy => self.deploy_job(ctx, tenant).await,
            JobKind::Cleanup => self.cleanup_job(ctx, tenant).await,
        }
    }
}
