//! Strict mirrors of what the customer CLI decodes: unknown fields fail, required fields must be
//! present, enums accept only the CLI's spellings.

#![allow(dead_code)]

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Data<T> {
    pub data: T,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantListItem {
    pub id: String,
    pub name: String,
    pub fly_app_name: Option<String>,
    pub fly_hostname: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    pub status: String,
    pub message: Option<String>,
    pub app_url: Option<String>,
    pub secrets_url: Option<String>,
    // Ours, beyond what the CLI reads (it ignores unknown fields).
    pub state: String,
    pub deployed_digest: Option<String>,
    pub last_deploy: Option<LastDeploy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastDeploy {
    pub status: String,
    pub image: String,
    pub digest: Option<String>,
    pub error: Option<String>,
    pub requested_at: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryToken {
    pub registry: String,
    pub username: String,
    pub token: String,
    pub repository: String,
    pub tag: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployResponse {
    pub status: String,
    pub app_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    pub keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusOnly {
    pub status: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Me {
    pub user: User,
    pub customer: Option<Customer>,
    pub tenants: Vec<TenantInfo>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    pub id: String,
    pub status: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantInfo {
    pub id: String,
    pub name: String,
    pub subscription_id: Option<String>,
    pub subscription_status: Option<SubscriptionStatus>,
    pub app_id: Option<String>,
    pub hostname: Option<String>,
    pub region: Option<String>,
    pub status: Option<TenantInfoStatus>,
    pub plan: Option<Plan>,
    pub external_db_access: bool,
    pub database_url: String,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TenantInfoStatus {
    Pending,
    Active,
    Suspended,
    Deleted,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    Trialing,
    PastDue,
    Paused,
    Canceled,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub id: Option<String>,
    pub name: String,
    pub memory_mb: u32,
    pub volume_gb: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub tenant_id: String,
    pub event_type: String,
    pub status: String,
    pub message: Option<String>,
    pub app_url: Option<String>,
    pub fly_app_name: Option<String>,
}

/// The CLI's event vocabulary (it skips any other type).
pub const CLI_EVENT_TYPES: [&str; 11] = [
    "subscription_created",
    "tenant_created",
    "database_created",
    "secrets_stored",
    "vm_provisioning_started",
    "vm_provisioning_progress",
    "vm_provisioned",
    "secrets_configured",
    "infrastructure_ready",
    "tenant_ready",
    "provisioning_failed",
];

/// `GET <secrets_url>` (bare): every field a required string.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSecrets {
    pub jwt_secret: String,
    pub database_url: String,
    pub internal_database_url: String,
    pub app_url: String,
}

/// `POST .../rotate-credentials` (bare): every field a required string.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateCredentials {
    pub status: String,
    pub message: String,
    pub internal_database_url: String,
    pub external_database_url: String,
}

/// `PUT .../external-db-access` (inside `{data: ...}`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalDbAccess {
    pub tenant_id: String,
    pub external_db_access: bool,
    pub database_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// Decodes a body strictly, naming the type and body on failure.
pub async fn decode<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> T {
    let text = resp.text().await.unwrap();
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: {e}\nbody: {text}", std::any::type_name::<T>()))
}

/// Asserts an error answer: status, the error body, and a snake_case code.
pub async fn expect_error(resp: reqwest::Response, status: u16) -> ErrorDetail {
    let got = resp.status().as_u16();
    let url = resp.url().to_string();
    let body: ErrorBody = decode(resp).await;
    assert_eq!(got, status, "{url}: {body:?}");
    assert!(
        !body.error.code.is_empty()
            && body
                .error
                .code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'),
        "code not snake_case: {}",
        body.error.code
    );
    assert!(!body.error.message.is_empty());
    body.error
}
