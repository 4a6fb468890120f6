//! Server configuration: [`raw`] layering, then validation into typed settings that say which variable
//! is missing or malformed.

mod gateway;
pub mod raw;
mod tenant;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use management_http::auth::{CustomerPolicy, JwtSettings};
use registry_gateway::limits::GatewayLimits;
use secrecy::SecretString;

pub use gateway::{CREDENTIAL_TTL_SECS, MIN_SIGNING_KEY_BYTES};
pub use raw::{MigrateSettings, RawSettings, SettingsError, TokenSettings};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Everything the server needs, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: SecretString,
    pub database_pool_size: usize,
    pub database_pool_recycle: tenant_persistence::Recycle,
    pub migrate_on_start: bool,
    pub workers_enabled: bool,
    pub worker_count: usize,
    pub listen_addr: SocketAddr,
    pub log_format: LogFormat,
    pub json_body_limit: usize,
    pub event_poll_interval: Duration,
    pub event_heartbeat: Duration,
    pub deploy_answer_within: Duration,
    pub shutdown_timeout: Duration,
    pub jwt: JwtSettings,
    pub customer_policy: CustomerPolicy,
    pub customer_cache_ttl: Duration,
    /// `None` when `FLY_ENABLED=false`.
    pub fly: Option<FlySettings>,
}

/// Fly and the registry gateway (both exist only when the cloud is enabled).
#[derive(Debug, Clone)]
pub struct FlySettings {
    pub api_token: SecretString,
    pub org_slug: String,
    pub shared_registry_app: String,
    pub machines_api_url: String,
    pub registry_url: String,
    pub registry_username: String,
    pub registry_password: SecretString,
    pub subdomain_suffix: String,
    pub certificates_enabled: bool,
    pub tenant_db_admin_url: SecretString,
    pub tenant_db_host: String,
    pub api_external_url: Option<String>,
    pub tenant_jwt_issuer: Option<String>,
    pub tenant_volume_mount_path: String,
    /// App secrets every tenant gets (from `TENANT_EXTRA_SECRETS_FILE`); values print redacted.
    pub tenant_extra_secrets: BTreeMap<String, SecretString>,
    pub gateway_listen_addr: SocketAddr,
    pub gateway_public_host: String,
    /// At least [`MIN_SIGNING_KEY_BYTES`], never equal to `JWT_SECRET`.
    pub gateway_signing_key: SecretString,
    /// Within [`CREDENTIAL_TTL_SECS`].
    pub gateway_credential_ttl: Duration,
    pub gateway_public_scheme: Option<String>,
    /// Per-tenant quotas and fairness limits (`GATEWAY_MAX_*`, `GATEWAY_UPLOAD_IDLE_TIMEOUT_SECS`,
    /// `GATEWAY_REQUESTS_PER_SECOND`, `GATEWAY_REQUEST_BURST`).
    pub gateway_limits: GatewayLimits,
}

impl LogFormat {
    /// `LOG_FORMAT`'s value: `json` or `pretty`.
    pub fn parse(value: &str) -> Result<Self, SettingsError> {
        match value {
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            other => Err(SettingsError(format!(
                "LOG_FORMAT: `{other}` is not json or pretty"
            ))),
        }
    }
}

impl MigrateSettings {
    /// The database URL (required) and the log format, checked.
    pub fn checked(self) -> Result<(SecretString, LogFormat), SettingsError> {
        Ok((
            required(self.database_url, "DATABASE_URL", "")?,
            LogFormat::parse(&self.log_format)?,
        ))
    }
}

fn required<T>(value: Option<T>, var: &str, why: &str) -> Result<T, SettingsError> {
    value.ok_or_else(|| SettingsError(format!("{var} is required{why}")))
}

fn socket(value: &str, var: &str) -> Result<SocketAddr, SettingsError> {
    value.parse().map_err(|_| {
        SettingsError(format!(
            "{var}: `{value}` is not a host:port socket address"
        ))
    })
}

impl Settings {
    /// Loads defaults, the optional file and the environment (`env`: the process environment when `None`).
    pub fn load(
        file: Option<&Path>,
        env: Option<HashMap<String, String>>,
    ) -> Result<Self, SettingsError> {
        Self::from_raw(RawSettings::load(file, env)?)
    }

