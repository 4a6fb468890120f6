//! Custom domains: a customer points a hostname of their own at their tenant. We hold the claim (one
//! domain per tenant, one tenant per domain), Fly holds the certificate; the customer adds the CNAME
//! Fly asks for, and each read asks Fly whether the certificate is issued yet.
//!
//! The claim is stored before Fly is asked, so two tenants racing for a domain cannot both get a
//! certificate; a Fly failure gives the claim back. A claim whose certificate is missing on Fly (a
//! crash between the two steps) is repaired by the next read, which requests the certificate again.

use chrono::Utc;
use mgmt_domain::{
    CustomDomain, CustomerId, NewCustomDomain, RepoError, Tenant, TenantId, normalize_custom_domain,
};
use mgmt_fly_client::{Certificate, FlyError};

use crate::error::ServiceError;
use crate::jobs::dns_target;
use crate::service::TenantService;

/// What a custom-domain call can fail with, besides the common [`ServiceError`]s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CustomDomainError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The tenant has no custom domain.
    #[error("the tenant has no custom domain")]
    NoDomain,
    /// Another tenant (or another Fly app) holds the domain. Whose is never said.
    #[error("the domain is already in use")]
    DomainTaken,
}

impl From<RepoError> for CustomDomainError {
    fn from(e: RepoError) -> Self {
        Self::Service(e.into())
    }
}

impl From<FlyError> for CustomDomainError {
    fn from(e: FlyError) -> Self {
        Self::Service(e.into())
    }
}

/// The outcome of a set: the domain, and whether this call claimed it (a repeat returns the existing one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomDomainSet {
    pub domain: CustomDomain,
    pub created: bool,
}

/// Fly's word for a certificate it has not reported on yet.
const STATUS_REQUESTED: &str = "requested";

impl TenantService {
    /// Where a customer points their domain. With the tenant's public record managed by us (a DNS
    /// provider is configured), the domain goes through the same path as the tenant's own URL: a CNAME to
    /// `{12hex}.{suffix}`, which our record keeps pointed at the app — the Fly app name stays ours to
    /// change. Without one, Fly's own target for the certificate.
    fn custom_domain_target(&self, tenant: &Tenant, fly_says: Option<String>) -> String {
        if self.dns.is_some() {
            return tenant.hostname.clone();
        }
        fly_says
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| dns_target(tenant))
    }
}

impl TenantService {
    /// Claims `domain` for the tenant and asks Fly for its certificate. The same domain again returns
    /// the existing claim; a different one while one exists is a conflict (remove it first).
    #[tracing::instrument(skip(self))]
    pub async fn set_custom_domain(
        &self,
        customer: CustomerId,
        id: TenantId,
        domain: &str,
    ) -> Result<CustomDomainSet, CustomDomainError> {
        let domain = normalize_custom_domain(domain, &self.config.subdomain_suffix)
            .map_err(|e| ServiceError::InvalidInput(e.to_string()))?;
        let tenant = self.load_owned(customer, id).await?;
        if !tenant.infrastructure_ready() {
            return Err(ServiceError::Conflict(format!(
                "a custom domain can be added once provisioning has finished (the tenant is {})",
                tenant.state
            ))
            .into());
        }
        if let Some(existing) = self.repos.custom_domains.get_for_tenant(id).await? {
            if existing.domain == domain {
                let domain = self.refresh(&tenant, existing).await?;
                return Ok(CustomDomainSet {
                    domain,
                    created: false,
                });
            }
            return Err(ServiceError::Conflict(format!(
                "the tenant already has the custom domain {}; remove it first",
                existing.domain
            ))
            .into());
        }
        let new = NewCustomDomain {
            tenant_id: id,
            domain: domain.clone(),
            dns_target: self.custom_domain_target(&tenant, None),
            status: STATUS_REQUESTED.to_owned(),
        };
        let claimed = match self.repos.custom_domains.insert(new).await {
            Ok(c) => c,
            Err(RepoError::Conflict { .. }) => return Err(self.why_taken(id, &domain).await),
            Err(e) => return Err(e.into()),
        };
        let cert = match self
            .fly
            .add_certificate(&tenant.fly_app_name, &domain)
            .await
        {
            Ok(cert) => cert,
            Err(e) => {
                // Give the claim back: the customer may retry, or another tenant may take the domain.
                if let Err(undo) = self.repos.custom_domains.delete(id).await {
                    tracing::warn!(tenant_id = %id, error = %undo, "could not release a custom domain claim");
                }
                return Err(fly_add_error(e));
            }
        };
        tracing::info!(tenant_id = %id, domain = %domain, "custom domain claimed");
        let domain = self.record(&tenant, &claimed, &cert).await?;
        Ok(CustomDomainSet {
            domain,
            created: true,
        })
    }

