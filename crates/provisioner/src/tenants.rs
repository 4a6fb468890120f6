//! Customer-facing tenant use cases: create, retry provisioning, restart, delete.

use std::time::Duration;

use mgmt_domain::{
    Customer, CustomerId, CustomerStatus, DEFAULT_REGION, EventType, JobKind, NewTenant,
    NewTenantEvent, OFFERED_REGIONS, RepoError, Tenant, TenantId, TenantState, TenantWrite,
};
use mgmt_fly_client::MachineState;

use crate::error::ServiceError;
use crate::service::TenantService;

/// Plan a create request gets when it names none.
pub const DEFAULT_PLAN: &str = "free";
/// Longest tenant name accepted.
pub const MAX_NAME_CHARS: usize = 100;

/// What a customer asks for when creating a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
pub struct CreateTenant {
    pub name: String,
    #[serde(default)]
    pub plan_id: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

fn validate_name(name: &str) -> Result<String, ServiceError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ServiceError::InvalidInput(format!(
            "tenant name must be 1 to {MAX_NAME_CHARS} printable characters"
        )));
    }
    Ok(name.to_owned())
}

fn validate_region(region: Option<&str>) -> Result<String, ServiceError> {
    let region = region.unwrap_or(DEFAULT_REGION);
    if OFFERED_REGIONS.contains(&region) {
        Ok(region.to_owned())
    } else {
        Err(ServiceError::InvalidInput(format!(
            "unknown region `{}`; offered regions: {}",
            region.chars().take(32).collect::<String>(),
            OFFERED_REGIONS.join(", ")
        )))
    }
}

impl TenantService {
    /// Validates, enforces the plan's `max_tenants`, inserts the tenant, records `tenant_created` and
    /// enqueues provisioning. Returns at once (the tenant is `pending`).
    #[tracing::instrument(skip(self, customer, req), fields(customer_id = %customer.id))]
    pub async fn create_tenant(
        &self,
        customer: &Customer,
        req: CreateTenant,
    ) -> Result<Tenant, ServiceError> {
        if customer.status != CustomerStatus::Active {
            return Err(ServiceError::Conflict(
                "the customer account is suspended".into(),
            ));
        }
        let name = validate_name(&req.name)?;
        let region = validate_region(req.region.as_deref())?;
        let plan_id = req.plan_id.as_deref().unwrap_or(DEFAULT_PLAN);
        let plan = self.repos.plans.get(plan_id).await.map_err(|e| {
            if e.is_not_found() {
                ServiceError::InvalidInput(format!(
                    "unknown plan `{}`",
                    plan_id.chars().take(32).collect::<String>()
                ))
            } else {
                e.into()
            }
        })?;
        let new = NewTenant::new(
            TenantId::new_random(),
            customer.id,
            name,
            plan.id.clone(),
            region,
            &self.config.subdomain_suffix,
        );
        // The limit is checked by the insert itself, atomically per customer: two creates at once
        // cannot both pass it. The tenant, its `tenant_created` event and its provisioning job are
        // one transaction (the outbox): no tenant can exist without the job that provisions it.
        let ev = NewTenantEvent::new(
            new.id,
            EventType::TenantCreated,
            TenantState::Pending,
            Some("tenant created".into()),
        );
        let job = Self::new_job(
            new.id,
            JobKind::Provision,
            Some(self.config.worker.provision_max_attempts),
        );
        let max_live = i64::from(plan.max_tenants);
        let tenant = self
            .repos
            .tenants
            .write_with_job(TenantWrite::Insert { new, max_live }, ev, job)
            .await
            .map_err(|e| match e {
                RepoError::LimitReached { what } => {
                    ServiceError::QuotaExceeded(format!("plan `{}`: {what}", plan.id))
                }
                other => other.into(),
            })?;
        tracing::info!(tenant_id = %tenant.id, app = %tenant.fly_app_name, "tenant created; provisioning enqueued");
        Ok(tenant)
    }

    /// Runs provisioning again from the start for a `failed` tenant (reusing what exists and is ours).
    #[tracing::instrument(skip(self))]
    pub async fn retry_provision(
        &self,
        customer: CustomerId,
        id: TenantId,
    ) -> Result<Tenant, ServiceError> {
        let tenant = self.load_owned(customer, id).await?;
        if tenant.state != TenantState::Failed || tenant.machine_id.is_some() {
            return Err(ServiceError::Conflict(format!(
                "only a tenant whose provisioning failed can be retried (this one is {})",
                tenant.state
            )));
        }
        let msg = Some("provisioning retried".to_owned());
        let job = Self::new_job(
            id,
            JobKind::Provision,
            Some(self.config.worker.provision_max_attempts),
        );
        self.update_tenant_with_job(
            id,
            (EventType::VmProvisioningStarted, msg.clone()),
            job,
            |t| {
                if t.machine_id.is_some() {
                    return Err(ServiceError::Conflict(
                        "the tenant has a machine; deploy instead".into(),
                    ));
                }
                Ok(t.transition(TenantState::Provisioning, msg.clone())?)
            },
        )
        .await
    }