    pub fn from_raw(raw: RawSettings) -> Result<Self, SettingsError> {
        // Read before fields move out of `raw`; checked only with the cloud, like every gateway setting.
        let gateway_limits = if raw.fly_enabled {
            gateway::limits(&raw)?
        } else {
            GatewayLimits::default()
        };
        let log_format = LogFormat::parse(&raw.log_format)?;
        let database_pool_recycle = match raw.database_pool_recycle.as_str() {
            "verified" => tenant_persistence::Recycle::Verified,
            "fast" => tenant_persistence::Recycle::Fast,
            other => {
                return Err(SettingsError(format!(
                    "DATABASE_POOL_RECYCLE: `{other}` is not verified or fast"
                )));
            }
        };
        if raw.database_pool_size == 0 {
            return Err(SettingsError(
                "DATABASE_POOL_SIZE must be at least 1".into(),
            ));
        }
        let public_keys_pem = raw.jwt_public_key_pem.into_iter().collect();
        let jwks_json =
            match raw.jwt_jwks_file {
                Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
                    SettingsError(format!("JWT_JWKS_FILE: cannot read {path}: {e}"))
                })?),
                None => None,
            };
        let jwt = JwtSettings {
            hs256_secret: raw.jwt_secret,
            public_keys_pem,
            jwks_json,
            issuer: raw.jwt_issuer,
            audience: raw.jwt_audience,
            leeway_secs: raw.jwt_leeway_secs,
        };
        let fly = if raw.fly_enabled {
            let why = " when FLY_ENABLED=true";
            let api_token = required(raw.fly_api_token, "FLY_API_TOKEN", why)?;
            let tenant_db_host = match (raw.tenant_db_host, &raw.fly_postgres_app) {
                (Some(host), _) => host,
                (None, Some(app)) => format!("{app}.internal:5432"),
                (None, None) => {
                    return Err(SettingsError(format!(
                        "FLY_POSTGRES_APP or TENANT_DB_HOST is required{why}"
                    )));
                }
            };
            Some(FlySettings {
                registry_password: raw
                    .fly_registry_password
                    .unwrap_or_else(|| api_token.clone()),
                api_token,
                org_slug: required(raw.fly_org_slug, "FLY_ORG_SLUG", why)?,
                shared_registry_app: required(
                    raw.fly_shared_registry_app,
                    "FLY_SHARED_REGISTRY_APP",
                    why,
                )?,
                machines_api_url: raw.fly_machines_api_url,
                registry_url: raw.fly_registry_url,
                registry_username: raw.fly_registry_username,
                subdomain_suffix: required(raw.fly_subdomain_suffix, "FLY_SUBDOMAIN_SUFFIX", why)?,
                certificates_enabled: raw.fly_certificates_enabled,
                tenant_db_admin_url: required(raw.tenant_db_admin_url, "TENANT_DB_ADMIN_URL", why)?,
                tenant_db_host,
                api_external_url: raw.api_external_url,
                tenant_jwt_issuer: raw.tenant_jwt_issuer,
                tenant_volume_mount_path: tenant::mount_path(&raw.tenant_volume_mount_path)?,
                tenant_extra_secrets: match &raw.tenant_extra_secrets_file {
                    Some(path) => tenant::extra_secrets(path)?,
                    None => BTreeMap::new(),
                },
                gateway_listen_addr: socket(&raw.gateway_listen_addr, "GATEWAY_LISTEN_ADDR")?,
                gateway_public_host: required(raw.gateway_public_host, "GATEWAY_PUBLIC_HOST", why)?,
                gateway_signing_key: gateway::signing_key(
                    required(raw.gateway_signing_key, "GATEWAY_SIGNING_KEY", why)?,
                    jwt.hs256_secret.as_ref(),
                )?,
                gateway_credential_ttl: gateway::credential_ttl(raw.gateway_credential_ttl_secs)?,
                gateway_public_scheme: raw.gateway_public_scheme,
                gateway_limits,
            })
        } else {
            None
        };
        Ok(Self {
            database_url: required(raw.database_url, "DATABASE_URL", "")?,
            database_pool_size: raw.database_pool_size,
            database_pool_recycle,
            migrate_on_start: raw.migrate_on_start,
            workers_enabled: raw.workers_enabled,
            worker_count: raw.worker_count.max(1),
            listen_addr: socket(&raw.listen_addr, "LISTEN_ADDR")?,
            log_format,
            json_body_limit: raw.json_body_limit,
            event_poll_interval: Duration::from_millis(raw.event_poll_interval_ms.max(10)),
            event_heartbeat: Duration::from_secs(raw.event_heartbeat_secs.max(1)),
            deploy_answer_within: Duration::from_millis(
                raw.deploy_answer_within_ms.clamp(100, 25_000),
            ),
            shutdown_timeout: Duration::from_secs(raw.shutdown_timeout_secs),
            jwt,
            customer_policy: if raw.auth_create_customers {
                CustomerPolicy::CreateOnFirstUse
            } else {
                CustomerPolicy::RequireExisting
            },
            customer_cache_ttl: Duration::from_secs(raw.auth_customer_cache_secs),
            fly,
        })
    }
}

#[cfg(test)]
mod tests;
