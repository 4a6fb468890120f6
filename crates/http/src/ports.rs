//! What the handlers need from the layers below, as object-safe traits.
//!
//! Mutations go through [`TenantCommands`], registry credentials through [`RegistryCredentials`]. The
//! server crate implements them for the provisioner's `TenantService` and the gateway's
//! `CredentialIssuer` (its `adapters` module, where their errors are translated once). Keeping these
//! seams here keeps this crate free of the layers below: it can be wired to another implementation, and
//! the handler code does not depend on how those layers spell their errors.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mgmt_domain::{CustomDomain, Customer, Deployment, Tenant, TenantId};
use secrecy::SecretString;

/// The cause an unexpected failure carries: kept whole (not flattened to a string) so the log line of a
/// 503 or a 500 shows the chain of causes.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failed command, in words the API maps to statuses.
///
/// The client-facing variants carry a message a customer may read; [`CommandError::Unavailable`] and
/// [`CommandError::Internal`] carry the cause instead, which is logged and never sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Missing or another customer's: indistinguishable on purpose.
    #[error("tenant not found")]
    NotFound,
    #[error("{0}")]
    InvalidInput(String),
    /// The deploy rule refused the image (the message names the expected image).
    #[error("{0}")]
    InvalidImage(String),
    #[error("{0}")]
    Conflict(String),
    /// The tenant's state does not allow the operation (yet).
    #[error("{0}")]
    NotReady(String),
    /// The request needs something this server is not configured for (e.g. a public database endpoint).
    #[error("{0}")]
    NotConfigured(String),
    #[error("{0}")]
    QuotaExceeded(String),
    /// The image tag is not in the registry.
    #[error("{0}")]
    ImageNotFound(String),
    /// The tenant has no custom domain (code `custom_domain_not_found`).
    #[error("the tenant has no custom domain")]
    CustomDomainNotFound,
    /// The tenant has no subscription (code `subscription_not_found`).
    #[error("the tenant has no subscription")]
    SubscriptionNotFound,
    /// The custom domain is held by another tenant (never says whose).
    #[error("{0}")]
    DomainTaken(String),
    /// An upstream (the billing provider) refused the request for a reason a retry will not change.
    #[error("{0}")]
    UpstreamRefused(String),
    /// Fly, the registry or the database is unavailable: retry later.
    #[error("an upstream is unavailable")]
    Unavailable(#[source] BoxError),
    /// A bug or an unexpected answer from below.
    #[error("the command failed unexpectedly")]
    Internal(#[source] BoxError),
}

impl CommandError {
    /// An unavailable upstream, keeping `cause` as the source.
    pub fn unavailable(cause: impl Into<BoxError>) -> Self {
        Self::Unavailable(cause.into())
    }

    /// An unexpected failure, keeping `cause` as the source.
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        Self::Internal(cause.into())
    }
}

pub type CommandResult<T> = Result<T, CommandError>;

/// What a create request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTenantCommand {
    pub name: String,
    pub plan_id: Option<String>,
    pub region: Option<String>,
}

