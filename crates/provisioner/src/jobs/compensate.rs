//! Undoing a failed provisioning run, in reverse order of creation: certificate, IPs, volume, app, the
//! public DNS record (only if this run created it), then the tenant database and role. Only what is
//! ours is touched; "not found" counts as removed. Fly's
//! deletes are asynchronous (an app lingers after its 202, a volume as `pending_destroy`), so the app
//! is waited for until it is gone: a retry must not find (and adopt) an app that is being deleted.
//! The waiting helpers here are shared with cleanup and the app step.

use std::future::Future;
use std::time::Duration;

use mgmt_domain::Tenant;
use mgmt_fly_client::{App, FlyError, FlyResult};
use tokio::time::{Instant, sleep};

use super::provision::Provisioned;
use crate::ownership::AppMarker;
use crate::service::TenantService;

fn gone<T>(r: FlyResult<T>) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

impl TenantService {
    /// Removes what `done` says exists; returns the resources that could not be removed.
    pub(crate) async fn compensate(&self, tenant: &Tenant, done: &Provisioned) -> Vec<String> {
        let app = &tenant.fly_app_name;
        let mut leftovers = Vec::new();
        let mut note = |what: String, r: Result<(), String>| {
            if let Err(e) = r {
                tracing::warn!(tenant_id = %tenant.id, resource = %what, error = %e, "compensation step failed");
                leftovers.push(what);
            }
        };
        if done.app_ours {
            // Deleting the app would release these too; removing them first keeps the order explicit and
            // frees the addresses even if the app delete fails.
            if done.certificate {
                note(
                    format!("certificate {}", tenant.hostname),
                    gone(self.fly.delete_certificate(app, &tenant.hostname).await),
                );
            }
            for ip in done.ips.iter().rev() {
                note(format!("ip {ip}"), gone(self.fly.delete_ip(app, ip).await));
            }
            if let Some(v) = &done.volume_id {
                note(
                    format!("volume {v}"),
                    gone(self.fly.delete_volume(app, v).await),
                );
            }
            // Not seen yet (its create's answer was lost): it may still appear, so look for it.
            let r = self.remove_app(tenant, !done.app_seen).await;
            note(format!("app {app}"), r);
        }
        if done.dns_record
            && let Some(dns) = &self.dns
        {
            let r = dns
                .delete_cname(
                    &tenant.hostname,
                    &super::provision_steps::dns_target(tenant),
                )
                .await;
            note(
                format!("dns record {}", tenant.hostname),
                r.map(drop).map_err(|e| e.to_string()),
            );
        }
        // Always: a step that failed half-way may have made the role without the database. Dropping is
        // idempotent and the names are this tenant's alone (unique for ever in our database).
        let r = self
            .db_admin
            .drop_database(&tenant.database_name, &tenant.database_role)
            .await;
        note(
            format!("database {}", tenant.database_name),
            r.map_err(|e| e.to_string()),
        );
        leftovers
    }
}

/// Whether an app answered by Fly is one being deleted (after the 202 of `DELETE /apps/{name}` Fly
/// keeps showing it, suspended, for a while).
pub(crate) fn app_is_lingering(app: &App) -> bool {
    matches!(
        app.status.as_deref(),
        Some("suspended" | "destroying" | "destroyed" | "pending_destroy")
    )
}

/// Polls `gone` (true once the resource no longer exists) with growing pauses for at most `timeout`.
/// `Err` names what is still there, for the retry message.
pub(crate) async fn poll_until_gone<F, Fut>(
    what: &str,
    timeout: Duration,
    mut gone: F,
) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = FlyResult<bool>>,
{
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(50);
    loop {
        // A transient answer (429, 5xx) to a look says nothing about the resource: look again later.
        let last = match gone().await {
            Ok(true) => return Ok(()),
            Ok(false) => None,
            Err(e) if e.is_transient() => Some(e.to_string()),
            Err(e) => return Err(e.to_string()),
        };
        if Instant::now() + pause > deadline {
            return Err(last.unwrap_or_else(|| format!(
                "{what} is still being deleted by Fly after {timeout:?}; waiting for it on the next attempt"
            )));
        }
        sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

impl TenantService {
    /// Deletes the tenant's app (ours: the caller checked) and waits until Fly no longer shows it,
    /// then records that it is gone. `maybe_invisible`: we asked for it but never saw it (a lost
    /// answer), so a 404 may only mean Fly does not show it *yet*: it is looked for during the
    /// visibility window before it is taken as never made.
    pub(crate) async fn remove_app(
        &self,
        tenant: &Tenant,
        maybe_invisible: bool,
    ) -> Result<(), String> {
        let app = &tenant.fly_app_name;
        let shown = match self.fly.get_app(app).await {
            Ok(a) => Some(a),
            Err(e) if e.is_not_found() && maybe_invisible => {
                match self
                    .fly
                    .wait_for_app(app, self.config.machine.app_visible_timeout)
                    .await
                {
                    Ok(a) => Some(a),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e.to_string()),
                }
            }
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.to_string()),
        };
        if let Some(a) = shown {
            if !app_is_lingering(&a) {
                gone(self.fly.delete_app(app).await)?;
            }
            self.wait_app_gone(app).await?;
        }
        self.mark_app(tenant, AppMarker::Removed)
            .await
            .map_err(|e| e.to_string())
    }

    /// Waits until `GET /apps/{app}` is a 404 (an app deleted on Fly lingers after the 202).
    pub(crate) async fn wait_app_gone(&self, app: &str) -> Result<(), String> {
        let timeout = self.config.machine.gone_timeout;
        poll_until_gone(&format!("app {app}"), timeout, || async {
            match self.fly.get_app(app).await {
                Ok(_) => Ok(false),
                Err(FlyError::NotFound(_)) => Ok(true),
                Err(e) => Err(e),
            }
        })
        .await
    }
}
