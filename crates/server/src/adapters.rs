//! The HTTP layer's ports ([`mgmt_http::ports`]) implemented by the real layers: the
//! provisioner's `TenantService` behind [`ProvisionerCommands`] and the registry gateway's
//! `CredentialIssuer` behind [`GatewayCredentials`]. Error translation happens here, once; unexpected
//! errors are passed on whole, as the source of the command error, so a 500's log line shows them.
//!
//! They are newtypes because neither the ports nor the implementations are this crate's.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use mgmt_billing::{CancelError, SubscriptionService};
use mgmt_domain::{CustomDomain, Customer, Deployment, Tenant, TenantId};
use mgmt_http::ports::{
    BillingCommands, CommandError, CommandResult, CreateTenantCommand, CustomDomainOutcome,
    ExternalDbAccessState, PushCredential, RegistryCredentials, RotatedCredentials, TenantCommands,
    TenantCredentials,
};
use mgmt_provisioner::{CreateTenant, CustomDomainError, ServiceError, TenantService};
use mgmt_registry_gateway::CredentialIssuer;
use secrecy::SecretString;

/// Billing, run by the billing crate's subscription service.
#[derive(Debug, Clone)]
pub struct PaddleBilling(pub Arc<SubscriptionService>);

/// A custom-domain failure in the HTTP layer's words.
pub fn custom_domain_error(e: CustomDomainError) -> CommandError {
    match e {
        CustomDomainError::NoDomain => CommandError::CustomDomainNotFound,
        CustomDomainError::DomainTaken => CommandError::DomainTaken(
            "the domain is already in use; choose another, or remove it where it is set".to_owned(),
        ),
        CustomDomainError::Service(e) => command_error(e),
        other => CommandError::internal(other),
    }
}

/// A cancel failure in the HTTP layer's words: Paddle unreachable (or its answer lost) is 503, a
/// refusal 502 naming Paddle's code; storage failures map as everywhere else.
pub fn cancel_error(e: CancelError) -> CommandError {
    match e {
        CancelError::TenantNotFound => CommandError::NotFound,
        CancelError::SubscriptionNotFound => CommandError::SubscriptionNotFound,
        CancelError::Conflict(m) => CommandError::Conflict(m),
        CancelError::Unavailable(cause) => CommandError::unavailable(cause),
        CancelError::Refused { code, source } => {
            tracing::warn!(error = %mgmt_domain::ErrorChain(&source), "the billing provider refused a cancel");
            CommandError::UpstreamRefused(format!(
                "the billing provider refused the cancellation ({code}); contact support"
            ))
        }
        CancelError::Storage(e) if e.is_transient() => CommandError::unavailable(e),
        CancelError::Storage(e) => CommandError::internal(e),
        other => CommandError::internal(other),
    }
}

#[async_trait]
impl BillingCommands for PaddleBilling {
    async fn cancel_subscription(&self, customer: &Customer, id: TenantId) -> CommandResult<()> {
        self.0
            .cancel(customer.id, id)
            .await
            .map(|_| ())
            .map_err(cancel_error)
    }
}

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
        ServiceError::NotReady(m) => CommandError::NotReady(m),
        ServiceError::NotConfigured(m) => CommandError::NotConfigured(m),
        ServiceError::ImageNotFound(m) => CommandError::ImageNotFound(m),
        unavailable if unavailable.is_transient() => CommandError::unavailable(unavailable),
        other => CommandError::internal(other),
    }
}

#[async_trait]
impl TenantCommands for ProvisionerCommands {
    async fn set_custom_domain(
        &self,
        customer: &Customer,
        id: TenantId,
        domain: &str,
    ) -> CommandResult<CustomDomainOutcome> {
        let set = self
            .0
            .set_custom_domain(customer.id, id, domain)
            .await
            .map_err(custom_domain_error)?;
        Ok(CustomDomainOutcome {
            domain: set.domain,
            created: set.created,
        })
    }

    async fn custom_domain(
        &self,
        customer: &Customer,
        id: TenantId,
    ) -> CommandResult<CustomDomain> {
        self.0
            .custom_domain(customer.id, id)
            .await
            .map_err(custom_domain_error)
    }

    async fn remove_custom_domain(&self, customer: &Customer, id: TenantId) -> CommandResult<()> {
        self.0
            .remove_custom_domain(customer.id, id)
            .await
            .map_err(custom_domain_error)
    }

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

