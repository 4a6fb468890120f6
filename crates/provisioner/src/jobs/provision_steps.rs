//! The individual provisioning steps. Each is safe to rerun: on an app that existed before this run
//! (`fresh == false`) it first looks for what an earlier attempt made and reuses it, except what Fly
//! is still deleting (a lingering app, a `pending_destroy` volume).

use std::collections::BTreeMap;

use mgmt_domain::{DnsEnsured, EventType, Plan, Tenant};
use mgmt_fly_client::{CreateVolumeRequest, FlyError, IpAssignment, IpKind};
use secrecy::SecretString;

use super::provision::StepFailure;
use crate::credentials::ProvisionSecrets;
use crate::ownership::AppMarker;
use crate::service::TenantService;

/// The name Fly answers for the tenant's app: what its public hostname is a CNAME to.
pub(crate) fn dns_target(tenant: &Tenant) -> String {
    format!("{}.fly.dev", tenant.fly_app_name)
}

fn is_public_v6(ip: &IpAssignment) -> bool {
    // Fly's private IPv6 (6PN) addresses live in fdaa::/16.
    ip.ip.contains(':') && !ip.ip.starts_with("fdaa") && ip.shared != Some(true)
}

fn is_shared_v4(ip: &IpAssignment) -> bool {
    ip.ip.contains('.') && ip.shared != Some(false)
}

/// A volume Fly is already removing (never reused).
fn volume_going(v: &mgmt_fly_client::Volume) -> bool {
    matches!(
        v.state.as_deref(),
        Some("destroyed" | "destroying" | "pending_destroy")
    )
}

/// A failure after which the create may have happened: the answer was lost, or Fly failed after it
/// may have acted. What exists is looked up before the step is called failed.
fn ambiguous(e: &FlyError) -> bool {
    e.is_transient() || matches!(e, FlyError::Decode(_))
}

impl TenantService {
    /// Creates the app, or adopts it when this tenant's event log proves it asked for it (see
    /// `ownership`: the intent is recorded before `create_app` is called). Returns whether an app of
    /// ours may exist (so compensation must remove it) and whether it is fresh (nothing to reuse inside).
    pub(super) async fn step_app(&self, tenant: &Tenant) -> (bool, Result<bool, StepFailure>) {
        let app = &tenant.fly_app_name;
        self.event(
            tenant,
            EventType::VmProvisioningStarted,
            format!("creating Fly app {app}"),
        )
        .await;
        let fail = |e: &dyn std::fmt::Display| StepFailure::new("app", e);
        let marker = match self.app_marker(tenant).await {
            Ok(m) => m,
            Err(e) => return (false, Err(StepFailure::service("app", e))),
        };
        if !matches!(marker, AppMarker::Requested | AppMarker::Created) {
            // Look before recording the intent: an app that exists before we ever asked for it is
            // someone else's (made by hand, the old system, another installation) and is never adopted.
            match self.fly.get_app(app).await {
                Err(e) if e.is_not_found() => {}
                Err(e) => return (false, Err(StepFailure::fly("app", e))),
                // Our own earlier app, still being deleted by Fly: wait for it to go.
                Ok(a)
                    if marker == AppMarker::Removed && super::compensate::app_is_lingering(&a) =>
                {
                    if let Err(e) = self.wait_app_gone(app).await {
                        return (false, Err(StepFailure::transient("app", e)));
                    }
                }
                Ok(_) => {
                    let msg = format!(
                        "a Fly app named {app} already exists and was not created for this tenant"
                    );
                    return (false, Err(fail(&msg)));
                }
            }
            if let Err(e) = self.mark_app(tenant, AppMarker::Requested).await {
                return (false, Err(StepFailure::service("app", e)));
            }
        }
        // From here on an app of this name is ours, whatever Fly answers.
        // Each tenant gets its own private network, so its machine cannot reach other tenants' apps.
        let network = mgmt_domain::naming::fly_network_name(&tenant.id);
        let mut created = self.fly.create_app(app, Some(&network)).await;
        // An app of ours still being deleted (a compensation or cleanup whose delete Fly has not
        // finished) must not be adopted: wait for it to go, then create it afresh.
        let lingering = created
            .as_ref()
            .is_ok_and(|c| !c.created && super::compensate::app_is_lingering(&c.app));
        if lingering {
            if let Err(e) = self.wait_app_gone(app).await {
                return (true, Err(StepFailure::transient("app", e)));
            }
            created = self.fly.create_app(app, Some(&network)).await;
        }
        let created = match created {
            Ok(c) => c,
            // The name is taken, and we asked for it: it is our app from an attempt whose answer was
            // lost, not visible yet. Look again on the next attempt.
            Err(FlyError::NameTaken(_)) => {
                let msg = format!("the Fly app {app} we asked for is not visible yet");
                return (true, Err(StepFailure::transient("app", msg)));
            }
            // A definite refusal: nothing was created.
            Err(e @ FlyError::Api { .. }) => {
                let _ = self.mark_app(tenant, AppMarker::Removed).await;
                return (false, Err(StepFailure::fly("app", e)));
            }
            // Ambiguous (a lost answer, a 5xx or timeout after Fly may have acted): it may exist.
            Err(e) => return (true, Err(StepFailure::fly("app", e))),
        };
        let marker = async {
            if created.created {
                self.mark_app(tenant, AppMarker::Created).await
            } else {
                Ok(())
            }
        };
        let visible = self
            .fly
            .wait_for_app(app, self.config.machine.app_visible_timeout);
        match futures::join!(marker, visible) {
            (Ok(()), Ok(_)) => (true, Ok(created.created)),
            (Err(e), _) => (true, Err(StepFailure::service("app", e))),
            (_, Err(e)) => (true, Err(StepFailure::fly("app", e))),
        }
    }

