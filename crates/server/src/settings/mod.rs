//! Server configuration: [`raw`] layering and typed reading (enums, socket addresses, durations and
//! counts, each in range), then the cross-field rules into [`Settings`]. Every error names the variable
//! that is missing, malformed or out of range; nothing is silently clamped.

mod credentials;
mod de;
mod gateway;
pub mod raw;
mod tenant;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use mgmt_http::auth::{CustomerPolicy, JwtSettings};
use mgmt_registry_gateway::limits::GatewayLimits;
use secrecy::SecretString;
use serde::Deserialize;

pub use gateway::{CREDENTIAL_TTL_SECS, MIN_SIGNING_KEY_BYTES};
pub use raw::{MigrateSettings, RawSettings, SettingsError, TokenSettings};

/// Log output format (`LOG_FORMAT`: `json` or `pretty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Who creates each tenant's public DNS record (`DNS_PROVIDER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsProvider {
    /// Nobody: the operator runs a wildcard record (or a front proxy) for the subdomain suffix.
    None,
    /// A CNAME per tenant in a Cloudflare zone (`CLOUDFLARE_*`).
    Cloudflare,
}

/// `CLOUDFLARE_API_URL`, `CLOUDFLARE_API_TOKEN`, `CLOUDFLARE_ZONE_ID`. `Debug` redacts the token.
#[derive(Debug, Clone)]
pub struct CloudflareSettings {
    pub api_url: String,
    pub api_token: SecretString,
    pub zone_id: String,
}

/// Everything the server needs, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: SecretString,
    /// At least 1.
    pub database_pool_size: usize,
    pub database_pool_recycle: mgmt_persistence::Recycle,
    pub migrate_on_start: bool,
    pub workers_enabled: bool,
    /// At least 1.
    pub worker_count: usize,
    /// 3 s to 1 hour: the job lease (how long a crashed process's job waits to be reclaimed).
    pub worker_lease: Duration,
    pub listen_addr: SocketAddr,
    pub log_format: LogFormat,
    pub json_body_limit: usize,
    /// At least 10 ms.
    pub event_poll_interval: Duration,
    /// At least 1 s.
    pub event_heartbeat: Duration,
    /// 100 ms to 25 s.
    pub deploy_answer_within: Duration,
    pub shutdown_timeout: Duration,
    /// The reconciler: time between passes, grace before deleting, dry run.
    pub reconcile_interval: Duration,
    pub reconcile_grace: Duration,
    pub reconcile_dry_run: bool,
    /// `METRICS_LISTEN_ADDR`: where `/metrics` is served (never on the API listener); `None`: nowhere.
    pub metrics_listen_addr: Option<SocketAddr>,
    /// Per-customer and per-process limits on event streams and requests.
    pub limits: mgmt_http::limits::LimitSettings,
    pub jwt: JwtSettings,
    pub customer_policy: CustomerPolicy,
    pub customer_cache_ttl: Duration,
    pub revocation_cache_ttl: Duration,
    /// `PUBLIC_API_URL` without a trailing slash.
    pub public_api_url: Option<String>,
    /// The tokens we issue; `None` without `TOKEN_SIGNING_KEYS`.
    pub identity: Option<IdentitySettings>,
    /// `None` when `FLY_ENABLED=false`.
    pub fly: Option<FlySettings>,
    /// `None` when `PADDLE_API_KEY` is unset (billing endpoints answer 503 `billing_disabled`).
    pub billing: Option<BillingSettings>,
    /// The CLI login's providers and allowed redirect origins.
    pub login: LoginSettings,
    pub signup: SignupSettings,
}

/// `GITHUB_*`, `GOOGLE_*`, `LOGIN_REDIRECT_ORIGINS`. A provider is `None` without its client id and
/// secret (its login answers 503 `provider_not_configured`). `Debug` redacts the secrets.
#[derive(Debug, Clone, Default)]
pub struct LoginSettings {
    pub github: Option<mgmt_identity::oauth::ProviderConfig>,
    pub google: Option<mgmt_identity::oauth::ProviderConfig>,
    pub redirect_origins: Vec<String>,
}

