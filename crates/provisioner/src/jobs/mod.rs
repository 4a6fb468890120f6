//! Background jobs: provisioning saga, deploy rollout, durable cleanup, and the dispatch the workers use.

mod cleanup;
mod compensate;
mod deploy;
mod deploy_outcome;
pub(crate) mod health_gate;
mod machine_spec;
mod provision;
mod provision_steps;

use mgmt_domain::{Job, JobKind, Tenant};
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
}

impl From<ServiceError> for JobError {
    fn from(e: ServiceError) -> Self {
        if e.is_transient() {
            Self::Retry(e.to_string())
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
    /// Runs one claimed job to its end (or to a retry).
    pub(crate) async fn run_job(&self, ctx: &JobContext) -> Result<(), JobError> {
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
