//! The flat settings as layered by the `config` crate: built-in defaults, an optional TOML file, then
//! the environment. Keys are the seed's environment variable names, lowercased (`FLY_API_TOKEN` is
//! `fly_api_token` in the file).
//!
//! Values are typed as they are read: enums, socket addresses, durations (in the unit the variable
//! names) and counts, each range-checked (the `de` module), so a malformed or out-of-range value is an
//! error naming its variable. Only cross-field rules, and the settings that matter only with the cloud
//! (checked only then), are left to [`super::Settings::from_raw`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use config::{Config, ConfigError, Environment, File, FileFormat};
use mgmt_persistence::Recycle;
use secrecy::SecretString;
use serde::Deserialize;

use super::LogFormat;
use super::de::{self, UNBOUNDED};

/// `DATABASE_POOL_RECYCLE`'s values, read straight into the persistence layer's [`Recycle`].
#[derive(Deserialize)]
#[serde(remote = "Recycle", rename_all = "lowercase")]
enum RecycleDef {
    Fast,
    Verified,
}

/// [`RecycleDef`] by name, like [`de::by_name`].
fn recycle<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Recycle, D::Error> {
    let name = String::deserialize(d)?;
    RecycleDef::deserialize(de::name_deserializer(&name)).map_err(serde::de::Error::custom)
}