    pub(super) async fn step_secrets(
        &self,
        tenant: &Tenant,
        creds: &ProvisionSecrets,
    ) -> Result<u64, StepFailure> {
        let mut secrets: BTreeMap<String, SecretString> = self.config.extra_secrets.clone();
        secrets.insert(
            "DATABASE_URL".into(),
            self.internal_database_url(tenant, &creds.database_password),
        );
        secrets.insert("JWT_SECRET".into(), creds.jwt_secret.clone());
        let names: Vec<String> = secrets.keys().cloned().collect();
        let version = self
            .fly
            .set_secrets(&tenant.fly_app_name, secrets)
            .await
            .map_err(|e| StepFailure::fly("secrets", e))?;
        self.repos
            .tenants
            .raise_secrets_version(tenant.id, version)
            .await
            .map_err(|e| StepFailure::service("secrets", e.into()))?;
        self.event(
            tenant,
            EventType::SecretsConfigured,
            format!("app secrets set: {}", names.join(", ")),
        )
        .await;
        Ok(version)
    }

    pub(super) async fn step_volume(
        &self,
        tenant: &Tenant,
        plan: &Plan,
        fresh: bool,
    ) -> Result<String, StepFailure> {
        let app = &tenant.fly_app_name;
        let name = &self.config.machine.volume_name;
        let fail = |e: FlyError| StepFailure::fly("volume", e);
        if !fresh {
            let existing = self.fly.list_volumes(app).await.map_err(fail)?;
            let reusable = existing
                .into_iter()
                .find(|v| &v.name == name && !volume_going(v));
            if let Some(v) = reusable {
                self.event(
                    tenant,
                    EventType::VmProvisioningProgress,
                    format!("volume {name} ({}) reused", v.id),
                )
                .await;
                return Ok(v.id);
            }
        }
        let req = CreateVolumeRequest {
            name: name.clone(),
            region: tenant.region.clone(),
            size_gb: u32::try_from(plan.volume_gb).unwrap_or(1).max(1),
            encrypted: Some(true),
        };
        let v = match self.fly.create_volume(app, &req).await {
            Ok(v) => v,
            // The answer was lost (or Fly failed after acting): look for the volume it may have made.
            Err(e) if ambiguous(&e) => match self.fly.list_volumes(app).await {
                Ok(list) => match list
                    .into_iter()
                    .find(|v| &v.name == name && !volume_going(v))
                {
                    Some(v) => v,
                    None => return Err(StepFailure::fly("volume", e)),
                },
                Err(_) => return Err(StepFailure::fly("volume", e)),
            },
            Err(e) => return Err(fail(e)),
        };
        self.event(
            tenant,
            EventType::VmProvisioningProgress,
            format!("volume {name} ({}) created", v.id),
        )
        .await;
        Ok(v.id)
    }

