//! Whether a deleted tenant's Fly app is provably ours, read from the tenant's event log exactly as
//! the provisioner's cleanup decides it (see `mgmt-provisioner`'s `ownership` module, which writes
//! the markers): the latest of `Fly app {app} requested|created|removed` decides; a tenant with
//! none (migrated from the old system) owns the app when it recorded a machine or volume id. An
//! app of our naming that is not provably ours (made by hand, by another installation) is never
//! deleted. The reconciler cannot depend on the provisioner, hence this small reading of the same
//! spellings; a change there must change this too (the reconciler's tests pin them).

use mgmt_domain::{EventRepository, RepoResult, Tenant};

const EVENT_PAGE: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Requested,
    Created,
    Removed,
}

fn marker(message: &str, app: &str) -> Option<Marker> {
    let rest = message.strip_prefix("Fly app ")?.strip_prefix(app)?;
    match rest {
        " requested" => Some(Marker::Requested),
        " created" => Some(Marker::Created),
        " removed" => Some(Marker::Removed),
        _ => None,
    }
}

/// Whether `tenant`'s app (`tenant.fly_app_name`) is ours to delete.
pub(crate) async fn app_is_ours(events: &dyn EventRepository, tenant: &Tenant) -> RepoResult<bool> {
    let app = &tenant.fly_app_name;
    let mut after = 0;
    let mut latest = None;
    loop {
        let page = events.list_after(tenant.id, after, EVENT_PAGE).await?;
        for ev in &page {
            if let Some(m) = ev.message.as_deref().and_then(|msg| marker(msg, app)) {
                latest = Some(m);
            }
        }
        match page.last() {
            Some(last) if page.len() as i64 == EVENT_PAGE => after = last.id,
            _ => break,
        }
    }
    Ok(match latest {
        Some(Marker::Requested | Marker::Created) => true,
        // Seen gone after our delete: an app of that name now is someone else's.
        Some(Marker::Removed) => false,
        None => tenant.machine_id.is_some() || tenant.volume_id.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_provisioners_markers() {
        assert_eq!(
            marker("Fly app sp-1 requested", "sp-1"),
            Some(Marker::Requested)
        );
        assert_eq!(
            marker("Fly app sp-1 created", "sp-1"),
            Some(Marker::Created)
        );
        assert_eq!(
            marker("Fly app sp-1 removed", "sp-1"),
            Some(Marker::Removed)
        );
        assert_eq!(marker("Fly app sp-12 created", "sp-1"), None);
        assert_eq!(marker("machine m1 runs sha256:x", "sp-1"), None);
    }
}