/// Every setting, before cross-field validation. Secrets are `SecretString` from the moment they are read.
#[derive(Debug, Deserialize)]
pub struct RawSettings {
    pub database_url: Option<SecretString>,
    #[serde(deserialize_with = "de::at_least::<_, 1>")]
    pub database_pool_size: usize,
    #[serde(deserialize_with = "recycle")]
    pub database_pool_recycle: Recycle,
    pub migrate_on_start: bool,
    pub workers_enabled: bool,
    #[serde(deserialize_with = "de::at_least::<_, 1>")]
    pub worker_count: usize,
    /// `WORKER_LEASE_SECS`: a claimed job's lease (heartbeat every third of it); how long a job of a
    /// crashed process waits before another worker reclaims it. 3 s to 1 hour.
    #[serde(
        rename = "worker_lease_secs",
        deserialize_with = "de::secs::<_, 3, 3_600>"
    )]
    pub worker_lease: Duration,
    pub listen_addr: SocketAddr,
    #[serde(deserialize_with = "de::by_name")]
    pub log_format: LogFormat,
    pub json_body_limit: usize,
    /// `EVENT_POLL_INTERVAL_MS`: at least 10 ms.
    #[serde(
        rename = "event_poll_interval_ms",
        deserialize_with = "de::millis::<_, 10, UNBOUNDED>"
    )]
    pub event_poll_interval: Duration,
    /// `EVENT_HEARTBEAT_SECS`: at least a second.
    #[serde(
        rename = "event_heartbeat_secs",
        deserialize_with = "de::secs::<_, 1, UNBOUNDED>"
    )]
    pub event_heartbeat: Duration,
    /// `DEPLOY_ANSWER_WITHIN_MS`: 100 ms to 25 s (the CLI gives up after 30 s).
    #[serde(
        rename = "deploy_answer_within_ms",
        deserialize_with = "de::millis::<_, 100, 25_000>"
    )]
    pub deploy_answer_within: Duration,
    /// `METRICS_LISTEN_ADDR`: the private `/metrics` listener; unset, metrics are not served.
    pub metrics_listen_addr: Option<SocketAddr>,
    /// `STREAMS_PER_CUSTOMER`: event streams one customer may have open at once per process.
    #[serde(deserialize_with = "de::at_least::<_, 1>")]
    pub streams_per_customer: usize,
    /// `STREAMS_PER_PROCESS`: event streams one process serves at once.
    #[serde(deserialize_with = "de::at_least::<_, 1>")]
    pub streams_per_process: usize,
    /// `CUSTOMER_REQUESTS_PER_SECOND`: sustained authenticated requests per customer (0: unlimited).
    pub customer_requests_per_second: u32,
    /// `CUSTOMER_REQUEST_BURST`: requests a customer may make at once above that rate.
    pub customer_request_burst: u32,
    #[serde(
        rename = "shutdown_timeout_secs",
        deserialize_with = "de::secs::<_, 0, UNBOUNDED>"
    )]
    pub shutdown_timeout: Duration,
    /// `RECONCILE_INTERVAL_SECS`: time between reconciler passes, 1 s to 1 day.
    #[serde(
        rename = "reconcile_interval_secs",
        deserialize_with = "de::secs::<_, 1, 86_400>"
    )]
    pub reconcile_interval: Duration,
    /// `RECONCILE_GRACE_SECS`: how long drift is seen before a resource is deleted, up to 7 days.
    #[serde(
        rename = "reconcile_grace_secs",
        deserialize_with = "de::secs::<_, 0, 604_800>"
    )]
    pub reconcile_grace: Duration,
    /// `RECONCILE_DRY_RUN`: report drift without acting.
    pub reconcile_dry_run: bool,

    pub jwt_secret: Option<SecretString>,
    pub jwt_public_key_pem: Option<String>,
    pub jwt_jwks_file: Option<String>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    pub jwt_leeway_secs: u64,
    pub auth_create_customers: bool,
    /// `AUTH_CUSTOMER_CACHE_SECS`; zero disables the cache.
    #[serde(
        rename = "auth_customer_cache_secs",
        deserialize_with = "de::secs::<_, 0, UNBOUNDED>"
    )]
    pub auth_customer_cache: Duration,
    /// `AUTH_REVOCATION_CACHE_SECS`: how long a revocation lookup is reused; zero disables.
    #[serde(
        rename = "auth_revocation_cache_secs",
        deserialize_with = "de::secs::<_, 0, 300>"
    )]
    pub auth_revocation_cache: Duration,
    /// `PUBLIC_API_URL`: the API's base URL as clients use it (`iss` of our tokens, the exchange's
    /// `resource`, the OAuth callbacks' base).
    pub public_api_url: Option<String>,
    /// `TOKEN_SIGNING_KEYS`: `kid=<path to RSA private key PEM>`, comma-separated; the first signs.
    pub token_signing_keys: Option<String>,
    /// `LOGIN_TOKEN_TTL_SECS`: lifetime of a login token (the CLI has no refresh).
    #[serde(
        rename = "login_token_ttl_secs",
        deserialize_with = "de::secs::<_, 60, 31_622_400>"
    )]
    pub login_token_ttl: Duration,
    /// `EXCHANGE_TOKEN_TTL_SECS`: lifetime of an exchanged token.
    #[serde(
        rename = "exchange_token_ttl_secs",
        deserialize_with = "de::secs::<_, 31, 3600>"
    )]
    pub exchange_token_ttl: Duration,

    /// Paddle Billing API base (`PADDLE_API_URL`).
    pub paddle_api_url: String,
    /// Paddle API key (`PADDLE_API_KEY`); billing is disabled without it.
    pub paddle_api_key: Option<SecretString>,
    /// `PADDLE_WEBHOOK_SECRET`: the notification destination's secret key (`Paddle-Signature`);
    /// webhooks answer 503 without it.
    pub paddle_webhook_secret: Option<SecretString>,
    /// `PADDLE_CHECKOUT_URL`: the payment page a paid checkout's link points at (`checkout.url` of
    /// the transaction); unset: the Paddle account's default payment link.
    pub paddle_checkout_url: Option<String>,
    /// `CHECKOUT_SESSION_TTL_SECS`: how long a checkout session waits for its page or payment.
    #[serde(
        rename = "checkout_session_ttl_secs",
        deserialize_with = "de::secs::<_, 60, 86_400>"
    )]
    pub checkout_session_ttl: Duration,
    /// `BILLING_SUSPEND_GRACE_SECS`: how long a subscription may be past due or paused before its
    /// tenant's machine is stopped (0 to 30 days).
    #[serde(
        rename = "billing_suspend_grace_secs",
        deserialize_with = "de::secs::<_, 0, 2_592_000>"
    )]
    pub billing_suspend_grace: Duration,
    /// `BILLING_CANCEL_GRACE_SECS`: how long after its subscription is canceled a tenant is deleted
    /// (0 to 90 days).
    #[serde(
        rename = "billing_cancel_grace_secs",
        deserialize_with = "de::secs::<_, 0, 7_776_000>"
    )]
    pub billing_cancel_grace: Duration,
    /// `BILLING_SWEEP_INTERVAL_SECS`: how often the grace periods and stuck checkouts are looked at.
    #[serde(
        rename = "billing_sweep_interval_secs",
        deserialize_with = "de::secs::<_, 1, 3_600>"
    )]
    pub billing_sweep_interval: Duration,

    /// CLI login through GitHub (`GITHUB_*`); not configured without client id and secret.
    pub github_client_id: Option<String>,
    pub github_client_secret: Option<SecretString>,
    pub github_authorize_url: String,
    pub github_token_url: String,
    pub github_api_url: String,
    /// CLI login through Google (`GOOGLE_*`); not configured without client id and secret.
    pub google_client_id: Option<String>,
    pub google_client_secret: Option<SecretString>,
    pub google_authorize_url: String,
    pub google_token_url: String,
    pub google_jwks_url: String,
    pub google_issuer: String,
    /// Comma-separated https origins a login may end at besides loopback (`LOGIN_REDIRECT_ORIGINS`).
    pub login_redirect_origins: Option<String>,

    pub fly_enabled: bool,
    pub fly_api_token: Option<SecretString>,
    pub fly_org_slug: Option<String>,
    pub fly_shared_registry_app: Option<String>,
    pub fly_machines_api_url: String,
    pub fly_registry_url: String,
    pub fly_registry_username: String,
    /// Defaults to the Fly token (registry.fly.io takes it as the password).
    pub fly_registry_password: Option<SecretString>,
    pub fly_subdomain_suffix: Option<String>,
    pub fly_postgres_app: Option<String>,
    pub fly_certificates_enabled: bool,
    pub tenant_db_admin_url: Option<SecretString>,
    /// `host:port` tenant apps reach their database at (required with the cloud: see `settings::tenant_db_host`).
    pub tenant_db_host: Option<String>,
    pub api_external_url: Option<String>,
    pub tenant_jwt_issuer: Option<String>,
    /// Where the tenant volume is mounted in the machine (a mount hides what the image has there).
    pub tenant_volume_mount_path: String,
    /// `DEPLOY_HEALTH_TIMEOUT_SECS`: how long a new instance has to be started with passing checks
    /// before the deploy is rolled back (10 s to 30 min).
    #[serde(
        rename = "deploy_health_timeout_secs",
        deserialize_with = "de::secs::<_, 10, 1800>"
    )]
    pub deploy_health_timeout: Duration,
    /// `DEPLOY_HEALTH_GRACE_SECS`: the boot grace of the machine's health check (0 to 10 min).
    #[serde(
        rename = "deploy_health_grace_secs",
        deserialize_with = "de::secs::<_, 0, 600>"
    )]
    pub deploy_health_grace: Duration,
    /// A `KEY=VALUE` file of app secrets every tenant gets besides `DATABASE_URL` and `JWT_SECRET`.
    pub tenant_extra_secrets_file: Option<String>,
    /// Keys that seal the tenant credentials the server keeps: `keyid:base64-32-bytes`, comma-separated,
    /// the first seals (required with the cloud).
    pub secrets_encryption_keys: Option<SecretString>,
    /// `host:port` of the tenant cluster's public endpoint (external database access).
    pub tenant_db_public_endpoint: Option<String>,
    /// `DNS_PROVIDER`: who makes each tenant's public CNAME (`none`: a wildcard record or front proxy).
    pub dns_provider: super::DnsProvider,
    /// `CLOUDFLARE_*`: read only with `DNS_PROVIDER=cloudflare`.
    pub cloudflare_api_token: Option<SecretString>,
    pub cloudflare_zone_id: Option<String>,
    pub cloudflare_api_url: String,

    pub gateway_listen_addr: SocketAddr,
    pub gateway_public_host: Option<String>,
    pub gateway_signing_key: Option<SecretString>,
    // Read as `u64` and range-checked by `super::gateway` only when the cloud is enabled (a gateway
    // setting matters only when the gateway runs).
    pub gateway_credential_ttl_secs: u64,
    pub gateway_public_scheme: Option<String>,
    // The gateway's limits (`mgmt_registry_gateway::limits::GatewayLimits`), read as `u64` so that every
    // out-of-range value is reported by the range check, naming the variable.
    pub gateway_max_tenant_bytes: u64,
    pub gateway_quota_window_secs: u64,
    pub gateway_max_blob_bytes: u64,
    pub gateway_max_manifest_bytes: u64,
    pub gateway_max_buffered_manifest_bytes: u64,
    pub gateway_max_concurrent_uploads: u64,
    pub gateway_upload_idle_timeout_secs: u64,
    pub gateway_requests_per_second: u64,
    pub gateway_request_burst: u64,
}