/// The login settings: a provider needs both its client id and secret, or neither.
fn login(raw: &RawSettings) -> Result<LoginSettings, SettingsError> {
    use mgmt_identity::oauth::ProviderConfig;
    fn pair(
        id: &Option<String>,
        secret: &Option<SecretString>,
        prefix: &str,
    ) -> Result<Option<(String, SecretString)>, SettingsError> {
        match (id.as_deref().filter(|s| !s.is_empty()), secret) {
            (Some(id), Some(secret)) => Ok(Some((id.to_owned(), secret.clone()))),
            (None, None) => Ok(None),
            _ => Err(SettingsError::new(format!(
                "{prefix}_CLIENT_ID and {prefix}_CLIENT_SECRET are set together or not at all"
            ))),
        }
    }
    let github = pair(&raw.github_client_id, &raw.github_client_secret, "GITHUB")?.map(
        |(client_id, client_secret)| ProviderConfig {
            client_id,
            client_secret,
            authorize_url: raw.github_authorize_url.clone(),
            token_url: raw.github_token_url.clone(),
            api_url: raw.github_api_url.clone(),
            issuer: String::new(),
        },
    );
    let google = pair(&raw.google_client_id, &raw.google_client_secret, "GOOGLE")?.map(
        |(client_id, client_secret)| ProviderConfig {
            client_id,
            client_secret,
            authorize_url: raw.google_authorize_url.clone(),
            token_url: raw.google_token_url.clone(),
            api_url: raw.google_jwks_url.clone(),
            issuer: raw.google_issuer.clone(),
        },
    );
    let redirect_origins: Vec<String> = raw
        .login_redirect_origins
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    mgmt_identity::oauth::RedirectPolicy::new(&redirect_origins)
        .map_err(|e| SettingsError::new(e.to_string()))?;
    Ok(LoginSettings {
        github,
        google,
        redirect_origins,
    })
}

/// The tokens we issue: the loaded signing keys and the issuer built on them. `Debug` shows key ids only.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    pub issuer: std::sync::Arc<mgmt_identity::TokenIssuer>,
}

/// `PUBLIC_API_URL`, `TOKEN_SIGNING_KEYS` and the token lifetimes: the issuer, and how the verifier
/// recognises our own tokens.
fn identity(
    raw: &RawSettings,
) -> Result<(Option<String>, Option<IdentitySettings>), SettingsError> {
    let public_api_url = match raw.public_api_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(u) => {
            let parsed = url::Url::parse(u).map_err(|e| {
                SettingsError::new(format!("PUBLIC_API_URL: `{u}` is not a URL: {e}"))
            })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(SettingsError::new(
                    "PUBLIC_API_URL must be an http(s) URL with a host",
                ));
            }
            Some(u.trim_end_matches('/').to_owned())
        }
    };
    let Some(spec) = raw
        .token_signing_keys
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    else {
        return Ok((public_api_url, None));
    };
    let issuer_url = public_api_url.clone().ok_or_else(|| {
        SettingsError::new("PUBLIC_API_URL is required when TOKEN_SIGNING_KEYS is set")
    })?;
    let keys = mgmt_identity::SigningKeys::from_setting(spec, None)
        .map_err(|e| SettingsError::new(mgmt_domain::ErrorChain(&e).to_string()))?;
    let issuer = mgmt_identity::TokenIssuer::new(
        keys,
        mgmt_identity::IssuerConfig {
            issuer: issuer_url,
            login_ttl: raw.login_token_ttl,
            exchange_ttl: raw.exchange_token_ttl,
        },
    );
    Ok((
        public_api_url,
        Some(IdentitySettings {
            issuer: std::sync::Arc::new(issuer),
        }),
    ))
}

