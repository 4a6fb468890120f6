//! Accepting a deploy: the deploy rule, tag → digest resolution, the image's provenance (see
//! `provenance`), a recorded deployment, a queued job.
//! Answers in a few round trips; the machine is rolled out by the `deploy` job (the CLI waits 30 s at most).

use mgmt_domain::{
    CustomerId, Deployment, EventType, JobKind, NewDeployment, Tenant, TenantId, TenantState,
    naming,
};

use crate::error::ServiceError;
use crate::service::TenantService;

impl TenantService {
    /// Validates `image` against the deploy rule, resolves the tenant's tag to a digest (an image never
    /// pushed is `ImageNotFound`), verifies that everything the digest reaches upstream was pushed by
    /// this tenant (else `Conflict`, and nothing is recorded), records the deployment and enqueues the
    /// rollout.
    #[tracing::instrument(skip(self))]
    pub async fn deploy(
        &self,
        customer: CustomerId,
        id: TenantId,
        image: &str,
    ) -> Result<(Tenant, Deployment), ServiceError> {
        let tenant = self.load_owned(customer, id).await?;
        let accepted = self
            .config
            .deploy_target
            .validate_deploy_image(&id, image)
            .map_err(|e| ServiceError::InvalidInput(e.to_string()))?;
        let infrastructure_ready =
            tenant.state != TenantState::Failed || tenant.volume_id.is_some();
        if !tenant.state.accepts_deploy() || !infrastructure_ready {
            return Err(ServiceError::Conflict(format!(
                "the tenant cannot be deployed while it is {} (wait for provisioning, or retry it)",
                tenant.state
            )));
        }
        let repository = &self.config.deploy_target.repository;
        let tag = naming::image_tag(&id);
        let resolved = self
            .registry
            .resolve(repository, &tag)
            .await?
            .ok_or_else(|| {
                ServiceError::ImageNotFound(format!(
                    "`{}` was never pushed; push it first",
                    accepted.image
                ))
            })?;
        if let Some(pinned) = &accepted.digest
            && pinned.to_string() != resolved.digest
        {
            return Err(ServiceError::Conflict(format!(
                "the tag now points at {}, not at the pinned {pinned}; push again or deploy the tag",
                resolved.digest
            )));
        }
        // Before anything is recorded or touched: the whole graph under the digest is the tenant's own.
        self.verify_provenance(id, repository, &resolved.digest)
            .await?;
        let deployment = self
            .repos
            .deployments
            .insert(NewDeployment {
                tenant_id: id,
                image: accepted.image.clone(),
                digest: Some(resolved.digest.clone()),
            })
            .await?;
        let msg = Some(format!("deploy of {} accepted", resolved.digest));
        let tenant = self
            .update_tenant(
                id,
                Some((EventType::DeploymentRequested, msg.clone())),
                |t| Ok(t.transition(TenantState::Deploying, msg.clone())?),
            )
            .await?;
        self.enqueue(
            &tenant,
            JobKind::Deploy,
            self.config.worker.deploy_max_attempts,
        )
        .await?;
        tracing::info!(tenant_id = %id, deployment = %deployment.id, digest = %resolved.digest, "deploy accepted");
        Ok((tenant, deployment))
    }
}
