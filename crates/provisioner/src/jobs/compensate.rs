//! Undoing a failed provisioning run, in reverse order of creation: certificate, IPs, volume, app, then
//! the tenant database and role. Only what is ours is touched; "not found" counts as removed.

use mgmt_domain::Tenant;
use mgmt_fly_client::FlyResult;

use super::provision::Provisioned;
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
            note(format!("app {app}"), gone(self.fly.delete_app(app).await));
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