const DEFAULTS: &[(&str, &str)] = &[
    ("database_pool_size", "16"),
    ("database_pool_recycle", "fast"),
    ("migrate_on_start", "true"),
    ("workers_enabled", "true"),
    ("worker_count", "2"),
    ("worker_lease_secs", "60"),
    ("listen_addr", "127.0.0.1:8080"),
    ("log_format", "pretty"),
    ("json_body_limit", "65536"),
    ("event_poll_interval_ms", "500"),
    ("event_heartbeat_secs", "15"),
    ("deploy_answer_within_ms", "2000"),
    ("shutdown_timeout_secs", "30"),
    ("reconcile_interval_secs", "60"),
    ("reconcile_grace_secs", "600"),
    ("reconcile_dry_run", "false"),
    ("streams_per_customer", "20"),
    ("streams_per_process", "10000"),
    ("customer_requests_per_second", "50"),
    ("customer_request_burst", "200"),
    ("jwt_leeway_secs", "30"),
    ("auth_create_customers", "true"),
    ("auth_customer_cache_secs", "30"),
    ("auth_revocation_cache_secs", "5"),
    ("login_token_ttl_secs", "2592000"),
    ("exchange_token_ttl_secs", "300"),
    ("paddle_api_url", "https://api.paddle.com"),
    ("checkout_session_ttl_secs", "3600"),
    ("billing_suspend_grace_secs", "259200"),
    ("billing_cancel_grace_secs", "604800"),
    ("billing_sweep_interval_secs", "60"),
    ("dns_provider", "none"),
    ("cloudflare_api_url", "https://api.cloudflare.com/client/v4"),
    (
        "github_authorize_url",
        "https://github.com/login/oauth/authorize",
    ),
    (
        "github_token_url",
        "https://github.com/login/oauth/access_token",
    ),
    ("github_api_url", "https://api.github.com"),
    (
        "google_authorize_url",
        "https://accounts.google.com/o/oauth2/v2/auth",
    ),
    ("google_token_url", "https://oauth2.googleapis.com/token"),
    (
        "google_jwks_url",
        "https://www.googleapis.com/oauth2/v3/certs",
    ),
    ("google_issuer", "https://accounts.google.com"),
    ("fly_enabled", "false"),
    ("fly_machines_api_url", "https://api.machines.dev/v1"),
    ("fly_registry_url", "https://registry.fly.io"),
    ("fly_registry_username", "x"),
    ("fly_certificates_enabled", "true"),
    (
        "tenant_volume_mount_path",
        mgmt_domain::DEFAULT_VOLUME_MOUNT_PATH,
    ),
    ("deploy_health_timeout_secs", "120"),
    ("deploy_health_grace_secs", "10"),
    ("gateway_listen_addr", "127.0.0.1:5000"),
    ("gateway_credential_ttl_secs", "3600"),
    // `GatewayLimits::default()` (a test checks they agree).
    ("gateway_max_tenant_bytes", "10737418240"),
    ("gateway_quota_window_secs", "86400"),
    ("gateway_max_blob_bytes", "2147483648"),
    ("gateway_max_manifest_bytes", "4194304"),
    ("gateway_max_buffered_manifest_bytes", "67108864"),
    ("gateway_max_concurrent_uploads", "16"),
    ("gateway_upload_idle_timeout_secs", "900"),
    ("gateway_requests_per_second", "50"),
    ("gateway_request_burst", "200"),
];