    /// Shared IPv4 and public IPv6, assigned concurrently. Returns every address that exists (for
    /// compensation) even when one of the two failed.
    pub(super) async fn step_ips(
        &self,
        tenant: &Tenant,
        fresh: bool,
    ) -> (Vec<String>, Result<(), StepFailure>) {
        let app = &tenant.fly_app_name;
        let fail = |e: FlyError| StepFailure::fly("ip addresses", e);
        let existing = if fresh {
            Vec::new()
        } else {
            match self.fly.list_ips(app).await {
                Ok(list) => list,
                Err(e) => return (Vec::new(), Err(fail(e))),
            }
        };
        let mut ips: Vec<String> = existing.iter().map(|i| i.ip.clone()).collect();
        let need_v4 = !existing.iter().any(is_shared_v4);
        let need_v6 = !existing.iter().any(is_public_v6);
        let assign = |needed: bool, kind: IpKind| async move {
            if needed {
                self.fly.assign_ip(app, kind).await.map(Some)
            } else {
                Ok(None)
            }
        };
        let (v4, v6) = futures::join!(
            assign(need_v4, IpKind::SharedV4),
            assign(need_v6, IpKind::V6)
        );
        let mut first_err = None;
        let mut lost = Vec::new();
        for (r, kind) in [(v4, IpKind::SharedV4), (v6, IpKind::V6)] {
            match r {
                Ok(Some(ip)) => ips.push(ip.ip),
                Ok(None) => {}
                Err(e) if ambiguous(&e) => lost.push((kind, e)),
                Err(e) => first_err = first_err.or(Some(fail(e))),
            }
        }
        if !lost.is_empty() {
            // An answer was lost (or Fly failed after acting): the address may have been assigned.
            // Look, and adopt what is there; what is not is a failure to retry.
            match self.fly.list_ips(app).await {
                Ok(now) => {
                    for (kind, e) in lost {
                        let found = now.iter().find(|i| match kind {
                            IpKind::SharedV4 => is_shared_v4(i),
                            _ => is_public_v6(i),
                        });
                        match found {
                            Some(i) if !ips.contains(&i.ip) => ips.push(i.ip.clone()),
                            Some(_) => {}
                            None => first_err = first_err.or(Some(fail(e))),
                        }
                    }
                }
                Err(_) => {
                    for (_, e) in lost {
                        first_err = first_err.or(Some(fail(e)));
                    }
                }
            }
        }
        if let Some(e) = first_err {
            return (ips, Err(e));
        }
        self.event(
            tenant,
            EventType::VmProvisioningProgress,
            "shared IPv4 and IPv6 assigned",
        )
        .await;
        (ips, Ok(()))
    }

    /// Points the tenant's public hostname at its Fly app (`{12hex}.{suffix}` → `sp-{12hex}.fly.dev`).
    /// Needs nothing else to exist (a CNAME may name an app not created yet), so it runs from the start.
    /// Returns whether this run created the record (compensation removes only that; an adopted one,
    /// identical to what we want, is left for cleanup). Without a DNS provider it does nothing.
    pub(super) async fn step_dns(&self, tenant: &Tenant) -> Result<bool, StepFailure> {
        let Some(dns) = &self.dns else {
            return Ok(false);
        };
        let target = dns_target(tenant);
        let outcome = dns
            .ensure_cname(&tenant.hostname, &target)
            .await
            .map_err(|e| StepFailure::new("dns record", e))?;
        let verb = match outcome {
            DnsEnsured::Created => "created",
            DnsEnsured::Adopted => "already in place",
        };
        self.event(
            tenant,
            EventType::VmProvisioningProgress,
            format!("DNS record {} → {target} {verb}", tenant.hostname),
        )
        .await;
        Ok(outcome == DnsEnsured::Created)
    }

    /// Returns whether a certificate exists for the tenant's hostname (false when certificates are off).
    pub(super) async fn step_certificate(
        &self,
        tenant: &Tenant,
        fresh: bool,
    ) -> Result<bool, StepFailure> {
        if !self.config.certificates_enabled {
            return Ok(false);
        }
        let (app, host) = (&tenant.fly_app_name, &tenant.hostname);
        let fail = |e: FlyError| StepFailure::fly("certificate", e);
        if !fresh {
            match self.fly.get_certificate(app, host).await {
                Ok(_) => return Ok(true),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(fail(e)),
            }
        }
        self.fly.add_certificate(app, host).await.map_err(fail)?;
        self.event(
            tenant,
            EventType::VmProvisioningProgress,
            format!("certificate requested for {host}"),
        )
        .await;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(ip: &str, shared: Option<bool>) -> IpAssignment {
        IpAssignment {
            ip: ip.into(),
            region: None,
            shared,
            service_name: None,
            created_at: None,
        }
    }

    #[test]
    fn classifies_existing_addresses() {
        assert!(is_shared_v4(&ip("66.241.124.1", Some(true))));
        assert!(!is_shared_v4(&ip("2a09:8280:1::1", None)));
        assert!(is_public_v6(&ip("2a09:8280:1::1", None)));
        assert!(!is_public_v6(&ip("fdaa:0:1::3", None)));
    }
}