    /// Restarts the tenant's machine under its lease, as Fly does (stop, then start), and returns
    /// only once it runs again: it waits for the machine to be `stopped` and then `started`, so a
    /// `started` read before the stop took effect cannot end the wait. A `running` tenant, one whose
    /// rollout is still queued, and one that is `failed` only because its last deploy failed (the
    /// machine still runs the previous image) can be restarted; the lifecycle state is kept.
    #[tracing::instrument(skip(self))]
    pub async fn restart(
        &self,
        customer: CustomerId,
        id: TenantId,
    ) -> Result<Tenant, ServiceError> {
        let tenant = self.load_owned(customer, id).await?;
        let restartable = matches!(
            tenant.state,
            TenantState::Running | TenantState::Deploying | TenantState::Failed
        );
        let Some(machine) = tenant.machine_id.clone().filter(|_| restartable) else {
            return Err(ServiceError::Conflict(format!(
                "only a tenant whose machine has been deployed can be restarted (this one is {}{})",
                tenant.state,
                if tenant.machine_id.is_none() {
                    ", with no machine yet"
                } else {
                    ""
                }
            )));
        };
        let app = &tenant.fly_app_name;
        let lease = self.restart_lease(app, &machine).await?;
        let result = self.stop_and_start(app, &machine, &lease.nonce).await;
        if let Err(e) = self.fly.release_lease(app, &machine, &lease.nonce).await {
            tracing::warn!(tenant_id = %id, error = %e, "could not release machine lease (it expires on its own)");
        }
        result?;
        let msg = Some("machine restarted".to_owned());
        if tenant.state == TenantState::Running {
            return self
                .update_tenant(id, Some((EventType::MachineRestarted, msg.clone())), |t| {
                    Ok(t.transition(TenantState::Running, t.status_message.clone())?)
                })
                .await;
        }
        // `failed` (its last deploy) or `deploying` (a queued rollout) stays what it is: the restart
        // changes neither.
        self.event(&tenant, EventType::MachineRestarted, "machine restarted")
            .await;
        Ok(self.repos.tenants.get(id).await?)
    }

    /// The machine's lease for a restart. A rollout holding it (a deploy, or the one a secrets change
    /// queued just before `cloud restart`) is waited for, up to half the restart budget: the CLI gives
    /// the whole call 30 s, and a user who sets secrets and restarts at once should not get a conflict.
    async fn restart_lease(
        &self,
        app: &str,
        machine: &str,
    ) -> Result<mgmt_fly_client::Lease, ServiceError> {
        let ttl = self.config.machine.lease_ttl;
        let patience = self.config.machine.restart_timeout / 2;
        let deadline = tokio::time::Instant::now() + patience;
        let mut pause = Duration::from_millis(100);
        loop {
            match self.fly.acquire_lease(app, machine, ttl, "restart").await {
                Ok(lease) => return Ok(lease),
                Err(mgmt_fly_client::FlyError::Conflict(_))
                    if tokio::time::Instant::now() + pause < deadline =>
                {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(mgmt_fly_client::FlyError::Conflict(_)) => {
                    return Err(ServiceError::Conflict(
                        "a deploy is still rolling out; retry the restart shortly".into(),
                    ));
                }
                Err(other) => return Err(other.into()),
            }
        }
    }

    /// Stop (unless already down), wait for `stopped`, start, wait for `started`; all within
    /// `restart_timeout`. The machine keeps its config and version, so only the states prove the cycle.
    async fn stop_and_start(
        &self,
        app: &str,
        machine: &str,
        nonce: &str,
    ) -> Result<(), ServiceError> {
        let timeout = self
            .config
            .machine
            .restart_timeout
            .max(Duration::from_secs(1));
        let deadline = tokio::time::Instant::now() + timeout;
        let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
        let current = self.fly.get_machine(app, machine).await?;
        let version = current.instance_id.as_deref();
        let running = matches!(current.state.as_str(), "started" | "starting" | "replacing");
        if running {
            self.fly.stop_machine(app, machine, Some(nonce)).await?;
            self.fly
                .wait_machine(app, machine, MachineState::Stopped, version, left())
                .await?;
        }
        self.fly.start_machine(app, machine, Some(nonce)).await?;
        self.fly
            .wait_machine(app, machine, MachineState::Started, version, left())
            .await?;
        // Started is not up: the restart answers once the checks pass, as a deploy does.
        crate::jobs::health_gate::wait_healthy(
            self.fly.as_ref(),
            app,
            machine,
            version,
            left(),
            self.config.machine.health_poll,
        )
        .await
        .map_err(|e| ServiceError::Unavailable(format!("the machine restarted but {}", e.0)))?;
        Ok(())
    }

    /// Marks the tenant `deleting` and enqueues the durable cleanup (which never gives up).
    #[tracing::instrument(skip(self))]
    pub async fn delete_tenant(
        &self,
        customer: CustomerId,
        id: TenantId,
    ) -> Result<Tenant, ServiceError> {
        let tenant = self.load_owned(customer, id).await?;
        let job = Self::new_job(id, JobKind::Cleanup, None);
        if tenant.state == TenantState::Deleting {
            // Deleting already carries its cleanup job (written with the state); a repeat makes sure
            // one is queued (deduplicated) in case an operator cancelled it.
            self.repos.jobs.enqueue(job).await?;
            return Ok(tenant);
        }
        // The state, its event and the cleanup job are one transaction (the outbox).
        let msg = Some("deletion requested".to_owned());
        self.update_tenant_with_job(id, (EventType::CleanupStarted, msg.clone()), job, |t| {
            Ok(t.transition(TenantState::Deleting, msg.clone())?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_regions_are_validated() {
        assert_eq!(validate_name("  shop ").unwrap(), "shop");
        assert!(validate_name("").is_err());
        assert!(validate_name("a\u{7}b").is_err());
        assert!(validate_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert_eq!(validate_region(None).unwrap(), "iad");
        assert_eq!(validate_region(Some("fra")).unwrap(), "fra");
        let err = validate_region(Some("mars")).unwrap_err().to_string();
        assert!(err.contains("mars") && err.contains("lhr"), "{err}");
    }
}