/// The tenant-changing use cases (all check ownership: another customer's tenant is `NotFound`).
#[async_trait]
pub trait TenantCommands: Send + Sync {
    /// Inserts the tenant and enqueues its provisioning; returns at once.
    async fn create_tenant(
        &self,
        customer: &Customer,
        req: CreateTenantCommand,
    ) -> CommandResult<Tenant>;
    async fn retry_provision(&self, customer: &Customer, id: TenantId) -> CommandResult<Tenant>;
    /// Validates the image and enqueues the deploy; returns at once.
    async fn deploy(
        &self,
        customer: &Customer,
        id: TenantId,
        image: &str,
    ) -> CommandResult<(Tenant, Deployment)>;
    async fn restart(&self, customer: &Customer, id: TenantId) -> CommandResult<Tenant>;
    async fn set_secrets(
        &self,
        customer: &Customer,
        id: TenantId,
        secrets: BTreeMap<String, SecretString>,
    ) -> CommandResult<()>;
    async fn list_secret_names(
        &self,
        customer: &Customer,
        id: TenantId,
    ) -> CommandResult<Vec<String>>;
    async fn unset_secret(&self, customer: &Customer, id: TenantId, key: &str)
    -> CommandResult<()>;
    /// Marks the tenant deleting and enqueues its cleanup.
    async fn delete_tenant(&self, customer: &Customer, id: TenantId) -> CommandResult<Tenant>;
    /// Claims a custom domain (as typed; normalised and validated) and requests its certificate.
    /// The same domain again answers the existing one (`created` false).
    async fn set_custom_domain(
        &self,
        customer: &Customer,
        id: TenantId,
        domain: &str,
    ) -> CommandResult<CustomDomainOutcome>;
    /// The tenant's custom domain, its certificate's state asked of Fly now;
    /// `CustomDomainNotFound` when none.
    async fn custom_domain(&self, customer: &Customer, id: TenantId)
    -> CommandResult<CustomDomain>;
    /// Removes the custom domain and its certificate; none is done too.
    async fn remove_custom_domain(&self, customer: &Customer, id: TenantId) -> CommandResult<()>;
    /// The tenant's credentials for its owner (the `secrets_url` target); `NotReady` until its
    /// infrastructure exists.
    async fn credentials(
        &self,
        customer: &Customer,
        id: TenantId,
    ) -> CommandResult<TenantCredentials>;
    /// A new database password: set on the role, kept, put into the app's `DATABASE_URL` and rolled
    /// out to the machine. `NotReady` until the infrastructure exists.
    async fn rotate_credentials(
        &self,
        customer: &Customer,
        id: TenantId,
    ) -> CommandResult<RotatedCredentials>;
    /// Records whether the database may be reached through the public endpoint; `NotConfigured` when
    /// enabling on a server without one.
    async fn set_external_db_access(
        &self,
        customer: &Customer,
        id: TenantId,
        enabled: bool,
    ) -> CommandResult<ExternalDbAccessState>;
}

/// A tenant's credentials as its owner receives them. `Debug` redacts every secret.
#[derive(Debug, Clone)]
pub struct TenantCredentials {
    pub jwt_secret: SecretString,
    /// External when enabled and available, else internal.
    pub database_url: SecretString,
    pub internal_database_url: SecretString,
    pub app_url: String,
}

/// The URLs after a password rotation. `Debug` redacts them.
#[derive(Debug, Clone)]
pub struct RotatedCredentials {
    pub internal_database_url: SecretString,
    /// Through the public endpoint when the server has one, else the internal URL.
    pub external_database_url: SecretString,
}

/// External database access after a change. `Debug` redacts the URL.
#[derive(Debug, Clone)]
pub struct ExternalDbAccessState {
    pub enabled: bool,
    /// The URL that applies now (public endpoint when enabled, internal otherwise).
    pub database_url: SecretString,
}

/// A custom domain, and whether this call claimed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomDomainOutcome {
    pub domain: CustomDomain,
    pub created: bool,
}

/// Billing at the payment provider; absent when billing is not configured (503 `billing_disabled`).
#[async_trait]
pub trait BillingCommands: Send + Sync {
    /// Cancels the tenant's subscription at the end of the billing period. Idempotent: canceled or
    /// scheduled already is done. `SubscriptionNotFound` when the tenant has none.
    async fn cancel_subscription(&self, customer: &Customer, id: TenantId) -> CommandResult<()>;
}

/// What `POST /checkout` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutStart {
    pub checkout_url: String,
    pub transaction_id: String,
    pub checkout_session_id: String,
}

/// Signup (plans, checkout, Paddle's webhooks); absent when the cloud is disabled (503). Errors come
/// as [`crate::error::ApiError`]: the implementation decides each status and code (a checkout's
/// failures have no tenant-command equivalent).
#[async_trait]
pub trait SignupCommands: Send + Sync {
    /// Opens a checkout session (and, for a paid plan, Paddle's transaction).
    async fn start_checkout(
        &self,
        customer: &Customer,
        price_id: &str,
        region: &str,
        redirect_uri: &str,
    ) -> Result<CheckoutStart, crate::error::ApiError>;
    /// The free page's form: creates the tenant once; answers the CLI callback to redirect to.
    async fn confirm_free(&self, session_id: &str) -> Result<String, crate::error::ApiError>;
    /// Paddle's success redirect: the CLI callback of the transaction's session.
    async fn paid_return(&self, transaction_id: &str) -> Result<String, crate::error::ApiError>;
    /// A Paddle webhook delivery (raw body, `Paddle-Signature`); `Ok` is answered 200.
    async fn receive_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), crate::error::ApiError>;
}

