//! What a tenant's subscription allows it: a subscription that is past due, paused or canceled stops
//! deploys. Called from the deploy use case (one call), so the rule lives here and the engine stays
//! unaware of billing. (Creating a paid plan's tenant is checked where customers ask for one: the
//! server's `POST /tenants` adapter, with `mgmt_billing::check_create_entitlement`.)

use mgmt_domain::{Entitlement, Repositories, Tenant, entitlement};

use crate::error::ServiceError;

/// The tenant may be deployed: its subscription (if any) is active or trialing.
pub(crate) async fn check_deploy(
    repos: &Repositories,
    tenant: &Tenant,
) -> Result<(), ServiceError> {
    let sub = repos.subscriptions.get_for_tenant(tenant.id).await?;
    let status = sub.as_ref().map(|s| s.status);
    match entitlement(status) {
        Entitlement::Full => Ok(()),
        Entitlement::Suspended => Err(ServiceError::Conflict(format!(
            "deploys are suspended while the subscription is {}: settle the payment (or resume it) first",
            status.map(|s| s.as_str()).unwrap_or_default()
        ))),
        Entitlement::Ended => Err(ServiceError::Conflict(
            "the subscription is canceled: the tenant can no longer be deployed".to_owned(),
        )),
    }
}

impl crate::service::TenantService {
    /// One round of the billing grace periods (see `mgmt_domain::grace`): reads the subscriptions not
    /// in good standing and acts on those whose grace ended. Idempotent and driven by the database
    /// alone, so it is durable across restarts and safe on several replicas at once: a machine is
    /// stopped at most once per suspension (`machine_stopped_at`), and deleting a tenant goes through
    /// the normal delete path (its durable cleanup job), which a repeat finds under way.
    pub async fn billing_sweep(
        &self,
        grace: &mgmt_domain::BillingGrace,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<mgmt_domain::BillingSweepReport, ServiceError> {
        let mut report = mgmt_domain::BillingSweepReport::default();
        for sub in self.repos.subscriptions.grace_candidates().await? {
            let action = mgmt_domain::grace_action(&sub, grace, now);
            if action == mgmt_domain::GraceAction::Nothing {
                continue;
            }
            match self.grace_act(&sub, action, now).await {
                Ok(true) => match action {
                    mgmt_domain::GraceAction::StopMachine => report.machines_stopped += 1,
                    mgmt_domain::GraceAction::StartMachine => report.machines_started += 1,
                    mgmt_domain::GraceAction::DeleteTenant => report.tenants_deleted += 1,
                    mgmt_domain::GraceAction::Nothing => {}
                },
                Ok(false) => {}
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(subscription = %sub.id, tenant_id = %sub.tenant_id, ?action,
                        error = %mgmt_domain::ErrorChain(&e), "billing grace action failed; retried next round");
                }
            }
        }
        Ok(report)
    }

    /// Carries out `action`; `Ok(false)` when there was nothing to do (the tenant is gone or going).
    async fn grace_act(
        &self,
        sub: &mgmt_domain::SubscriptionGrace,
        action: mgmt_domain::GraceAction,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, ServiceError> {
        use mgmt_domain::{EventType, GraceAction, TenantState};

        let tenant = match self.repos.tenants.get(sub.tenant_id).await {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        if matches!(tenant.state, TenantState::Deleting | TenantState::Deleted) {
            return Ok(false);
        }
        match action {
            GraceAction::Nothing => Ok(false),
            GraceAction::StopMachine => {
                if let Some(machine) = &tenant.machine_id {
                    match self
                        .fly
                        .stop_machine(&tenant.fly_app_name, machine, None)
                        .await
                    {
                        Ok(()) => {}
                        // Gone already: nothing runs, which is what stopping wants.
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                self.repos
                    .subscriptions
                    .set_machine_stopped(&sub.id, Some(now))
                    .await?;
                let message = format!(
                    "machine stopped: the subscription is {} since {}; it starts again once the subscription is active",
                    sub.status,
                    sub.status_since.format("%Y-%m-%d %H:%M UTC")
                );
                // `machine_restarted` is the nearest type the event log allows (its CHECK lists the
                // types; a `machine_stopped` needs a migration after 000027); the message says what.
                self.update_tenant(
                    tenant.id,
                    Some((EventType::MachineRestarted, Some(message.clone()))),
                    |t| {
                        t.status_message = Some(message.clone());
                        Ok(())
                    },
                )
                .await?;
                tracing::info!(tenant_id = %tenant.id, subscription = %sub.id, status = %sub.status, "billing grace ended: machine stopped");
                Ok(true)
            }
            GraceAction::StartMachine => {
                if let Some(machine) = &tenant.machine_id {
                    self.fly
                        .start_machine(&tenant.fly_app_name, machine, None)
                        .await?;
                }
                self.repos
                    .subscriptions
                    .set_machine_stopped(&sub.id, None)
                    .await?;
                self.update_tenant(
                    tenant.id,
                    Some((
                        EventType::MachineRestarted,
                        Some("machine started again: the subscription is active".to_owned()),
                    )),
                    |t| {
                        t.status_message = None;
                        Ok(())
                    },
                )
                .await?;
                tracing::info!(tenant_id = %tenant.id, subscription = %sub.id, "subscription active again: machine started");
                Ok(true)
            }
            GraceAction::DeleteTenant => {
                let since = sub.canceled_at.unwrap_or(sub.status_since);
                // Before the delete (which records `deletion requested`), the customer reads why.
                self.event(
                    &tenant,
                    EventType::CleanupStarted,
                    format!(
                        "the subscription was canceled on {} and its grace period ended: the tenant is deleted",
                        since.format("%Y-%m-%d %H:%M UTC")
                    ),
                )
                .await;
                self.delete_tenant(tenant.customer_id, tenant.id).await?;
                tracing::info!(tenant_id = %tenant.id, subscription = %sub.id, "canceled subscription's grace ended: tenant deleted");
                Ok(true)
            }
        }
    }
}
