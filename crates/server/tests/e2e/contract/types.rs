//! The wire types exactly as the customer CLI decodes them (§3 of `cli-contract-full.md`), written from
//! the brief: unknown fields are ignored (as serde does by default), a missing required field or a wrong
//! JSON type fails the whole call, and enums accept only the listed spellings.

#![allow(dead_code)]

use serde::Deserialize;

/// `{"data": …}`.
#[derive(Debug, Deserialize)]
pub struct Data<T> {
    pub data: T,
}

/// §3.1 `UserMe` (bare).
#[derive(Debug, Deserialize)]
pub struct UserMe {
    pub user: User,
    pub customer: Option<CustomerInfo>,
    #[serde(default)]
    pub tenants: Vec<TenantInfo>,
    pub enterprise: Option<Enterprise>,
}

#[derive(Debug, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CustomerInfo {
    pub id: String,
    pub status: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Enterprise {
    pub id: String,
    pub name: String,
    pub domain: String,
    pub plan: Option<PlanInfo>,
}

#[derive(Debug, Deserialize)]
pub struct TenantInfo {
    pub id: String,
    pub name: String,
    pub subscription_id: Option<String>,
    pub subscription_status: Option<SubscriptionStatus>,
    pub app_id: Option<String>,
    pub hostname: Option<String>,
    pub region: Option<String>,
    pub status: Option<TenantInfoStatus>,
    pub plan: Option<PlanInfo>,
    #[serde(default)]
    pub external_db_access: bool,
    pub database_url: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    Trialing,
    PastDue,
    Paused,
    Canceled,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TenantInfoStatus {
    Pending,
    Active,
    Suspended,
    Deleted,
}

#[derive(Debug, Deserialize)]
pub struct PlanInfo {
    pub id: Option<String>,
    pub name: String,
    pub memory_mb: i32,
    pub volume_gb: i32,
}

/// §3.2, an element of `GET /api/v1/tenants`' `data`.
#[derive(Debug, Deserialize)]
pub struct TenantListItem {
    pub id: String,
    pub name: String,
    pub fly_app_name: Option<String>,
    pub fly_hostname: Option<String>,
    pub hostname: Option<String>,
}

/// §3.3 (inside `data`).
#[derive(Debug, Deserialize)]
pub struct TenantStatus {
    pub status: String,
    pub message: Option<String>,
    pub app_url: Option<String>,
    pub secrets_url: Option<String>,
}

/// §3.4 at E: `jwt_secret` is required.
#[derive(Debug, Deserialize)]
pub struct TenantSecretsE {
    pub jwt_secret: String,
    pub database_url: String,
    pub internal_database_url: String,
    pub app_url: String,
    pub anthropic_api_key: Option<String>,
    pub openai_api_key: Option<String>,
    pub gemini_api_key: Option<String>,
}

/// §3.4 at H: `jwt_secret` is not read.
#[derive(Debug, Deserialize)]
pub struct TenantSecretsH {
    pub database_url: String,
    pub internal_database_url: String,
    pub app_url: String,
}

/// §3.5 (inside `data`): five required strings.
#[derive(Debug, Deserialize)]
pub struct RegistryToken {
    pub registry: String,
    pub username: String,
    pub token: String,
    pub repository: String,
    pub tag: String,
}

/// §3.6 deploy (inside `data`).
#[derive(Debug, Deserialize)]
pub struct DeployResponse {
    pub status: String,
    pub app_url: Option<String>,
}

/// §3.6 restart / retry-provision (bare).
#[derive(Debug, Deserialize)]
pub struct StatusResponse {
    pub status: String,
}

/// §3.7 (bare).
#[derive(Debug, Deserialize)]
pub struct RotateCredentials {
    pub status: String,
    pub message: String,
    pub internal_database_url: String,
    pub external_database_url: String,
}

/// §3.8 (inside `data`).
#[derive(Debug, Deserialize)]
pub struct ExternalDbAccess {
    pub tenant_id: String,
    pub external_db_access: bool,
    pub database_url: String,
}

/// §3.10 (inside `data`).
#[derive(Debug, Deserialize)]
pub struct CustomDomain {
    pub domain: String,
    pub status: String,
    pub verified: bool,
    pub dns_target: String,
    pub dns_instructions: DnsInstructions,
    pub created_at: Option<String>,
    pub verified_at: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct DnsInstructions {
    pub record_type: String,
    pub host: String,
    pub value: String,
    pub ttl: u32,
}

/// §3.13 `ProvisioningEvent` (an SSE `data:`).
#[derive(Debug, Deserialize)]
pub struct ProvisioningEvent {
    pub tenant_id: String,
    pub event_type: EventType,
    pub status: String,
    pub message: Option<String>,
    pub app_url: Option<String>,
    pub fly_app_name: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    SubscriptionCreated,
    TenantCreated,
    DatabaseCreated,
    SecretsStored,
    VmProvisioningStarted,
    VmProvisioningProgress,
    VmProvisioned,
    SecretsConfigured,
    InfrastructureReady,
    TenantReady,
    ProvisioningFailed,
}

/// The error body the CLI shows as `API error: <code>: <message>` (§1).
#[derive(Debug, Deserialize)]
pub struct ApiErrorBody {
    pub error: ApiErrorDetail,
}

#[derive(Debug, Deserialize)]
pub struct ApiErrorDetail {
    pub code: String,
    pub message: String,
}

/// The H CLI's email check (it panics on anything else; E's credential save refuses it): exactly one `@`,
/// non-empty parts, a domain with a `.`, no leading, trailing or double dots, a TLD of two characters
/// or more.
pub fn email_is_valid(email: &str) -> bool {
    let mut parts = email.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let dots_ok = |s: &str| !s.starts_with('.') && !s.ends_with('.') && !s.contains("..");
    !local.is_empty()
        && !domain.is_empty()
        && domain.contains('.')
        && dots_ok(local)
        && dots_ok(domain)
        && domain.rsplit('.').next().is_some_and(|tld| tld.len() >= 2)
}

/// Whether a `database_url` is masked the one way the CLI recognises (`…:***@…` or `…:********@…`).
pub fn is_masked(url: &str) -> bool {
    url.contains(":***@") || url.contains(":********@")
}

/// §3.9 `Plan`, an element of the bare array `GET /api/v1/checkout/plans` answers.
#[derive(Debug, Deserialize)]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub paddle_price_id: String,
    #[serde(default)]
    pub memory_mb_default: i32,
    #[serde(default)]
    pub volume_gb: i32,
    pub max_tenants: Option<i32>,
}

/// §3.9 `CheckoutResponse` (bare).
#[derive(Debug, Deserialize)]
pub struct CheckoutResponse {
    pub checkout_url: String,
    pub transaction_id: String,
    pub checkout_session_id: String,
}

/// §3.13 `CheckoutEvent` (an SSE `data:` of the checkout stream, event name `provisioning`).
#[derive(Debug, Deserialize)]
pub struct CheckoutEvent {
    pub checkout_session_id: String,
    pub tenant_id: String,
    pub tenant_name: String,
    pub event_type: EventType,
    pub status: String,
    pub message: Option<String>,
    pub app_url: Option<String>,
    pub fly_app_name: Option<String>,
}
