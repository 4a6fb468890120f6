//! The `cleanup` job: removes everything a deleted tenant owned, step by step, each idempotent
//! ("not found" is done). A step that fails is reported (status message, `cleanup_step_failed` event,
//! log) and the job is retried with capped exponential backoff for ever (its `max_attempts` is none);
//! after a crash another worker claims it once the lease expires. The tenant becomes `deleted` only when
//! every step is done. Fly resources are touched only if the app is provably ours (see `ownership`).
//! The registry tag goes only once no manifest push of the tenant is in flight through the gateway.
//! Fly deletes asynchronously (machines `destroying`, volumes `pending_destroy`, apps linger after
//! their 202): each Fly step asks for the delete once per attempt, skips what is already going, and
//! waits (bounded) until it is gone; what is still going when the wait ends is waited for on the next
//! attempt, never deleted again.

use std::time::Duration;

use mgmt_domain::{EventType, Tenant, TenantState, naming};
use mgmt_fly_client::{FlyError, TagDeletion};

use super::compensate::poll_until_gone;
use super::{JobContext, JobError};
use crate::service::TenantService;

/// How long a manifest push begun through the gateway and never ended (a gateway that died mid-push)
/// holds the tag's removal back: well beyond the gateway's own timeout for a manifest push upstream.
const MANIFEST_PUSH_WINDOW: Duration = Duration::from_secs(120);

/// A volume Fly is already removing: deleting it again is refused, waiting is what is left to do.
fn volume_going(v: &mgmt_fly_client::Volume) -> bool {
    matches!(
        v.state.as_deref(),
        Some("destroyed" | "destroying" | "pending_destroy")
    )
}

fn done_if_gone(r: Result<(), FlyError>) -> Result<(), String> {
    match r {
        Err(e) if !e.is_not_found() => Err(e.to_string()),
        _ => Ok(()),
    }
}

impl TenantService {
    pub(crate) async fn cleanup_job(
        &self,
        ctx: &JobContext,
        tenant: Tenant,
    ) -> Result<(), JobError> {
        match tenant.state {
            TenantState::Deleting => {}
            TenantState::Deleted => return Ok(()),
            // Only a delete enqueues a cleanup, in the same transaction as `deleting`: nothing to do.
            other => {
                tracing::warn!(tenant_id = %tenant.id, state = %other, "cleanup of a tenant that is not deleting; nothing to do");
                return Ok(());
            }
        }
        let mut failed: Vec<String> = Vec::new();
        let ours = self.app_is_ours(&tenant).await?;
        if ours {
            // Order matters inside Fly: a volume cannot go while a machine holds it, nor the app before both.
            for step in ["machines", "volumes", "app"] {
                ctx.checkpoint()?;
                let r = match step {
                    "machines" => self.cleanup_machines(&tenant).await,
                    "volumes" => self.cleanup_volumes(&tenant).await,
                    _ => self.cleanup_app(&tenant).await,
                };
                if !self.report_step(&tenant, step, r).await {
                    failed.push(step.to_owned());
                    break; // the next Fly steps would fail for the same reason
                }
            }
        } else {
            tracing::info!(tenant_id = %tenant.id, app = %tenant.fly_app_name, "no Fly app of ours to remove");
        }
        if let Some(dns) = &self.dns {
            // Independent of the app's ownership: only a CNAME to this tenant's app name is removed
            // (the port leaves any other record alone), and a missing record is done.
            ctx.checkpoint()?;
            let r = dns
                .delete_cname(
                    &tenant.hostname,
                    &super::provision_steps::dns_target(&tenant),
                )
                .await;
            if !self
                .report_step(
                    &tenant,
                    "dns record",
                    r.map(drop).map_err(|e| e.to_string()),
                )
                .await
            {
                failed.push("dns record".into());
            }
        }
        ctx.checkpoint()?;
        let r = self
            .db_admin
            .drop_database(&tenant.database_name, &tenant.database_role)
            .await;
        if !self
            .report_step(&tenant, "database", r.map_err(|e| e.to_string()))
            .await
        {
            failed.push("database".into());
        }
        // The sealed credentials are useless once the role is gone, but they are still secrets: they go
        // with the tenant (its row stays, so no cascade removes them).
        let r = self.forget_credentials(&tenant).await;
        if !self
            .report_step(
                &tenant,
                "credentials",
                r.map(drop).map_err(|e| e.to_string()),
            )
            .await
        {
            failed.push("credentials".into());
        }
        ctx.checkpoint()?;
        let r = self.cleanup_registry_tag(&tenant).await;
        if !self.report_step(&tenant, "registry tag", r).await {
            failed.push("registry tag".into());
        }
        if !failed.is_empty() {
            return Err(JobError::Retry(format!(
                "cleanup steps still failing: {}",
                failed.join(", ")
            )));
        }
        let msg = Some("every resource removed".to_owned());
        self.update_tenant(
            tenant.id,
            Some((EventType::TenantDeleted, msg.clone())),
            |t| Ok(t.transition(TenantState::Deleted, msg.clone())?),
        )
        .await?;
        tracing::info!(tenant_id = %tenant.id, "tenant deleted");
        Ok(())
    }