/// Paddle (`PADDLE_API_URL`, `PADDLE_API_KEY`). `Debug` redacts the key.
#[derive(Debug, Clone)]
pub struct BillingSettings {
    pub paddle_api_url: String,
    pub paddle_api_key: SecretString,
}

/// Signup (`PADDLE_WEBHOOK_SECRET`, `PADDLE_CHECKOUT_URL`, `CHECKOUT_SESSION_TTL_SECS`). `Debug`
/// redacts the secret.
#[derive(Debug, Clone)]
pub struct SignupSettings {
    pub paddle_webhook_secret: Option<SecretString>,
    pub paddle_checkout_url: Option<String>,
    pub checkout_session_ttl: Duration,
    /// `BILLING_SUSPEND_GRACE_SECS`, `BILLING_CANCEL_GRACE_SECS`, `BILLING_SWEEP_INTERVAL_SECS`.
    pub suspend_grace: Duration,
    pub cancel_grace: Duration,
    pub sweep_interval: Duration,
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
    /// How long a deploy's new instance has to become healthy before it is rolled back.
    pub deploy_health_timeout: std::time::Duration,
    /// The boot grace of the machine's health check.
    pub deploy_health_grace: std::time::Duration,
    /// App secrets every tenant gets (from `TENANT_EXTRA_SECRETS_FILE`); values print redacted.
    pub tenant_extra_secrets: BTreeMap<String, SecretString>,
    /// Seals the tenant credentials the server keeps (`SECRETS_ENCRYPTION_KEYS`); prints key ids only.
    pub secrets_keyring: mgmt_provisioner::vault::Keyring,
    /// `host:port` owners reach their database at from outside Fly (`TENANT_DB_PUBLIC_ENDPOINT`).
    pub tenant_db_public_endpoint: Option<String>,
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
    /// `None` with `DNS_PROVIDER=none`.
    pub dns: Option<CloudflareSettings>,
}

impl MigrateSettings {
    /// The database URL (required) and the log format.
    pub fn checked(self) -> Result<(SecretString, LogFormat), SettingsError> {
        Ok((
            required(self.database_url, "DATABASE_URL", "")?,
            self.log_format,
        ))
    }
}

/// Why a Fly setting is required.
const WITH_FLY: &str = " when FLY_ENABLED=true";

fn required<T>(value: Option<T>, var: &str, why: &str) -> Result<T, SettingsError> {
    value.ok_or_else(|| SettingsError::new(format!("{var} is required{why}")))
}

impl Settings {
    /// Loads defaults, the optional file and the environment (`env`: the process environment when `None`).
    pub fn load(
        file: Option<&Path>,
        env: Option<HashMap<String, String>>,
    ) -> Result<Self, SettingsError> {
        Self::from_raw(RawSettings::load(file, env)?)
    }