    async fn credentials(
        &self,
        customer: &Customer,
        id: TenantId,
    ) -> CommandResult<TenantCredentials> {
        let c = self
            .0
            .credentials(customer.id, id)
            .await
            .map_err(command_error)?;
        Ok(TenantCredentials {
            jwt_secret: c.jwt_secret,
            database_url: c.database_url,
            internal_database_url: c.internal_database_url,
            app_url: c.app_url,
        })
    }

    async fn rotate_credentials(
        &self,
        customer: &Customer,
        id: TenantId,
    ) -> CommandResult<RotatedCredentials> {
        let r = self
            .0
            .rotate_credentials(customer.id, id)
            .await
            .map_err(command_error)?;
        Ok(RotatedCredentials {
            internal_database_url: r.internal_database_url,
            external_database_url: r.external_database_url,
        })
    }

    async fn set_external_db_access(
        &self,
        customer: &Customer,
        id: TenantId,
        enabled: bool,
    ) -> CommandResult<ExternalDbAccessState> {
        let a = self
            .0
            .set_external_db_access(customer.id, id, enabled)
            .await
            .map_err(command_error)?;
        Ok(ExternalDbAccessState {
            enabled: a.enabled,
            database_url: a.database_url,
        })
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

/// The HTTP layer's [`mgmt_http::ports::TokenIssuance`] on `mgmt-identity`'s issuer.
pub struct IdentityTokens {
    issuer: Arc<mgmt_identity::TokenIssuer>,
    jwks: String,
}

impl IdentityTokens {
    pub fn new(issuer: Arc<mgmt_identity::TokenIssuer>) -> Self {
        let jwks = issuer.keys().jwks_json();
        Self { issuer, jwks }
    }
}

impl std::fmt::Debug for IdentityTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityTokens")
            .field("issuer", &self.issuer.issuer())
            .finish_non_exhaustive()
    }
}

impl mgmt_http::ports::TokenIssuance for IdentityTokens {
    fn issuer(&self) -> &str {
        self.issuer.issuer()
    }

    fn jwks_json(&self) -> &str {
        &self.jwks
    }

    fn exchange(
        &self,
        request: &mgmt_http::ports::ExchangeRequest,
    ) -> Result<mgmt_http::ports::ExchangedToken, mgmt_http::ports::BoxError> {
        let issued = self
            .issuer
            .mint_exchanged(&mgmt_identity::ExchangeSubject {
                subject: request.subject.clone(),
                email: request.email.clone(),
                username: request.username.clone(),
                tenant_ids: request.tenant_ids.clone(),
                auth_time: request.auth_time,
            })?;
        Ok(mgmt_http::ports::ExchangedToken {
            token: issued.token,
            expires_in: self.issuer.exchange_ttl().as_secs(),
        })
    }
}

/// The CLI login (GitHub/Google), run by the identity crate's `LoginService`.
#[derive(Debug)]
pub struct IdentityLogin(pub Arc<mgmt_identity::oauth::LoginService>);

#[async_trait]
impl mgmt_http::ports::LoginFlow for IdentityLogin {
    async fn authorize_url(
        &self,
        provider: &str,
        redirect_uri: &str,
    ) -> Result<String, mgmt_http::ports::LoginStartError> {
        use mgmt_http::ports::LoginStartError as E;
        use mgmt_identity::oauth::StartError;
        self.0
            .start(provider, redirect_uri)
            .await
            .map_err(|e| match e {
                StartError::UnknownProvider(p) => E::UnknownProvider(p),
                StartError::NotConfigured(p) => E::NotConfigured(p.to_string()),
                StartError::RedirectRefused(r) => E::RedirectRefused(r.to_string()),
                e @ StartError::Unavailable(_) => E::Unavailable(Box::new(e)),
            })
    }

    async fn callback(
        &self,
        provider: &str,
        q: mgmt_http::ports::LoginCallbackQuery,
    ) -> mgmt_http::ports::LoginCallbackOutcome {
        use mgmt_http::ports::LoginCallbackOutcome as O;
        use mgmt_identity::oauth::{CallbackOutcome, CallbackQuery};
        let query = CallbackQuery {
            code: q.code,
            state: q.state,
            error: q.error,
            error_description: q.error_description,
        };
        match self.0.finish(provider, query).await {
            CallbackOutcome::Redirect(location) => O::Redirect(location),
            CallbackOutcome::Refused { code, message } => O::Refused { code, message },
        }
    }
}
