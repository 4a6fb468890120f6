//! What the handlers need from the layers below, as object-safe traits.
//!
//! Mutations go through [`TenantCommands`] (implemented for the provisioner's `TenantService` in
//! `adapters`), registry credentials through [`RegistryCredentials`] (the gateway's issuer). Keeping these
//! seams here lets the API be wired to another implementation and keeps the handler code independent of
//! how the layers below spell their errors.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use tenant_domain::{Customer, Deployment, Tenant, TenantId};

/// A failed command, in words the API maps to statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    #[error("{0}")]
    QuotaExceeded(String),
    /// The image tag is not in the registry.
    #[error("{0}")]
    ImageNotFound(String),
    /// Fly, the registry or the database is unavailable: retry later.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
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
