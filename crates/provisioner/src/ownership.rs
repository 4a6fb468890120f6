//! How we know a Fly app is this tenant's and may be reused or deleted.
//!
//! App names derive from the first 12 hex digits of the tenant id and are unique in our database for
//! ever (deleted tenants keep theirs), but Fly's org may hold an app of that name made by hand, by the
//! old system, or leaked by another installation. Such an app is never adopted nor deleted.
//!
//! The proof of ownership is the tenant's own event log: right after `create_app` answers
//! `created: true`, provisioning appends a `vm_provisioning_progress` event whose message is exactly
//! [`app_created_marker`]. An app that exists without that event is not ours. If the process dies
//! between Fly creating the app and the event being written, the retry refuses the app (fail safe:
//! an operator deletes it by hand); it never takes over an app it cannot prove it made.

use mgmt_domain::{EventType, Tenant};

use crate::error::ServiceError;
use crate::service::TenantService;

/// Events read when looking for the marker (a tenant has a few dozen at most before provisioning ends).
const EVENT_PAGE: i64 = 500;

/// The event message that records that we created the tenant's Fly app.
pub(crate) fn app_created_marker(app: &str) -> String {
    format!("Fly app {app} created")
}

impl TenantService {
    /// Records that this tenant created its app (must be written before anything else touches the app).
    pub(crate) async fn mark_app_created(&self, tenant: &Tenant) -> Result<(), ServiceError> {
        let ev = mgmt_domain::NewTenantEvent::new(
            tenant.id,
            EventType::VmProvisioningProgress,
            tenant.state,
            Some(app_created_marker(&tenant.fly_app_name)),
        );
        self.repos.events.append(ev).await?;
        Ok(())
    }

    /// Whether the tenant's event log says we created its app.
    pub(crate) async fn app_is_ours(&self, tenant: &Tenant) -> Result<bool, ServiceError> {
        let marker = app_created_marker(&tenant.fly_app_name);
        let mut after = 0;
        loop {
            let page = self
                .repos
                .events
                .list_after(tenant.id, after, EVENT_PAGE)
                .await?;
            if page.iter().any(|e| {
                e.event_type == EventType::VmProvisioningProgress
                    && e.message.as_deref() == Some(&marker)
            }) {
                return Ok(true);
            }
            match page.last() {
                Some(last) if page.len() as i64 == EVENT_PAGE => after = last.id,
                _ => return Ok(false),
            }
        }
    }
}
