//! The individual provisioning steps. Each is safe to rerun: on an app that existed before this run
//! (`fresh == false`) it first looks for what an earlier attempt made and reuses it, except what Fly
//! is still deleting (a lingering app, a `pending_destroy` volume).

use std::collections::BTreeMap;

use mgmt_domain::{DnsEnsured, EventType, Plan, Tenant};
use mgmt_fly_client::{CreateVolumeRequest, FlyError, IpAssignment, IpKind};
use secrecy::SecretString;

use super::provision::StepFailure;
use crate::credentials::ProvisionSecrets;
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

impl TenantService {
    /// Creates the app, or reuses it if this tenant's event log proves it made it. Returns whether the
    /// app is ours (so compensation may delete it) and whether it is fresh (nothing to reuse inside).
    pub(super) async fn step_app(&self, tenant: &Tenant) -> (bool, Result<bool, StepFailure>) {
        let app = &tenant.fly_app_name;
        self.event(
            tenant,
            EventType::VmProvisioningStarted,
            format!("creating Fly app {app}"),
        )
        .await;
        let fail = |e: &dyn std::fmt::Display| StepFailure::new("app", e);
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
                return (false, Err(fail(&e)));
            }
            created = self.fly.create_app(app, Some(&network)).await;
        }
        let created = match created {
            Ok(c) => c,
            Err(FlyError::NameTaken(_)) => {
                return (
                    false,
                    Err(fail(&format!(
                        "the Fly app name {app} is taken by an app that is not this tenant's"
                    ))),
                );
            }
            Err(e) => return (false, Err(fail(&e))),
        };
        if !created.created {
            match self.app_is_ours(tenant).await {
                Ok(true) => {}
                Ok(false) => {
                    let msg = format!(
                        "a Fly app named {app} already exists and was not created for this tenant"
                    );
                    return (false, Err(fail(&msg)));
                }
                Err(e) => return (false, Err(fail(&e))),
            }
        }
        // The ownership marker is written while we wait for the new app to become visible.
        let marker = async {
            if created.created {
                self.mark_app_created(tenant).await
            } else {
                Ok(())
            }
        };
        let visible = self
            .fly
            .wait_for_app(app, self.config.machine.app_visible_timeout);
        match futures::join!(marker, visible) {
            (Ok(()), Ok(_)) => (true, Ok(created.created)),
            (Err(e), _) => (true, Err(fail(&e))),
            (_, Err(e)) => (true, Err(fail(&e))),
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
            .map_err(|e| StepFailure::new("secrets", e))?;
        self.repos
            .tenants
            .raise_secrets_version(tenant.id, version)
            .await
            .map_err(|e| StepFailure::new("secrets", e))?;
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
        let fail = |e: FlyError| StepFailure::new("volume", e);
        if !fresh {
            let existing = self.fly.list_volumes(app).await.map_err(fail)?;
            let reusable = existing.into_iter().find(|v| {
                &v.name == name
                    && !matches!(
                        v.state.as_deref(),
                        Some("destroyed" | "destroying" | "pending_destroy")
                    )
            });
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
        let v = self.fly.create_volume(app, &req).await.map_err(fail)?;
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
        let fail = |e: FlyError| StepFailure::new("ip addresses", e);
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
        for r in [v4, v6] {
            match r {
                Ok(Some(ip)) => ips.push(ip.ip),
                Ok(None) => {}
                Err(e) => first_err = first_err.or(Some(fail(e))),
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
        let fail = |e: FlyError| StepFailure::new("certificate", e);
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
