//! The ports of [`crate::ports`] implemented by the real layers: the provisioner's `TenantService` and
//! the registry gateway's `CredentialIssuer`. Error translation happens here, once.

use std::collections::BTreeMap;

use async_trait::async_trait;
use registry_gateway::CredentialIssuer;
use secrecy::SecretString;
use tenant_domain::{Customer, Deployment, Tenant, TenantId};
use tenant_provisioner::{CreateTenant, ServiceError, TenantService};

use crate::ports::{
    CommandError, CommandResult, CreateTenantCommand, PushCredential, RegistryCredentials,
    TenantCommands,
};

impl From<ServiceError> for CommandError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound => Self::NotFound,
            ServiceError::InvalidInput(m) => Self::InvalidInput(m),
            ServiceError::Conflict(m) => Self::Conflict(m),
            ServiceError::QuotaExceeded(m) => Self::QuotaExceeded(m),
            ServiceError::ImageNotFound(m) => Self::ImageNotFound(m),
            ServiceError::Unavailable(m) => Self::Unavailable(m),
            ServiceError::Internal(m) => Self::Internal(m),
            other => Self::Internal(other.to_string()),
        }
    }
}

#[async_trait]
impl TenantCommands for TenantService {
    async fn create_tenant(
        &self,
        customer: &Customer,
        req: CreateTenantCommand,
    ) -> CommandResult<Tenant> {
        let req = CreateTenant {
            name: req.name,
            plan_id: req.plan_id,
            region: req.region,
        };
        Ok(TenantService::create_tenant(self, customer, req).await?)
    }

    async fn retry_provision(&self, customer: &Customer, id: TenantId) -> CommandResult<Tenant> {
        Ok(TenantService::retry_provision(self, customer.id, id).await?)
    }

    async fn deploy(
        &self,
        customer: &Customer,
        id: TenantId,
        image: &str,
    ) -> CommandResult<(Tenant, Deployment)> {
        TenantService::deploy(self, customer.id, id, image)
            .await
            .map_err(|e| match e {
                // The only input of a deploy is the image: a refusal is the deploy rule's.
                ServiceError::InvalidInput(m) => CommandError::InvalidImage(m),
                other => other.into(),
            })
    }

    async fn restart(&self, customer: &Customer, id: TenantId) -> CommandResult<Tenant> {
        Ok(TenantService::restart(self, customer.id, id).await?)
    }

    async fn set_secrets(
        &self,
        customer: &Customer,
        id: TenantId,
        secrets: BTreeMap<String, SecretString>,
    ) -> CommandResult<()> {
        Ok(TenantService::set_secrets(self, customer.id, id, secrets).await?)
    }

    async fn list_secret_names(
        &self,
        customer: &Customer,
        id: TenantId,
    ) -> CommandResult<Vec<String>> {
        Ok(TenantService::list_secret_names(self, customer.id, id).await?)
    }

    async fn unset_secret(
        &self,
        customer: &Customer,
        id: TenantId,
        key: &str,
    ) -> CommandResult<()> {
        Ok(TenantService::unset_secret(self, customer.id, id, key).await?)
    }

    async fn delete_tenant(&self, customer: &Customer, id: TenantId) -> CommandResult<Tenant> {
        Ok(TenantService::delete_tenant(self, customer.id, id).await?)
    }
}

#[async_trait]
impl RegistryCredentials for CredentialIssuer {
    async fn issue(&self, tenant: &Tenant) -> CommandResult<PushCredential> {
        let c = CredentialIssuer::issue(self, tenant.id);
        Ok(PushCredential {
            registry: c.registry,
            username: c.username,
            token: c.token,
            repository: c.repository,
            tag: c.tag,
            expires_at: c.expires_at,
        })
    }
}