/// A push credential limited to one tenant's tag.
#[derive(Debug, Clone)]
pub struct PushCredential {
    pub registry: String,
    pub username: String,
    pub token: SecretString,
    pub repository: String,
    pub tag: String,
    pub expires_at: DateTime<Utc>,
}

/// Issues short-lived, tenant-scoped registry credentials.
#[async_trait]
pub trait RegistryCredentials: Send + Sync {
    async fn issue(&self, tenant: &Tenant) -> CommandResult<PushCredential>;
}

/// The caller of an RFC 8693 token exchange, from its verified subject token.
#[derive(Debug, Clone)]
pub struct ExchangeRequest {
    pub subject: String,
    pub email: String,
    pub username: String,
    /// The tenants the caller owns now (each becomes an audience of the issued token).
    pub tenant_ids: Vec<TenantId>,
    /// The login time of the subject token.
    pub auth_time: DateTime<Utc>,
}

/// A token issued by the exchange. `Debug` does not show the token.
#[derive(Debug, Clone)]
pub struct ExchangedToken {
    pub token: SecretString,
    /// Seconds until it expires (an integer, as the CLI requires).
    pub expires_in: u64,
}

/// The tokens this server issues (the server implements it with `mgmt-identity`'s `TokenIssuer`).
pub trait TokenIssuance: Send + Sync {
    /// `iss` of our tokens, and the one `resource` the exchange accepts: `PUBLIC_API_URL`.
    fn issuer(&self) -> &str;
    /// The public keys, as served at `/.well-known/jwks.json`.
    fn jwks_json(&self) -> &str;
    /// Mints the short-lived token of an exchange.
    fn exchange(&self, request: &ExchangeRequest) -> Result<ExchangedToken, BoxError>;
}

/// Why `GET /auth/oauth/{provider}` hands out no authorize URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginStartError {
    /// Not `github` or `google` (404).
    #[error("unknown login provider `{0}` (github or google)")]
    UnknownProvider(String),
    /// Known but without client id/secret on this server (503).
    #[error("login with {0} is not configured on this server")]
    NotConfigured(String),
    /// The CLI's `redirect_uri` is not allowed (400); the message says what is.
    #[error("{0}")]
    RedirectRefused(String),
    /// Storage failed (503); the cause is logged, never sent.
    #[error("login unavailable")]
    Unavailable(#[source] BoxError),
}

/// What the provider sent to `GET /auth/oauth/{provider}/callback`.
#[derive(Debug, Clone, Default)]
pub struct LoginCallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The callback's answer.
pub enum LoginCallbackOutcome {
    /// 302 there (the CLI's `redirect_uri` with `access_token` or `error`): a secret, it holds the JWT.
    Redirect(SecretString),
    /// 400 with this error code and message (no `redirect_uri` is known).
    Refused { code: &'static str, message: String },
}

impl std::fmt::Debug for LoginCallbackOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Redirect(_) => f.write_str("Redirect(..)"),
            Self::Refused { code, .. } => f.debug_struct("Refused").field("code", code).finish(),
        }
    }
}

/// The CLI login through GitHub or Google (contract §6.1).
#[async_trait]
pub trait LoginFlow: Send + Sync {
    /// The provider's authorize URL for a login ending at the CLI's `redirect_uri`.
    async fn authorize_url(
        &self,
        provider: &str,
        redirect_uri: &str,
    ) -> Result<String, LoginStartError>;
    /// Our callback: where the browser goes next.
    async fn callback(&self, provider: &str, query: LoginCallbackQuery) -> LoginCallbackOutcome;
}

/// The job queue's figures for `/metrics`, from something cheaper than counting the jobs (the server
/// wires the persistence layer's maintained counters).
#[async_trait]
pub trait QueueFigures: Send + Sync {
    async fn queue_stats(&self) -> Result<mgmt_domain::QueueStats, BoxError>;
}