    /// The cross-field rules; single values were typed and range-checked as they were read.
    pub fn from_raw(raw: RawSettings) -> Result<Self, SettingsError> {
        let (public_api_url, identity) = identity(&raw)?;
        let mut jwt = jwt(&raw)?;
        let login = login(&raw)?;
        jwt.own = identity.as_ref().map(|i| mgmt_http::auth::OwnTokens {
            jwks_json: i.issuer.keys().jwks_json(),
            issuer: i.issuer.issuer().to_owned(),
        });
        let fly = if raw.fly_enabled {
            Some(fly(&raw, jwt.hs256_secret.as_ref())?)
        } else {
            None
        };
        Ok(Self {
            database_url: required(raw.database_url, "DATABASE_URL", "")?,
            database_pool_size: raw.database_pool_size,
            database_pool_recycle: raw.database_pool_recycle,
            migrate_on_start: raw.migrate_on_start,
            workers_enabled: raw.workers_enabled,
            worker_count: raw.worker_count,
            worker_lease: raw.worker_lease,
            listen_addr: raw.listen_addr,
            log_format: raw.log_format,
            json_body_limit: raw.json_body_limit,
            event_poll_interval: raw.event_poll_interval,
            event_heartbeat: raw.event_heartbeat,
            deploy_answer_within: raw.deploy_answer_within,
            shutdown_timeout: raw.shutdown_timeout,
            reconcile_interval: raw.reconcile_interval,
            reconcile_grace: raw.reconcile_grace,
            reconcile_dry_run: raw.reconcile_dry_run,
            metrics_listen_addr: raw.metrics_listen_addr,
            limits: mgmt_http::limits::LimitSettings {
                streams_per_customer: raw.streams_per_customer,
                streams_per_process: raw.streams_per_process,
                requests_per_second: raw.customer_requests_per_second,
                request_burst: raw.customer_request_burst,
            },
            jwt,
            customer_policy: customer_policy(raw.auth_create_customers),
            customer_cache_ttl: raw.auth_customer_cache,
            revocation_cache_ttl: raw.auth_revocation_cache,
            public_api_url,
            identity,
            fly,
            login,
            signup: SignupSettings {
                paddle_webhook_secret: raw.paddle_webhook_secret,
                paddle_checkout_url: raw.paddle_checkout_url,
                checkout_session_ttl: raw.checkout_session_ttl,
                suspend_grace: raw.billing_suspend_grace,
                cancel_grace: raw.billing_cancel_grace,
                sweep_interval: raw.billing_sweep_interval,
            },
            billing: raw.paddle_api_key.map(|key| BillingSettings {
                paddle_api_url: raw.paddle_api_url,
                paddle_api_key: key,
            }),
        })
    }
}

/// `JWT_*`: the user-token verification settings (the JWKS file is read here).
fn jwt(raw: &RawSettings) -> Result<JwtSettings, SettingsError> {
    let jwks_json = match &raw.jwt_jwks_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            SettingsError::caused_by(format!("JWT_JWKS_FILE: cannot read {path}"), e)
        })?),
        None => None,
    };
    Ok(JwtSettings {
        hs256_secret: raw.jwt_secret.clone(),
        public_keys_pem: raw.jwt_public_key_pem.iter().cloned().collect(),
        jwks_json,
        issuer: raw.jwt_issuer.clone(),
        audience: raw.jwt_audience.clone(),
        leeway_secs: raw.jwt_leeway_secs,
        own: None,
    })
}

/// `AUTH_CREATE_CUSTOMERS`.
fn customer_policy(create: bool) -> CustomerPolicy {
    if create {
        CustomerPolicy::CreateOnFirstUse
    } else {
        CustomerPolicy::RequireExisting
    }
}