    /// The tenant's custom domain, with the certificate's state as Fly reports it now.
    #[tracing::instrument(skip(self))]
    pub async fn custom_domain(
        &self,
        customer: CustomerId,
        id: TenantId,
    ) -> Result<CustomDomain, CustomDomainError> {
        let tenant = self.load_owned(customer, id).await?;
        let record = self
            .repos
            .custom_domains
            .get_for_tenant(id)
            .await?
            .ok_or(CustomDomainError::NoDomain)?;
        if !tenant.infrastructure_ready() {
            // No app to ask (being deleted, or not provisioned again yet): what we know is all there is.
            return Ok(record);
        }
        self.refresh(&tenant, record).await
    }

    /// Removes the tenant's custom domain and its certificate; nothing to remove is done too.
    #[tracing::instrument(skip(self))]
    pub async fn remove_custom_domain(
        &self,
        customer: CustomerId,
        id: TenantId,
    ) -> Result<(), CustomDomainError> {
        let tenant = self.load_owned(customer, id).await?;
        let Some(record) = self.repos.custom_domains.get_for_tenant(id).await? else {
            return Ok(());
        };
        if tenant.infrastructure_ready() {
            // The certificate goes first: if Fly fails, the claim stays and a retry finishes the job.
            match self
                .fly
                .delete_certificate(&tenant.fly_app_name, &record.domain)
                .await
            {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.repos.custom_domains.delete(id).await?;
        tracing::info!(tenant_id = %id, domain = %record.domain, "custom domain removed");
        Ok(())
    }

    /// Asks Fly about the certificate (requesting it again if Fly has none) and records the answer.
    async fn refresh(
        &self,
        tenant: &Tenant,
        record: CustomDomain,
    ) -> Result<CustomDomain, CustomDomainError> {
        let app = &tenant.fly_app_name;
        let cert = match self.fly.get_certificate(app, &record.domain).await {
            Ok(cert) => cert,
            Err(e) if e.is_not_found() => self
                .fly
                .add_certificate(app, &record.domain)
                .await
                .map_err(fly_add_error)?,
            Err(e) => return Err(e.into()),
        };
        self.record(tenant, &record, &cert).await
    }

    /// Stores what Fly said; the first report of an issued certificate stamps `verified_at`.
    async fn record(
        &self,
        tenant: &Tenant,
        record: &CustomDomain,
        cert: &Certificate,
    ) -> Result<CustomDomain, CustomDomainError> {
        let fly_says = cert.dns_requirements.as_ref().and_then(|d| d.cname.clone());
        let target = self.custom_domain_target(tenant, fly_says);
        let status = cert.status.as_deref().unwrap_or(&record.status);
        let issued = cert.is_issued().then(Utc::now);
        if record.verified_at.is_none() && issued.is_some() {
            tracing::info!(tenant_id = %tenant.id, domain = %record.domain, "custom domain verified");
        }
        match self
            .repos
            .custom_domains
            .record_status(tenant.id, status, &target, issued)
            .await
        {
            Ok(updated) => Ok(updated),
            // Removed meanwhile by a concurrent delete.
            Err(RepoError::NotFound { .. }) => Err(CustomDomainError::NoDomain),
            Err(e) => Err(e.into()),
        }
    }

    /// An insert refused by a unique constraint: the domain is someone else's, or this tenant got one
    /// concurrently.
    async fn why_taken(&self, id: TenantId, domain: &str) -> CustomDomainError {
        match self.repos.custom_domains.find_by_domain(domain).await {
            Ok(Some(holder)) if holder.tenant_id != id => CustomDomainError::DomainTaken,
            Ok(_) => ServiceError::Conflict(
                "the tenant got a custom domain concurrently; remove it first".to_owned(),
            )
            .into(),
            Err(e) => e.into(),
        }
    }
}

/// Fly refusing a certificate: a hostname held by another app is taken; another refusal of the name
/// is the customer's input; the rest is the common mapping.
fn fly_add_error(e: FlyError) -> CustomDomainError {
    match e {
        FlyError::Api {
            status: 422,
            message,
        } if message.contains("taken") => CustomDomainError::DomainTaken,
        FlyError::Api { status: 422, .. } => ServiceError::InvalidInput(
            "Fly refused a certificate for this domain; check its spelling".to_owned(),
        )
        .into(),
        other => other.into(),
    }
}