/// A setting that could not be read, named by its environment variable. Never holds a secret value;
/// when an I/O error is the cause (a file that cannot be read) it is kept as the source.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SettingsError {
    message: String,
    #[source]
    source: Option<std::io::Error>,
}

impl SettingsError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// `message`, caused by `source` (shown after it in a chain, e.g. by `{:#}` on an `anyhow` error).
    pub fn caused_by(message: impl Into<String>, source: std::io::Error) -> Self {
        Self {
            message: message.into(),
            source: Some(source),
        }
    }
}

/// A `config` error as a message naming the variable that never echoes a value: it may be a secret put
/// in the wrong variable, or a line of the settings file next to one.
fn describe(e: ConfigError) -> SettingsError {
    match e {
        ConfigError::Type {
            key: Some(key),
            expected,
            ..
        } => SettingsError::new(format!(
            "{}: invalid value, expected {expected}",
            key.to_uppercase()
        )),
        ConfigError::At {
            key: Some(key),
            error,
            ..
        } => SettingsError::new(format!(
            "{}: {}",
            key.to_uppercase(),
            without_value(&error.to_string())
        )),
        ConfigError::FileParse { uri, cause } => {
            // A TOML error quotes the offending line: keep its position and its reason only.
            let text = cause.to_string();
            let mut lines = text.lines().filter(|l| !l.trim().is_empty());
            let first = lines.next().unwrap_or("not valid TOML");
            let reason = lines.next_back().filter(|l| !l.contains('|')).unwrap_or("");
            SettingsError::new(format!(
                "settings file {}: {first} {reason}",
                uri.as_deref().unwrap_or("")
            ))
        }
        ConfigError::Message(m) => SettingsError::new(m),
        other => SettingsError::new(other.to_string()),
    }
}

