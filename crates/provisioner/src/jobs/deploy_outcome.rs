//! How a deploy run ends: the deployment and the tenant marked succeeded (running) or failed, and the
//! settling of a queued run whose deployment an earlier run already finished.

use mgmt_domain::{Deployment, DeploymentStatus, EventType, Tenant, TenantState};

use super::JobError;
use crate::error::ServiceError;
use crate::service::TenantService;

impl TenantService {
    pub(super) async fn deployment_succeeded(
        &self,
        tenant: &Tenant,
        d: &Deployment,
        machine_id: &str,
        digest: &str,
    ) -> Result<(), JobError> {
        self.repos
            .deployments
            .mark_finished(d.id, DeploymentStatus::Succeeded, None)
            .await
            .map_err(ServiceError::from)?;
        self.event(
            tenant,
            EventType::DeploymentSucceeded,
            format!("machine {machine_id} runs {digest}"),
        )
        .await;
        // A newer deployment accepted while this one rolled out is still to come: the tenant stays
        // `deploying` (no `tenant_ready`, which would end the CLI's wait on the older image); the
        // machine and digest are recorded, and the queued job rolls the newer one out.
        let newer = self
            .repos
            .deployments
            .latest_for_tenant(tenant.id)
            .await
            .map_err(ServiceError::from)?
            .filter(|l| l.id != d.id && !l.status.is_finished());
        if let Some(newer) = newer {
            tracing::info!(tenant_id = %tenant.id, deployment = %d.id, newer = %newer.id, "older deployment finished; a newer one is queued");
            let result = self
                .update_tenant(tenant.id, None, |t| {
                    t.machine_id = Some(machine_id.to_owned());
                    t.deployed_digest = Some(digest.to_owned());
                    Ok(())
                })
                .await;
            return match result {
                Ok(_) | Err(ServiceError::Conflict(_)) => Ok(()),
                Err(e) => Err(e.into()),
            };
        }
        // `tenant_ready` is written with the state change, so whoever sees `running` sees it too.
        let ready = Some(format!("tenant ready at {}", tenant.app_url()));
        let result = self
            .update_tenant(
                tenant.id,
                Some((EventType::TenantReady, ready.clone())),
                |t| {
                    t.machine_id = Some(machine_id.to_owned());
                    t.deployed_digest = Some(digest.to_owned());
                    Ok(t.transition(TenantState::Running, Some(format!("running {digest}")))?)
                },
            )
            .await;
        match result {
            Ok(t) => {
                tracing::info!(tenant_id = %t.id, digest, "deployment succeeded");
                Ok(())
            }
            Err(ServiceError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn deployment_failed(
        &self,
        tenant: &Tenant,
        d: &Deployment,
        error: String,
    ) -> Result<(), JobError> {
        tracing::warn!(tenant_id = %tenant.id, deployment = %d.id, error = %error, "deployment failed");
        let reason = format!("deploy failed: {error}");
        self.repos
            .deployments
            .mark_finished(d.id, DeploymentStatus::Failed, Some(reason.clone()))
            .await
            .map_err(ServiceError::from)?;
        let result = self
            .update_tenant(
                tenant.id,
                Some((EventType::DeploymentFailed, Some(reason.clone()))),
                |t| Ok(t.transition(TenantState::Failed, Some(reason.clone()))?),
            )
            .await;
        match result {
            Ok(_) | Err(ServiceError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A queued deploy whose deployment an earlier run already finished: make sure the tenant's state
    /// agrees with that outcome (an accept may have set `deploying` after the earlier run ended).
    pub(super) async fn settle_without_work(
        &self,
        tenant: &Tenant,
        latest: &Deployment,
    ) -> Result<(), JobError> {
        if tenant.state != TenantState::Deploying {
            return Ok(());
        }
        let (to, kind) = match latest.status {
            DeploymentStatus::Succeeded if tenant.machine_id.is_some() => {
                (TenantState::Running, EventType::TenantReady)
            }
            _ => (TenantState::Failed, EventType::DeploymentFailed),
        };
        let msg = latest.error.clone();
        match self
            .update_tenant(tenant.id, Some((kind, msg.clone())), |t| {
                Ok(t.transition(to, msg.clone())?)
            })
            .await
        {
            Ok(_) | Err(ServiceError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