    async fn cleanup_machines(&self, tenant: &Tenant) -> Result<(), String> {
        let app = &tenant.fly_app_name;
        let machines = match self.fly.list_machines(app, None).await {
            Ok(m) => m,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        for m in machines
            .iter()
            .filter(|m| !matches!(m.state.as_str(), "destroyed" | "destroying"))
        {
            done_if_gone(self.fly.delete_machine(app, &m.id, true, None).await)?;
        }
        // A machine holds its volume until it is `destroyed`.
        let timeout = self.config.machine.gone_timeout;
        poll_until_gone(&format!("a machine of {app}"), timeout, || async {
            match self.fly.list_machines(app, None).await {
                Ok(ms) => Ok(ms.iter().all(|m| m.state == "destroyed")),
                Err(FlyError::NotFound(_)) => Ok(true),
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn cleanup_volumes(&self, tenant: &Tenant) -> Result<(), String> {
        let app = &tenant.fly_app_name;
        let volumes = match self.fly.list_volumes(app).await {
            Ok(v) => v,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        for v in volumes.iter().filter(|v| !volume_going(v)) {
            done_if_gone(self.fly.delete_volume(app, &v.id).await)?;
        }
        let timeout = self.config.machine.gone_timeout;
        poll_until_gone(&format!("a volume of {app}"), timeout, || async {
            match self.fly.list_volumes(app).await {
                Ok(vs) => Ok(vs.iter().all(|v| v.state.as_deref() == Some("destroyed"))),
                Err(FlyError::NotFound(_)) => Ok(true),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Deletes the app unless it is already going, then waits until Fly no longer shows it. An app
    /// we asked for may not be visible yet (its create's answer was lost): it is looked for during
    /// the visibility window, so `deleted` is never reported while it could still appear.
    async fn cleanup_app(&self, tenant: &Tenant) -> Result<(), String> {
        self.remove_app(tenant, true).await
    }

    /// Removes the tenant's tag, once no manifest push of the tenant is still in flight through the
    /// gateway: a push that passed the gateway's "not deleting" check before the tenant was deleted
    /// could otherwise recreate the tag after it was removed. (The gateway records the push atomically
    /// with that check, so every push that can still land is seen here.)
    async fn cleanup_registry_tag(&self, tenant: &Tenant) -> Result<(), String> {
        let in_flight = self
            .repos
            .registry_pushes
            .manifest_pushes_in_flight(tenant.id, MANIFEST_PUSH_WINDOW)
            .await
            .map_err(|e| e.to_string())?;
        if in_flight > 0 {
            return Err("a manifest push is still in flight; retrying".into());
        }
        let repo = &self.config.deploy_target.repository;
        let tag = naming::image_tag(&tenant.id);
        match self.registry.delete_tag_safely(repo, &tag).await {
            Ok(TagDeletion::PlaceholderLeft { placeholder_digest }) => {
                // The tag no longer reaches the tenant's image; only a tiny placeholder stays behind.
                tracing::warn!(tenant_id = %tenant.id, %placeholder_digest, "registry refuses deletion; placeholder left on the tag");
                Ok(())
            }
            Ok(outcome) => {
                tracing::info!(tenant_id = %tenant.id, ?outcome, "registry tag removed");
                Ok(())
            }
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Records a step's outcome where operators and the customer see it; returns whether it is done.
    async fn report_step(&self, tenant: &Tenant, step: &str, result: Result<(), String>) -> bool {
        match result {
            Ok(()) => {
                self.event(
                    tenant,
                    EventType::CleanupStepDone,
                    format!("{step} removed"),
                )
                .await;
                true
            }
            Err(e) => {
                tracing::warn!(tenant_id = %tenant.id, step, error = %e, "cleanup step failed; will retry");
                let msg = format!("cleanup step `{step}` failed, retrying: {e}");
                let r = self
                    .update_tenant(
                        tenant.id,
                        Some((EventType::CleanupStepFailed, Some(msg.clone()))),
                        |t| {
                            t.status_message = Some(msg.clone());
                            Ok(())
                        },
                    )
                    .await;
                if let Err(e) = r {
                    tracing::warn!(tenant_id = %tenant.id, error = %e, "could not record cleanup failure");
                }
                false
            }
        }
    }
}
