//! Request and response bodies, shaped exactly as the customer CLI reads and sends them.
//!
//! Wrapped (`{"data": ...}`) or bare as the contract table says; optional fields are left out when
//! absent. Request bodies refuse unknown fields so a typo is a 4xx, not a silently ignored setting.

use std::collections::BTreeMap;

use mgmt_domain::{Deployment, EventType, Tenant, TenantEvent, TenantInfoStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod activity;
mod billing;
mod checkout;
mod credentials;
mod custom_domains;
mod deployments;
mod login;
mod token_exchange;
pub use activity::*;
pub use checkout::*;
pub use credentials::*;
pub use custom_domains::*;
pub use deployments::*;
pub use login::*;
pub use token_exchange::*;

/// `{"data": ...}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Data<T> {
    pub data: T,
}

impl<T> Data<T> {
    pub fn new(data: T) -> Self {
        Self { data }
    }
}

/// An entry of `GET /tenants`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantSummary {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fly_app_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fly_hostname: Option<String>,
}

impl From<&Tenant> for TenantSummary {
    fn from(t: &Tenant) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name.clone(),
            fly_app_name: Some(t.fly_app_name.clone()),
            fly_hostname: Some(t.hostname.clone()),
        }
    }
}

/// `GET /tenants/{id}` and the create/delete answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantDetail {
    pub id: String,
    pub name: String,
    /// The CLI's status word (`ready`, `failed`, or the lifecycle state while in progress).
    pub status: String,
    /// The lifecycle state.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub plan_id: String,
    pub region: String,
    pub fly_app_name: String,
    pub hostname: String,
    pub app_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed_digest: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Tenant> for TenantDetail {
    fn from(t: &Tenant) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name.clone(),
            status: t.cli_status().as_str().to_owned(),
            state: t.state.as_str().to_owned(),
            message: t.status_message.clone(),
            plan_id: t.plan_id.clone(),
            region: t.region.clone(),
            fly_app_name: t.fly_app_name.clone(),
            hostname: t.hostname.clone(),
            app_url: t.app_url(),
            deployed_digest: t.deployed_digest.clone(),
            created_at: t.created_at.to_rfc3339(),
            updated_at: t.updated_at.to_rfc3339(),
        }
    }
}

/// `GET /tenants/{id}/status`. The CLI reads the first four fields; the rest say where the tenant is in
/// finer words than the CLI's `ready`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantStatus {
    /// `ready` from the end of provisioning on (also while deploying), `failed` when the customer must act,
    /// otherwise the lifecycle state (`pending`, `provisioning`, `deleting`).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_url: Option<String>,
    /// Where the owner fetches the tenant's credentials (a path under this API), once provisioned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets_url: Option<String>,
    /// The lifecycle state (`awaiting_deploy`, `deploying`, `running`, `failed`, ...).
    pub state: String,
    /// The digest the machine runs, once a deploy succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed_digest: Option<String>,
    /// The most recent deploy request and how it went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_deploy: Option<LastDeploy>,
}

/// The most recent deployment of a tenant, as `/status` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LastDeploy {
    /// `pending`, `in_progress`, `succeeded`, `failed` or `superseded`.
    pub status: String,
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub requested_at: String,
}

impl From<&Deployment> for LastDeploy {
    fn from(d: &Deployment) -> Self {
        Self {
            status: d.status.as_str().to_owned(),
            image: d.image.clone(),
            digest: d.digest.clone(),
            error: d.error.clone(),
            requested_at: d.requested_at.to_rfc3339(),
        }
    }
}

/// `GET /tenants/{id}/registry-token`: the secret is named `token`, as the CLI expects.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistryToken {
    pub registry: String,
    pub username: String,
    pub token: String,
    pub repository: String,
    pub tag: String,
}

/// `POST /tenants/{id}/deploy` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// `{registry}/{repository}:{tag}` from the registry-token answer, optionally `@sha256:...`.
    pub image: String,
}

/// `POST /tenants/{id}/deploy` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeployAccepted {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_url: Option<String>,
}

/// `POST /tenants` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    pub name: String,
    #[serde(default, alias = "plan_id")]
    pub plan: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

/// `PUT /tenants/{id}/secrets` body. Values are secrets: they are wrapped at once and never echoed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSecretsRequest {
    #[schema(value_type = BTreeMap<String, String>)]
    pub secrets: BTreeMap<String, secrecy::SecretString>,
}

/// `GET /tenants/{id}/secrets`: names only (bare).
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretKeys {
    pub keys: Vec<String>,
}

/// Bare `{"status"}` of restart and retry-provision.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusOnly {
    pub status: String,
}

/// `GET /auth/me` (bare).
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: MeUser,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<MeCustomer>,
    pub tenants: Vec<TenantInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeUser {
    pub id: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeCustomer {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// `TenantInfo` of the CLI's login.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantInfo {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_status: Option<SubscriptionStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub status: Option<TenantInfoStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanInfo>,
    pub external_db_access: bool,
    /// Where the tenant's database lives; never carries a password.
    pub database_url: String,
}

/// `subscription_status` spellings the CLI accepts.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    Trialing,
    PastDue,
    Paused,
    Canceled,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub memory_mb: i32,
    pub volume_gb: i32,
}

/// Data of one `event: provisioning` server-sent event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventData {
    pub tenant_id: String,
    #[schema(value_type = String)]
    pub event_type: EventType,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fly_app_name: Option<String>,
}

impl EventData {
    pub fn new(event: &TenantEvent, tenant: &Tenant) -> Self {
        Self {
            tenant_id: event.tenant_id.to_string(),
            event_type: event.event_type,
            status: event.status.clone(),
            message: event.message.clone(),
            app_url: Some(tenant.app_url()),
            fly_app_name: Some(tenant.fly_app_name.clone()),
        }
    }
}

/// `GET /health` and `/ready`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}
