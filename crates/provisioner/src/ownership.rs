//! How we know a Fly app is this tenant's and may be reused or deleted: intent recorded before action.
//!
//! App names derive from the first 12 hex digits of the tenant id and are unique in our database for
//! ever (deleted tenants keep theirs), but Fly's org may hold an app of that name made by hand, by the
//! old system, or leaked by another installation. Such an app is never adopted nor deleted.
//!
//! The proof of ownership is the tenant's own event log, written *before* Fly is asked anything:
//! - `Fly app {app} requested` (the intent): written once provisioning has looked and found no app of
//!   that name, and before `create_app` is called. From then on an app of that name is ours, whatever
//!   happened to the answer: a lost answer, a 5xx after Fly acted, a client timeout, or `name_taken`
//!   for the name we asked for. Cleanup and compensation remove it even when Fly does not show it yet
//!   (Fly's create is visible only after a while).
//! - `Fly app {app} created`: `create_app` answered `created: true` (kept for tenants made before
//!   intents were recorded).
//! - `Fly app {app} removed`: compensation or cleanup saw it gone. A later run looks again before it
//!   records a new intent, so a name someone else took in between is not adopted.
//!
//! The latest of these markers decides. Tenants migrated from the old system have none: their app is
//! proved theirs by the machine or volume ids recorded on the tenant (an app holding a machine we
//! recorded is the one we deployed to).

use mgmt_domain::{EventType, Tenant};

use crate::error::ServiceError;
use crate::service::TenantService;

/// Events read per page when looking for the markers.
const EVENT_PAGE: i64 = 500;

/// What the tenant's event log says about its Fly app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppMarker {
    /// Nothing recorded: the app was never asked for by this tenant.
    None,
    /// We asked Fly for it; whether it exists yet is unknown (a lost answer, not yet visible).
    Requested,
    /// Fly answered that it created it.
    Created,
    /// We saw it gone after deleting it.
    Removed,
}

impl AppMarker {
    fn message(self, app: &str) -> Option<String> {
        match self {
            Self::None => None,
            Self::Requested => Some(format!("Fly app {app} requested")),
            Self::Created => Some(format!("Fly app {app} created")),
            Self::Removed => Some(format!("Fly app {app} removed")),
        }
    }
}

impl TenantService {
    /// Records `marker` for the tenant's app. Fenced inside a job run, and never best effort: the
    /// intent must be durable before Fly is called.
    pub(crate) async fn mark_app(
        &self,
        tenant: &Tenant,
        marker: AppMarker,
    ) -> Result<(), ServiceError> {
        let ev = mgmt_domain::NewTenantEvent::new(
            tenant.id,
            EventType::VmProvisioningProgress,
            tenant.state,
            marker.message(&tenant.fly_app_name),
        );
        self.repos
            .events
            .append_fenced(ev, crate::jobs::current_fence())
            .await?;
        Ok(())
    }

    /// The latest app marker in the tenant's event log.
    pub(crate) async fn app_marker(&self, tenant: &Tenant) -> Result<AppMarker, ServiceError> {
        let app = &tenant.fly_app_name;
        let kinds = [AppMarker::Requested, AppMarker::Created, AppMarker::Removed];
        let texts: Vec<(AppMarker, String)> = kinds
            .iter()
            .map(|k| (*k, k.message(app).unwrap_or_default()))
            .collect();
        let mut latest = AppMarker::None;
        let mut after = 0;
        loop {
            let page = self
                .repos
                .events
                .list_after(tenant.id, after, EVENT_PAGE)
                .await?;
            for e in page
                .iter()
                .filter(|e| e.event_type == EventType::VmProvisioningProgress)
            {
                if let Some((k, _)) = texts
                    .iter()
                    .find(|(_, t)| e.message.as_deref() == Some(t.as_str()))
                {
                    latest = *k;
                }
            }
            match page.last() {
                Some(last) if page.len() as i64 == EVENT_PAGE => after = last.id,
                _ => return Ok(latest),
            }
        }
    }

    /// Whether an app of the tenant's name is ours: its intent or creation is the latest marker, or
    /// (a tenant migrated from the old system, with no marker at all) the tenant records a machine or
    /// a volume of it.
    pub(crate) async fn app_is_ours(&self, tenant: &Tenant) -> Result<bool, ServiceError> {
        Ok(match self.app_marker(tenant).await? {
            AppMarker::Requested | AppMarker::Created => true,
            AppMarker::Removed => false,
            AppMarker::None => tenant.machine_id.is_some() || tenant.volume_id.is_some(),
        })
    }
}
