//! The HTTP layer's ports ([`mgmt_http::ports`]) implemented by the real layers: the
//! provisioner's `TenantService` behind [`ProvisionerCommands`] and the registry gateway's
//! `CredentialIssuer` behind [`GatewayCredentials`]. Error translation happens here, once; unexpected
//! errors are passed on whole, as the source of the command error, so a 500's log line shows them.
//!
//! They are newtypes because neither the ports nor the implementations are this crate's.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use mgmt_domain::{Customer, Deployment, Tenant, TenantId};
use mgmt_http::ports::{
    CommandError, CommandResult, CreateTenantCommand, PushCredential, RegistryCredentials,
    TenantCommands,
};
use mgmt_provisioner::{CreateTenant, ServiceError, TenantService};
use mgmt_registry_gateway::CredentialIssuer;
use secrecy::SecretString;

/// The tenant commands, run by the provisioner.
#[derive(Debug, Clone)]
pub struct ProvisionerCommands(pub Arc<TenantService>);

/// Registry push credentials, issued by the gateway's signer.
#[derive(Debug, Clone)]
pub struct GatewayCredentials(pub Arc<CredentialIssuer>);

/// The provisioner's error in the HTTP layer's words; unexpected ones keep the whole error as source.
pub fn command_error(e: ServiceError) -> CommandError {
    match e {
        ServiceError::NotFound => CommandError::NotFound,
        ServiceError::InvalidInput(m) => CommandError::InvalidInput(m),
        ServiceError::Conflict(m) => CommandError::Conflict(m),
        ServiceError::QuotaExceeded(m) => CommandError::QuotaExceeded(m),
        ServiceError::ImageNotFound(m) => CommandError::ImageNotFound(m),
        unavailable if unavailable.is_transient() => CommandError::unavailable(unavailable),
        other => CommandError::internal(other),
    }
}

#[async_trait]
impl TenantCommands for ProvisionerCommands {
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
        self.0
            .create_tenant(customer, req)
            .await
            .map_err(command_error)
    }

    async fn retry_provision(&self, customer: &Customer, id: TenantId) -> CommandResult<Tenant> {
        self.0
            .retry_provision(customer.id, id)
            .await
            .map_err(command_error)
    }

    async fn deploy(
        &self,
        customer: &Customer,
        id: TenantId,
        image: &str,
    ) -> CommandResult<(Tenant, Deployment)> {
        self.0
            .deploy(customer.id, id, image)
            .await
            .map_err(|e| match e {
                // The only input of a deploy is the image: a refusal is the deploy rule's.
                ServiceError::InvalidInput(m) => CommandError::InvalidImage(m),
                other => command_error(other),
            })
    }

    async fn restart(&self, customer: &Customer, id: TenantId) -> CommandResult<Tenant> {
        self.0.restart(customer.id, id).await.map_err(command_error)
    }

    async fn set_secrets(
        &self,
        customer: &Customer,
        id: TenantId,
        secrets: BTreeMap<String, SecretString>,
    ) -> CommandResult<()> {
        self.0
            .set_secrets(customer.id, id, secrets)
            .await
            .map_err(command_error)
    }

    async fn list_secret_names(
        &self,
        customer: &Customer,
        id: TenantId,
    ) -> CommandResult<Vec<String>> {
        self.0
            .list_secret_names(customer.id, id)
            .await
            .map_err(command_error)
    }

    async fn unset_secret(
        &self,
        customer: &Customer,
        id: TenantId,
        key: &str,
    ) -> CommandResult<()> {
        self.0
            .unset_secret(customer.id, id, key)
            .await
            .map_err(command_error)
    }

    async fn delete_tenant(&self, customer: &Customer, id: TenantId) -> CommandResult<Tenant> {
        self.0
            .delete_tenant(customer.id, id)
            .await
            .map_err(command_error)
    }
}

#[async_trait]
impl RegistryCredentials for GatewayCredentials {
    async fn issue(&self, tenant: &Tenant) -> CommandResult<PushCredential> {
        let c = self.0.issue(tenant.id);
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

#[cfg(test)]
mod tests {
    use mgmt_http::error::ErrorChain;

    use super::*;

    #[test]
    fn client_errors_keep_their_message_and_unexpected_ones_their_cause() {
        assert!(matches!(
            command_error(ServiceError::NotFound),
            CommandError::NotFound
        ));
        assert!(matches!(
            command_error(ServiceError::Conflict("busy".into())),
            CommandError::Conflict(m) if m == "busy"
        ));
        let e = command_error(ServiceError::Unavailable("circuit open for fly".into()));
        assert!(matches!(e, CommandError::Unavailable(_)), "{e:?}");
        assert!(ErrorChain(&e).to_string().contains("circuit open for fly"));
        let e = command_error(ServiceError::Internal("retries exhausted".into()));
        assert!(matches!(e, CommandError::Internal(_)), "{e:?}");
        assert!(ErrorChain(&e).to_string().ends_with("retries exhausted"));
    }
}
