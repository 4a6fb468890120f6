//! Customer-facing tenant use cases: create, retry provisioning, restart, delete.

use std::time::Duration;

use mgmt_domain::{
    Customer, CustomerId, CustomerStatus, DEFAULT_REGION, EventType, JobKind, NewJob, NewTenant,
    NewTenantEvent, OFFERED_REGIONS, RepoError, Tenant, TenantId, TenantState,
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
        // cannot both pass it.
        let tenant = self
            .repos
            .tenants
            .insert_within_limit(new, i64::from(plan.max_tenants))
            .await
            .map_err(|e| match e {
                RepoError::LimitReached { what } => {
                    ServiceError::QuotaExceeded(format!("plan `{}`: {what}", plan.id))
                }
                other => other.into(),
            })?;
        let ev = NewTenantEvent::new(
            tenant.id,
            EventType::TenantCreated,
            tenant.state,
            Some("tenant created".into()),
        );
        self.repos.events.append(ev).await?;
        self.enqueue(
            &tenant,
            JobKind::Provision,
            self.config.worker.provision_max_attempts,
        )
        .await?;
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
        let tenant = self
            .update_tenant(
                id,
                Some((EventType::VmProvisioningStarted, msg.clone())),
                |t| {
                    if t.machine_id.is_some() {
                        return Err(ServiceError::Conflict(
                            "the tenant has a machine; deploy instead".into(),
                        ));
                    }
                    Ok(t.transition(TenantState::Provisioning, msg.clone())?)
                },
            )
            .await?;
        self.enqueue(
            &tenant,
            JobKind::Provision,
            self.config.worker.provision_max_attempts,
        )
        .await?;
        Ok(tenant)
    }

    /// Restarts the tenant's machine (under its lease) and waits, bounded, until it runs again.
    #[tracing::instrument(skip(self))]
    pub async fn restart(
        &self,
        customer: CustomerId,
        id: TenantId,
    ) -> Result<Tenant, ServiceError> {
        let tenant = self.load_owned(customer, id).await?;
        let Some(machine) = tenant
            .machine_id
            .clone()
            .filter(|_| tenant.state == TenantState::Running)
        else {
            return Err(ServiceError::Conflict(format!(
                "only a running tenant can be restarted (this one is {})",
                tenant.state
            )));
        };
        let app = &tenant.fly_app_name;
        let ttl = self.config.machine.lease_ttl;
        let lease = self
            .fly
            .acquire_lease(app, &machine, ttl, "restart")
            .await
            .map_err(|e| match e {
                mgmt_fly_client::FlyError::Conflict(_) => {
                    ServiceError::Conflict("a deploy is in progress; retry shortly".into())
                }
                other => other.into(),
            })?;
        let result = async {
            self.fly
                .restart_machine(app, &machine, Some(&lease.nonce))
                .await?;
            let timeout = self
                .config
                .machine
                .restart_timeout
                .max(Duration::from_secs(1));
            self.fly
                .wait_machine(app, &machine, MachineState::Started, None, timeout)
                .await
        }
        .await;
        if let Err(e) = self.fly.release_lease(app, &machine, &lease.nonce).await {
            tracing::warn!(tenant_id = %id, error = %e, "could not release machine lease (it expires on its own)");
        }
        result?;
        let msg = Some("machine restarted".to_owned());
        self.update_tenant(id, Some((EventType::MachineRestarted, msg.clone())), |t| {
            Ok(t.transition(TenantState::Running, t.status_message.clone())?)
        })
        .await
    }

    /// Marks the tenant `deleting` and enqueues the durable cleanup (which never gives up).
    #[tracing::instrument(skip(self))]
    pub async fn delete_tenant(
        &self,
        customer: CustomerId,
        id: TenantId,
    ) -> Result<Tenant, ServiceError> {
        let tenant = self.load_owned(customer, id).await?;
        let tenant = if tenant.state == TenantState::Deleting {
            tenant
        } else {
            let msg = Some("deletion requested".to_owned());
            self.update_tenant(id, Some((EventType::CleanupStarted, msg.clone())), |t| {
                Ok(t.transition(TenantState::Deleting, msg.clone())?)
            })
            .await?
        };
        self.repos
            .jobs
            .enqueue(NewJob {
                kind: JobKind::Cleanup,
                tenant_id: Some(id),
                payload: serde_json::json!({}),
                max_attempts: None,
            })
            .await?;
        Ok(tenant)
    }

    pub(crate) async fn enqueue(
        &self,
        tenant: &Tenant,
        kind: JobKind,
        max_attempts: i32,
    ) -> Result<(), ServiceError> {
        let job = NewJob {
            kind,
            tenant_id: Some(tenant.id),
            payload: serde_json::json!({}),
            max_attempts: Some(max_attempts.max(1)),
        };
        self.repos.jobs.enqueue(job).await?;
        Ok(())
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
