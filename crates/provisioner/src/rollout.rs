//! Rolling the app's current secrets out to the tenant's machine, on the image it already runs.
//!
//! Fly hands an app's secrets to a machine as environment variables fixed when the machine is created
//! or updated, so a secrets change (a customer's PUT, a credential rotation) reaches a running machine
//! only through a machine update. That update is an ordinary deployment: the same image and digest,
//! recorded and run by the durable `deploy` job, which reads the secrets version at rollout time. Going
//! through the job gives the rollout the job's guarantees (one job per tenant at a time, leases,
//! retries, the newest deployment wins), so several secret changes in a row collapse into one rollout
//! after the one in flight.

use mgmt_domain::{
    Deployment, DeploymentStatus, EventType, JobKind, NewDeployment, Tenant, TenantState,
};

use crate::error::ServiceError;
use crate::service::TenantService;

/// The deployment whose image a rollout re-deploys: the newest one that is queued, running or
/// succeeded. A newer pending deploy wins over the digest the machine runs now, so a secrets change
/// right after a deploy never rolls the new image back; failed and superseded attempts never ran.
fn rollout_base(history: &[Deployment]) -> Option<&Deployment> {
    // `list_for_tenant` answers newest first.
    history.iter().find(|d| {
        matches!(
            d.status,
            DeploymentStatus::Pending | DeploymentStatus::InProgress | DeploymentStatus::Succeeded
        )
    })
}

impl TenantService {
    /// Makes the tenant's machine boot with Fly's current app secrets, pinned to the image it is
    /// deployed with: records a deployment of the newest pending, in-progress or succeeded
    /// deployment's image and digest and enqueues the deploy job. With no such deployment it does
    /// nothing (the first deploy boots with the secrets). `reason` (e.g. `secrets updated`) goes into
    /// the tenant's event. Answers after a few database round trips; the rollout itself runs in the job.
    #[tracing::instrument(skip(self, tenant), fields(tenant_id = %tenant.id))]
    pub async fn roll_out_secrets(
        &self,
        tenant: &Tenant,
        reason: &str,
    ) -> Result<(), ServiceError> {
        // The caller's copy may be stale: decide on the current row.
        let tenant = self.repos.tenants.get(tenant.id).await?;
        if matches!(tenant.state, TenantState::Deleting | TenantState::Deleted) {
            tracing::info!(state = %tenant.state, "no secrets rollout: the tenant is being deleted");
            return Ok(());
        }
        let history = self.repos.deployments.list_for_tenant(tenant.id).await?;
        let Some(base) = rollout_base(&history) else {
            let msg = format!("{reason}; no deployment yet: the first deploy boots with them");
            self.event(&tenant, EventType::SecretsUpdated, msg).await;
            return Ok(());
        };
        let pinned = base.digest.as_deref().unwrap_or(base.image.as_str());
        let deployment = self
            .repos
            .deployments
            .insert(NewDeployment {
                tenant_id: tenant.id,
                image: base.image.clone(),
                digest: base.digest.clone(),
            })
            .await?;
        let msg = Some(format!(
            "{reason}; rolling the app's secrets out to the machine on {pinned}"
        ));
        // `deploying`, its event and the rollout job are one transaction (the outbox).
        let job = Self::new_job(
            tenant.id,
            JobKind::Deploy,
            Some(self.config.worker.deploy_max_attempts),
        );
        match self
            .update_tenant_with_job(
                tenant.id,
                (EventType::DeploymentRequested, msg.clone()),
                job,
                |t| Ok(t.transition(TenantState::Deploying, msg.clone())?),
            )
            .await
        {
            Ok(_) => {}
            // Deleted meanwhile: the recorded deployment is never run (the job skips a deleting
            // tenant), which is what a deleted tenant needs.
            Err(ServiceError::Conflict(m)) => {
                tracing::info!(reason = %m, "no secrets rollout: the tenant changed state");
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        tracing::info!(deployment = %deployment.id, image = %pinned, "secrets rollout enqueued");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use mgmt_domain::TenantId;
    use uuid::Uuid;

    use super::*;

    fn dep(status: DeploymentStatus, digest: &str) -> Deployment {
        Deployment {
            id: Uuid::new_v4(),
            tenant_id: TenantId::new_random(),
            image: "r/i:t".into(),
            digest: Some(digest.into()),
            status,
            error: None,
            requested_at: Utc::now(),
            started_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn the_base_is_the_newest_deployment_that_runs_or_will_run() {
        use DeploymentStatus::*;
        // Newest first, as the repository answers.
        let pending_after_success = [dep(Pending, "new"), dep(Succeeded, "old")];
        assert_eq!(
            rollout_base(&pending_after_success).and_then(|d| d.digest.as_deref()),
            Some("new"),
            "a PUT right after a deploy must not roll the new image back"
        );
        let failed_after_success = [
            dep(Failed, "bad"),
            dep(Superseded, "x"),
            dep(Succeeded, "good"),
        ];
        assert_eq!(
            rollout_base(&failed_after_success).and_then(|d| d.digest.as_deref()),
            Some("good")
        );
        assert_eq!(
            rollout_base(&[dep(InProgress, "now")]).and_then(|d| d.digest.as_deref()),
            Some("now")
        );
        assert!(rollout_base(&[dep(Failed, "bad")]).is_none());
        assert!(rollout_base(&[]).is_none());
    }
}
