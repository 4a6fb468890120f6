//! What a job that will not run again leaves behind: never a tenant stuck in `provisioning` or
//! `deploying` with no job to move it on. A provision job that gives up (its last attempt failed, or a
//! fatal error) leaves the tenant `failed` with the reason (retry-provision reuses what exists, delete
//! removes it); a deploy job fails its deployment, so the tenant is `failed` with the machine still
//! running the last good image (deploy and restart are allowed from there).

use mgmt_domain::{EventType, Job, JobKind, TenantState};

use crate::error::ServiceError;
use crate::service::TenantService;

impl TenantService {
    /// Settles the tenant of `job`, which is about to be marked dead with `reason`. Idempotent, and a
    /// no-op when the tenant already moved on (another job, a delete).
    pub(crate) async fn give_up(&self, job: &Job, reason: &str) -> Result<(), ServiceError> {
        let Some(tenant_id) = job.tenant_id else {
            return Ok(());
        };
        let tenant = self.repos.tenants.get(tenant_id).await?;
        match (job.kind, tenant.state) {
            (JobKind::Provision, TenantState::Pending | TenantState::Provisioning) => {
                let msg = Some(format!(
                    "provisioning gave up after {} attempt(s): {reason} (retry-provision reuses what \
                     exists, delete removes it)",
                    job.attempts
                ));
                let r = self
                    .update_tenant(
                        tenant_id,
                        Some((EventType::ProvisioningFailed, msg.clone())),
                        |t| {
                            if t.state == TenantState::Pending {
                                t.transition(TenantState::Provisioning, None)?;
                            }
                            if t.state != TenantState::Provisioning {
                                return Err(ServiceError::Conflict("moved on".into()));
                            }
                            Ok(t.transition(TenantState::Failed, msg.clone())?)
                        },
                    )
                    .await;
                ignore_moved_on(r)
            }
            (JobKind::Deploy, TenantState::Deploying) => {
                let latest = self.repos.deployments.latest_for_tenant(tenant_id).await?;
                match latest {
                    Some(d) if !d.status.is_finished() => {
                        let why = format!("gave up after {} attempt(s): {reason}", job.attempts);
                        self.deployment_failed(&tenant, &d, why)
                            .await
                            .map_err(|e| ServiceError::Unavailable(e.to_string()))
                    }
                    Some(d) => self
                        .settle_without_work(&tenant, &d)
                        .await
                        .map_err(|e| ServiceError::Unavailable(e.to_string())),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

fn ignore_moved_on(r: Result<mgmt_domain::Tenant, ServiceError>) -> Result<(), ServiceError> {
    match r {
        Ok(_) | Err(ServiceError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
