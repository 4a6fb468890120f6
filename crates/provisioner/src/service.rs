//! [`TenantService`]: the use cases' shared state, and the helpers every use case builds on
//! (ownership-checked loads, optimistic tenant updates, events).

use std::sync::Arc;

use mgmt_domain::{
    CustomerId, DnsRecords, EventType, JobKind, NewJob, NewTenantEvent, RepoError, Repositories,
    Tenant, TenantDatabaseAdmin, TenantId, TenantState, TenantWrite,
};
use mgmt_fly_client::{FlyMachines, Registry};

use crate::config::ProvisionerConfig;
use crate::error::ServiceError;
use crate::observer::{JobObserver, NoopJobObserver};

/// How often an optimistic tenant update is retried when another writer got there first.
const UPDATE_ATTEMPTS: usize = 8;

/// The tenant lifecycle use cases. Customer-facing methods answer fast; slow work runs as durable jobs
/// picked up by [`crate::Workers`].
pub struct TenantService {
    pub(crate) repos: Repositories,
    pub(crate) fly: Arc<dyn FlyMachines>,
    pub(crate) registry: Arc<dyn Registry>,
    pub(crate) db_admin: Arc<dyn TenantDatabaseAdmin>,
    pub(crate) config: ProvisionerConfig,
    pub(crate) job_observer: Arc<dyn JobObserver>,
    /// Public DNS for tenant hostnames; `None` when the operator runs a wildcard record or front proxy.
    pub(crate) dns: Option<Arc<dyn DnsRecords>>,
}

impl std::fmt::Debug for TenantService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config's secrets print redacted; the ports hold tokens of their own and are not printed.
        f.debug_struct("TenantService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TenantService {
    pub fn new(
        repos: Repositories,
        fly: Arc<dyn FlyMachines>,
        registry: Arc<dyn Registry>,
        db_admin: Arc<dyn TenantDatabaseAdmin>,
        config: ProvisionerConfig,
    ) -> Self {
        Self {
            repos,
            fly,
            registry,
            db_admin,
            config,
            job_observer: Arc::new(NoopJobObserver),
            dns: None,
        }
    }

    /// Reports every settled job attempt to `observer` (metrics); the default ignores them.
    pub fn with_job_observer(mut self, observer: Arc<dyn JobObserver>) -> Self {
        self.job_observer = observer;
        self
    }

    /// Creates each tenant's public CNAME in provisioning and removes it in cleanup (`None`: nothing
    /// to do, the default: a wildcard record or front proxy routes every tenant's hostname).
    pub fn with_dns(mut self, dns: Option<Arc<dyn DnsRecords>>) -> Self {
        self.dns = dns;
        self
    }

    pub fn config(&self) -> &ProvisionerConfig {
        &self.config
    }

    /// The caller's live tenant; someone else's, a missing or a deleted one is `NotFound`.
    pub(crate) async fn load_owned(
        &self,
        customer: CustomerId,
        id: TenantId,
    ) -> Result<Tenant, ServiceError> {
        let tenant = self.repos.tenants.get_for_customer(id, customer).await?;
        if tenant.state == TenantState::Deleted {
            return Err(ServiceError::NotFound);
        }
        Ok(tenant)
    }

    /// Reloads the tenant, applies `change` and writes it (with `event`, stamped with the new state),
    /// retrying when a concurrent writer bumped the row version. `change` may refuse with an error.
    pub(crate) async fn update_tenant<F>(
        &self,
        id: TenantId,
        event: Option<(EventType, Option<String>)>,
        change: F,
    ) -> Result<Tenant, ServiceError>
    where
        F: Fn(&mut Tenant) -> Result<(), ServiceError>,
    {
        let mut last = None;
        for _ in 0..UPDATE_ATTEMPTS {
            let mut tenant = self.repos.tenants.get(id).await?;
            change(&mut tenant)?;
            let ev = event.as_ref().map(|(kind, message)| {
                NewTenantEvent::new(id, *kind, tenant.state, message.clone())
            });
            // Inside a job run the write is fenced: a run that lost its lease cannot change the tenant.
            let result = self
                .repos
                .tenants
                .update_fenced(&tenant, ev, crate::jobs::current_fence())
                .await;
            match result {
                Ok(t) => return Ok(t),
                Err(e @ RepoError::StaleVersion { .. }) => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last
            .map(Into::into)
            .unwrap_or_else(|| ServiceError::Internal("tenant update retries exhausted".into())))
    }

    /// As [`Self::update_tenant`], with the job that carries the change on written in the same
    /// transaction (the transactional outbox: a crash cannot leave the new state with no job).
    pub(crate) async fn update_tenant_with_job<F>(
        &self,
        id: TenantId,
        event: (EventType, Option<String>),
        job: NewJob,
        change: F,
    ) -> Result<Tenant, ServiceError>
    where
        F: Fn(&mut Tenant) -> Result<(), ServiceError>,
    {
        let mut last = None;
        for _ in 0..UPDATE_ATTEMPTS {
            let mut tenant = self.repos.tenants.get(id).await?;
            change(&mut tenant)?;
            let ev = NewTenantEvent::new(id, event.0, tenant.state, event.1.clone());
            match self
                .repos
                .tenants
                .write_with_job(TenantWrite::Update(tenant), ev, job.clone())
                .await
            {
                Ok(t) => return Ok(t),
                Err(e @ RepoError::StaleVersion { .. }) => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last
            .map(Into::into)
            .unwrap_or_else(|| ServiceError::Internal("tenant update retries exhausted".into())))
    }

    /// A job of `kind` for the tenant, with `max_attempts` (`None`: until done).
    pub(crate) fn new_job(id: TenantId, kind: JobKind, max_attempts: Option<i32>) -> NewJob {
        NewJob {
            kind,
            tenant_id: Some(id),
            payload: serde_json::json!({}),
            max_attempts: max_attempts.map(|m| m.max(1)),
        }
    }

    /// Appends an event carrying the tenant's current state. Progress events are best effort: a failure
    /// to record one is logged and never fails the step it describes.
    pub(crate) async fn event(&self, tenant: &Tenant, kind: EventType, message: impl Into<String>) {
        let ev = NewTenantEvent::new(tenant.id, kind, tenant.state, Some(message.into()));
        let fence = crate::jobs::current_fence();
        if let Err(e) = self.repos.events.append_fenced(ev, fence).await {
            tracing::warn!(tenant_id = %tenant.id, event = kind.as_str(), error = %e, "could not record event");
        }
    }
}