/// Fly, the tenant machines and the registry gateway: required and checked only with the cloud.
fn fly(raw: &RawSettings, jwt_secret: Option<&SecretString>) -> Result<FlySettings, SettingsError> {
    let api_token = required(raw.fly_api_token.clone(), "FLY_API_TOKEN", WITH_FLY)?;
    Ok(FlySettings {
        registry_password: raw
            .fly_registry_password
            .clone()
            .unwrap_or_else(|| api_token.clone()),
        api_token,
        org_slug: required(raw.fly_org_slug.clone(), "FLY_ORG_SLUG", WITH_FLY)?,
        shared_registry_app: required(
            raw.fly_shared_registry_app.clone(),
            "FLY_SHARED_REGISTRY_APP",
            WITH_FLY,
        )?,
        machines_api_url: raw.fly_machines_api_url.clone(),
        registry_url: raw.fly_registry_url.clone(),
        registry_username: raw.fly_registry_username.clone(),
        subdomain_suffix: required(
            raw.fly_subdomain_suffix.clone(),
            "FLY_SUBDOMAIN_SUFFIX",
            WITH_FLY,
        )?,
        certificates_enabled: raw.fly_certificates_enabled,
        tenant_db_admin_url: required(
            raw.tenant_db_admin_url.clone(),
            "TENANT_DB_ADMIN_URL",
            WITH_FLY,
        )?,
        tenant_db_host: tenant_db_host(raw)?,
        api_external_url: raw.api_external_url.clone(),
        tenant_jwt_issuer: raw.tenant_jwt_issuer.clone(),
        tenant_volume_mount_path: tenant::mount_path(&raw.tenant_volume_mount_path)?,
        deploy_health_timeout: raw.deploy_health_timeout,
        deploy_health_grace: raw.deploy_health_grace,
        tenant_extra_secrets: match &raw.tenant_extra_secrets_file {
            Some(path) => tenant::extra_secrets(path)?,
            None => BTreeMap::new(),
        },
        secrets_keyring: credentials::keyring(raw.secrets_encryption_keys.as_ref())?,
        tenant_db_public_endpoint: credentials::public_endpoint(
            raw.tenant_db_public_endpoint.as_deref(),
        )?,
        gateway_listen_addr: raw.gateway_listen_addr,
        gateway_public_host: required(
            raw.gateway_public_host.clone(),
            "GATEWAY_PUBLIC_HOST",
            WITH_FLY,
        )?,
        gateway_signing_key: gateway::signing_key(
            required(
                raw.gateway_signing_key.clone(),
                "GATEWAY_SIGNING_KEY",
                WITH_FLY,
            )?,
            jwt_secret,
        )?,
        gateway_credential_ttl: gateway::credential_ttl(raw.gateway_credential_ttl_secs)?,
        gateway_public_scheme: raw.gateway_public_scheme.clone(),
        gateway_limits: gateway::limits(raw)?,
        dns: dns(raw)?,
    })
}

/// `DNS_PROVIDER` and, for Cloudflare, its token, zone and API URL (all required then).
fn dns(raw: &RawSettings) -> Result<Option<CloudflareSettings>, SettingsError> {
    if raw.dns_provider == DnsProvider::None {
        return Ok(None);
    }
    const WHY: &str = " when DNS_PROVIDER=cloudflare";
    let api_token = required(
        raw.cloudflare_api_token.clone(),
        "CLOUDFLARE_API_TOKEN",
        WHY,
    )?;
    let zone_id = required(
        raw.cloudflare_zone_id
            .clone()
            .filter(|z| !z.trim().is_empty()),
        "CLOUDFLARE_ZONE_ID",
        WHY,
    )?;
    if !zone_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(SettingsError::new(
            "CLOUDFLARE_ZONE_ID must be the zone's id (letters and digits)",
        ));
    }
    let api_url = raw.cloudflare_api_url.trim_end_matches('/').to_owned();
    match url::Url::parse(&api_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
        _ => {
            return Err(SettingsError::new(
                "CLOUDFLARE_API_URL must be an http(s) URL",
            ));
        }
    }
    Ok(Some(CloudflareSettings {
        api_url,
        api_token,
        zone_id,
    }))
}

/// `TENANT_DB_HOST`, required: there is no safe default. Each tenant app runs on its own Fly network, so
/// `{FLY_POSTGRES_APP}.internal`, a name on the organisation's default network, is unreachable from
/// tenants; only the operator knows the endpoint they can reach.
fn tenant_db_host(raw: &RawSettings) -> Result<String, SettingsError> {
    match &raw.tenant_db_host {
        Some(host) => Ok(host.clone()),
        None => Err(SettingsError::new(format!(
            "TENANT_DB_HOST is required{WITH_FLY}: tenant apps run on their own Fly networks and cannot \
             reach `<postgres app>.internal`; give the `host:port` of an endpoint they can reach (a public \
             address with TLS, or a Flycast address of the cluster in the tenants' networks)"
        ))),
    }
}

#[cfg(test)]
mod tests;