/// serde's messages quote the value before `, expected ...` (`unknown variant `x`, expected ...`,
/// `invalid value: string "x", expected ...`): keep only what was expected.
fn without_value(message: &str) -> String {
    match message.find(", expected ") {
        Some(i) => format!("invalid value, {}", &message[i + 2..]),
        None => message.to_owned(),
    }
}

/// What `migrate` reads: the database and the log format, nothing else (a half-configured cloud
/// must not stop a migration).
#[derive(Debug, Deserialize)]
pub struct MigrateSettings {
    pub database_url: Option<SecretString>,
    #[serde(deserialize_with = "de::by_name")]
    pub log_format: LogFormat,
}

/// What `token mint` reads: the HS256 secret and the claims it stamps.
#[derive(Debug, Deserialize)]
pub struct TokenSettings {
    pub jwt_secret: Option<SecretString>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    /// With `PUBLIC_API_URL`, `token mint` mints RS256 like a login.
    pub token_signing_keys: Option<String>,
    pub public_api_url: Option<String>,
    /// `token revoke` records revocations in the database.
    pub database_url: Option<SecretString>,
}

impl RawSettings {
    /// Layers defaults, `file` (TOML, when given) and `env` (the process environment when `None`).
    pub fn load(
        file: Option<&Path>,
        env: Option<HashMap<String, String>>,
    ) -> Result<Self, SettingsError> {
        load_layered(file, env)
    }
}

impl MigrateSettings {
    /// Like [`RawSettings::load`], reading only `DATABASE_URL` and `LOG_FORMAT`.
    pub fn load(
        file: Option<&Path>,
        env: Option<HashMap<String, String>>,
    ) -> Result<Self, SettingsError> {
        load_layered(file, env)
    }
}

impl TokenSettings {
    /// Like [`RawSettings::load`], reading only `JWT_SECRET`, `JWT_ISSUER` and `JWT_AUDIENCE`.
    pub fn load(
        file: Option<&Path>,
        env: Option<HashMap<String, String>>,
    ) -> Result<Self, SettingsError> {
        load_layered(file, env)
    }
}

/// The layering shared by every command; `T` picks the keys it reads (others are ignored, so a
/// malformed setting a command does not use cannot stop it).
fn load_layered<T: serde::de::DeserializeOwned>(
    file: Option<&Path>,
    env: Option<HashMap<String, String>>,
) -> Result<T, SettingsError> {
    let mut builder = Config::builder();
    for (key, value) in DEFAULTS {
        builder = builder.set_default(*key, *value).map_err(describe)?;
    }
    if let Some(path) = file {
        builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
    }
    let env_source = Environment::default()
        .ignore_empty(true)
        .source(env.map(|m| m.into_iter().collect()));
    let config = builder.add_source(env_source).build().map_err(describe)?;
    config.try_deserialize().map_err(describe)
}
