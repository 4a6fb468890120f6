//! Accepting a deploy: the deploy rule, tag → digest resolution, the image's provenance (see
//! `provenance`), a recorded deployment, a queued job.
//!
//! The CLI waits 30 s at most and reports anything but a 2xx as a failed deploy, so accepting never
//! waits long for the registry: resolution and provenance get `deploy_resolve_within`. If the registry
//! answers in time, a missing image, a wrong pin or foreign content is refused at once (nothing is
//! recorded). If it does not, the deployment is recorded without a digest and the deploy job resolves
//! the tag and checks provenance itself (see `jobs::deploy`), failing the deployment with a readable
//! reason when the image is missing or not the tenant's. An image pinned to the digest of an earlier
//! successful deployment of this tenant is a rollback on request: that digest is deployed even if the
//! tag has moved on; a pinned digest the tenant never recorded is refused as invalid input. Only reads are cut short by the budget; every
//! write happens after it, so nothing runs on detached from the durable job.

use mgmt_domain::{
    CustomerId, Deployment, DeploymentStatus, EventType, JobKind, NewDeployment, Tenant, TenantId,
    TenantState, naming,
};

use crate::error::ServiceError;
use crate::service::TenantService;

impl TenantService {
    /// Validates `image` against the deploy rule and resolves the tenant's tag to a digest whose
    /// graph is the tenant's own, within `deploy_resolve_within` (an image never pushed is
    /// `ImageNotFound`, foreign content or a moved pin `Conflict`, and nothing is recorded); then
    /// records the deployment (without a digest if the registry was too slow) and enqueues the rollout.
    /// Idempotent: the same request while an equal deployment is still pending or in progress answers
    /// that deployment instead of recording another.
    #[tracing::instrument(skip(self))]
    pub async fn deploy(
        &self,
        customer: CustomerId,
        id: TenantId,
        image: &str,
    ) -> Result<(Tenant, Deployment), ServiceError> {
        let tenant = self.load_owned(customer, id).await?;
        self.config
            .deploy_target
            .validate_deploy_image(&id, image)
            .map_err(|e| ServiceError::InvalidInput(e.to_string()))?;
        if !tenant.infrastructure_ready() {
            return Err(ServiceError::Conflict(format!(
                "the tenant cannot be deployed while it is {} (wait for provisioning, or retry it)",
                tenant.state
            )));
        }
        crate::jobs::billing::check_deploy(&self.repos, &tenant).await?;
        let earlier = self.earlier_digest(id, image).await?;
        // Read-only, so cutting it short at the budget leaves nothing half done.
        let digest = match tokio::time::timeout(self.config.deploy_resolve_within, async {
            match &earlier {
                Some(d) => self
                    .verify_provenance(id, &self.config.deploy_target.repository, d)
                    .await
                    .map(|()| d.clone()),
                None => self.resolve_verified(id, image).await,
            }
        })
        .await
        {
            Ok(Err(ServiceError::Conflict(m))) if !self.ever_recorded(id, image).await? => {
                return Err(ServiceError::InvalidInput(format!(
                    "{m}; a pinned digest other than the tag's must be one this tenant deployed before"
                )));
            }
            Ok(result) => Some(result?),
            Err(_) if earlier.is_some() => {
                return Err(ServiceError::Unavailable(
                    "the registry is slow; retry the rollback shortly".into(),
                ));
            }
            Err(_) => {
                tracing::warn!(tenant_id = %id, "registry slow at deploy; the deploy job resolves the tag");
                None
            }
        };
        if let Some(same) = self.unfinished_same(id, image, digest.as_deref()).await? {
            tracing::info!(tenant_id = %id, deployment = %same.id, "same deploy already under way");
            return Ok((tenant, same));
        }
        let deployment = self
            .repos
            .deployments
            .insert(NewDeployment {
                tenant_id: id,
                image: image.to_owned(),
                digest: digest.clone(),
            })
            .await?;
        let msg = Some(match &digest {
            Some(d) => format!("deploy of {d} accepted"),
            None => format!(
                "deploy of {image} accepted; the registry is slow, the digest is resolved by the rollout"
            ),
        });
        // `deploying`, its event and the rollout job are one transaction (the outbox).
        let job = Self::new_job(
            id,
            JobKind::Deploy,
            Some(self.config.worker.deploy_max_attempts),
        );
        let tenant = self
            .update_tenant_with_job(
                id,
                (EventType::DeploymentRequested, msg.clone()),
                job,
                |t| Ok(t.transition(TenantState::Deploying, msg.clone())?),
            )
            .await?;
        tracing::info!(tenant_id = %id, deployment = %deployment.id, digest = ?digest, "deploy accepted");
        Ok((tenant, deployment))
    }

    /// The digest the tenant's tag resolves to, checked against the pin in `image` (if any) and
    /// verified to reach only the tenant's own content. `image` has passed the deploy rule.
    pub(crate) async fn resolve_verified(
        &self,
        id: TenantId,
        image: &str,
    ) -> Result<String, ServiceError> {
        let accepted = self
            .config
            .deploy_target
            .validate_deploy_image(&id, image)
            .map_err(|e| ServiceError::InvalidInput(e.to_string()))?;
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
        Ok(resolved.digest)
    }

    /// Rollback on request: the digest pinned in `image` when an earlier deployment of this tenant
    /// succeeded with it (the tag may have moved on since; the digest is deployed as it is).
    async fn earlier_digest(
        &self,
        id: TenantId,
        image: &str,
    ) -> Result<Option<String>, ServiceError> {
        let Some(pinned) = self.pinned_digest(id, image)? else {
            return Ok(None);
        };
        let deployed = self.repos.deployments.list_for_tenant(id).await?;
        Ok(deployed
            .iter()
            .any(|d| {
                d.status == DeploymentStatus::Succeeded && d.digest.as_deref() == Some(&pinned)
            })
            .then_some(pinned))
    }

    /// Whether any deployment of this tenant (whatever its outcome) recorded the digest pinned in
    /// `image`: a pin the tag moved away from is then a conflict, a never-seen one invalid input.
    async fn ever_recorded(&self, id: TenantId, image: &str) -> Result<bool, ServiceError> {
        let Some(pinned) = self.pinned_digest(id, image)? else {
            return Ok(true);
        };
        let deployed = self.repos.deployments.list_for_tenant(id).await?;
        Ok(deployed
            .iter()
            .any(|d| d.digest.as_deref() == Some(&pinned)))
    }

    fn pinned_digest(&self, id: TenantId, image: &str) -> Result<Option<String>, ServiceError> {
        let accepted = self
            .config
            .deploy_target
            .validate_deploy_image(&id, image)
            .map_err(|e| ServiceError::InvalidInput(e.to_string()))?;
        Ok(accepted.digest.map(|d| d.to_string()))
    }

    /// The newest deployment, if it is still pending or in progress for the same `image` and would
    /// deploy `digest`: one without a digest resolves the tag itself, so it serves any request for the
    /// image; with `digest` unknown (slow registry) only such a deployment is known to be the same.
    async fn unfinished_same(
        &self,
        id: TenantId,
        image: &str,
        digest: Option<&str>,
    ) -> Result<Option<Deployment>, ServiceError> {
        let Some(latest) = self.repos.deployments.latest_for_tenant(id).await? else {
            return Ok(None);
        };
        let unfinished = matches!(
            latest.status,
            DeploymentStatus::Pending | DeploymentStatus::InProgress
        );
        let same_digest = latest.digest.is_none() || latest.digest.as_deref() == digest;
        Ok((unfinished && latest.image == image && same_digest).then_some(latest))
    }
}
