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

/// The tenant commands, run by the provisioner (the repositories check a paid plan's entitlement).
#[derive(Debug, Clone)]
pub struct ProvisionerCommands(pub Arc<TenantService>, pub mgmt_domain::Repositories);

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
        // A paid plan needs a subscription (the checkout creates those tenants itself).
        let plan = req
            .plan_id
            .as_deref()
            .unwrap_or(mgmt_provisioner::DEFAULT_PLAN);
        match mgmt_billing::check_create_entitlement(&self.1, customer.id, plan).await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return Err(CommandError::QuotaExceeded(why)),
            Err(e) if e.is_transient() => return Err(CommandError::unavailable(e)),
            Err(e) => return Err(CommandError::internal(e)),
        }
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

/// Signup, run by the billing crate's signup service; its errors get their statuses here.
#[derive(Debug, Clone)]
pub struct PaddleSignup(pub Arc<mgmt_billing::SignupService>);

/// A signup failure as the client sees it.
pub fn signup_error(e: mgmt_billing::SignupError) -> mgmt_http::error::ApiError {
    use actix_web::http::StatusCode;
    use mgmt_billing::SignupError as S;
    use mgmt_http::error::ApiError;
    match e {
        S::InvalidInput(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", m),
        S::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            "checkout_session_not_found",
            "checkout session not found",
        ),
        S::Gone(m) => ApiError::new(StatusCode::GONE, "checkout_closed", m),
        S::QuotaExceeded(m) => ApiError::forbidden("quota_exceeded", m),
        S::BillingDisabled => ApiError::unavailable(
            "billing_disabled",
            "paid plans are not available on this server",
        ),
        S::Unavailable(cause) => {
            tracing::warn!(error = %mgmt_domain::ErrorChain(&cause), "the billing provider is unavailable");
            ApiError::unavailable(
                "upstream_unavailable",
                "the billing provider is unavailable; retry shortly",
            )
        }
        S::Refused(code) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_refused",
            format!("the billing provider refused the checkout ({code}); contact support"),
        ),
        S::TenantRefused(m) => ApiError::conflict("tenant_not_created", m),
        S::Storage(e) => e.into(),
        other => ApiError::internal(other),
    }
}

/// A webhook failure as Paddle sees it (any non-2xx makes it redeliver).
pub fn webhook_error(e: mgmt_billing::WebhookError) -> mgmt_http::error::ApiError {
    use mgmt_billing::WebhookError as W;
    use mgmt_http::error::ApiError;
    match e {
        W::NotConfigured => ApiError::unavailable(
            "webhooks_not_configured",
            "Paddle webhooks are not configured on this server",
        ),
        W::Signature(s) => {
            tracing::warn!(reason = %s, "Paddle webhook refused: bad signature");
            ApiError::unauthorized("invalid_signature", s.to_string())
        }
        W::Malformed(m) => ApiError::bad_request("invalid_event", m),
        W::Retry(why) => {
            tracing::warn!(%why, "Paddle webhook stored; acting on it must be retried");
            ApiError::unavailable(
                "retry_later",
                "the event could not be applied yet; redeliver",
            )
        }
        W::Storage(e) => e.into(),
        other => ApiError::internal(other),
    }
}

#[async_trait]
impl mgmt_http::ports::SignupCommands for PaddleSignup {
    async fn start_checkout(
        &self,
        customer: &Customer,
        price_id: &str,
        region: &str,
        redirect_uri: &str,
    ) -> Result<mgmt_http::ports::CheckoutStart, mgmt_http::error::ApiError> {
        let s = self
            .0
            .start_checkout(customer, price_id, region, redirect_uri)
            .await
            .map_err(signup_error)?;
        Ok(mgmt_http::ports::CheckoutStart {
            checkout_url: s.checkout_url,
            transaction_id: s.transaction_id,
            checkout_session_id: s.checkout_session_id,
        })
    }

    async fn confirm_free(&self, session_id: &str) -> Result<String, mgmt_http::error::ApiError> {
        self.0.confirm_free(session_id).await.map_err(signup_error)
    }

    async fn paid_return(
        &self,
        transaction_id: &str,
    ) -> Result<String, mgmt_http::error::ApiError> {
        self.0
            .paid_return(transaction_id)
            .await
            .map_err(signup_error)
    }

    async fn receive_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), mgmt_http::error::ApiError> {
        self.0
            .receive_webhook(signature, body)
            .await
            .map(|_| ())
            .map_err(webhook_error)
    }
}

/// The provisioner makes a checkout's tenant (with the same checks as `POST /tenants`).
#[derive(Debug, Clone)]
pub struct ProvisionerTenantCreator(pub Arc<TenantService>);

#[async_trait]
impl mgmt_billing::TenantCreator for ProvisionerTenantCreator {
    async fn create_tenant(
        &self,
        customer: &Customer,
        name: &str,
        plan_id: &str,
        region: &str,
    ) -> Result<Tenant, mgmt_billing::CreateTenantError> {
        let req = CreateTenant {
            name: name.to_owned(),
            plan_id: Some(plan_id.to_owned()),
            region: Some(region.to_owned()),
        };
        self.0.create_tenant(customer, req).await.map_err(|e| {
            if e.is_transient() {
                mgmt_billing::CreateTenantError::Unavailable(e.to_string())
            } else {
                mgmt_billing::CreateTenantError::Refused(e.to_string())
            }
        })
    }
}
