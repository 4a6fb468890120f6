//! Builds the object graph from settings: pool and repositories, JWT verifier, metrics, and, when the
//! cloud is enabled, the Fly clients, the tenant service and the registry gateway. The HTTP layer gets
//! the tenant service and the credential issuer through its ports ([`crate::adapters`]); the Fly
//! clients and the workers report to the metrics through their observer ports ([`crate::observers`]).

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use mgmt_billing::{HttpPaddle, PaddleConfig, SubscriptionService};
use mgmt_domain::{RegistryTarget, Repositories};
use mgmt_fly_client::{HttpFlyMachines, HttpRegistry, MachinesConfig, RegistryConfig};
use mgmt_http::auth::JwtVerifier;
use mgmt_http::metrics::Metrics;
use mgmt_http::ports::BoxError;
use mgmt_http::{ApiSettings, AppState, ReadinessCheck};
use mgmt_persistence::{
    PgPool, PgRepositories, PgTenantDatabaseAdmin, PoolConfig, check_connection,
};
use mgmt_provisioner::{ProvisionerConfig, TenantService};
use mgmt_registry_gateway::{CredentialIssuer, GatewayState, UpstreamConfig};

use crate::adapters::{GatewayCredentials, PaddleBilling, ProvisionerCommands};
use crate::observers::{MetricsObserver, circuit_state};
use crate::settings::{FlySettings, Settings};

/// What `Application::build` assembles.
pub struct Wired {
    pub pool: PgPool,
    pub state: AppState,
    pub service: Option<Arc<TenantService>>,
    pub gateway: Option<GatewayState>,
}

impl std::fmt::Debug for Wired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wired")
            .field("state", &self.state)
            .field("cloud", &self.service.is_some())
            .finish_non_exhaustive()
    }
}

/// Readiness: the pool can hand out a connection that answers `SELECT 1`.
struct PoolReadiness(PgPool);

#[async_trait]
impl ReadinessCheck for PoolReadiness {
    async fn check(&self) -> Result<(), BoxError> {
        Ok(check_connection(&self.0).await?)
    }
}

/// `/metrics`' queue figures from the counters the database maintains (not a count of the jobs).
struct JobCounts(PgPool);

#[async_trait]
impl mgmt_http::ports::QueueFigures for JobCounts {
    async fn queue_stats(&self) -> Result<mgmt_domain::QueueStats, BoxError> {
        Ok(mgmt_persistence::job_counts(&self.0).await?)
    }
}

pub fn pool(settings: &Settings) -> anyhow::Result<PgPool> {
    let mut config = PoolConfig::new(settings.database_url.clone());
    config.max_size = settings.database_pool_size;
    config.recycle = settings.database_pool_recycle;
    mgmt_persistence::build_pool(&config).context("DATABASE_URL: cannot build the connection pool")
}

/// The tenant CNAMEs' provider: Cloudflare, or none (`DNS_PROVIDER=none`: a wildcard record routes).
fn dns_records(
    fly: &crate::settings::FlySettings,
) -> anyhow::Result<Option<Arc<dyn mgmt_domain::DnsRecords>>> {
    let Some(cf) = &fly.dns else {
        return Ok(None);
    };
    let config = mgmt_dns::CloudflareConfig::new(&cf.api_url, cf.api_token.clone(), &cf.zone_id);
    let client = mgmt_dns::CloudflareDns::new(config)
        .map_err(|e| anyhow::anyhow!("CLOUDFLARE_API_URL / CLOUDFLARE_ZONE_ID: {e}"))?;
    Ok(Some(Arc::new(client)))
}

pub fn wire(settings: &Settings, pool: PgPool) -> anyhow::Result<Wired> {
    let repos = PgRepositories::new(pool.clone());
    let verifier = JwtVerifier::new(settings.jwt.clone()).context("JWT settings")?;
    let metrics = Arc::new(Metrics::new());
    let api_settings = ApiSettings {
        json_limit: settings.json_body_limit,
        event_poll_interval: settings.event_poll_interval,
        event_heartbeat: settings.event_heartbeat,
        customer_cache_ttl: settings.customer_cache_ttl,
        revocation_cache_ttl: settings.revocation_cache_ttl,
        form_limit: 16 * 1024,
        limits: settings.limits,
        event_stream_buffer: ApiSettings::default().event_stream_buffer,
        tenant_db_host: settings
            .fly
            .as_ref()
            .map(|f| f.tenant_db_host.clone())
            .unwrap_or_else(|| "localhost:5432".into()),
    };
    let mut state = AppState::new(repos.clone(), Arc::new(verifier))
        .with_metrics(metrics.clone())
        .with_readiness(Arc::new(PoolReadiness(pool.clone())))
        .with_queue_figures(Arc::new(JobCounts(pool.clone())))
        .with_customer_policy(settings.customer_policy)
        .with_settings(api_settings);
    if let Some(identity) = &settings.identity {
        state = state.with_tokens(Arc::new(crate::adapters::IdentityTokens::new(
            identity.issuer.clone(),
        )));
        if let Some(login) = login_service(settings, identity.issuer.clone(), &repos)? {
            state = state.with_login(Arc::new(crate::adapters::IdentityLogin(Arc::new(login))));
        }
    }
    let mut paddle_api: Option<Arc<dyn mgmt_billing::PaddleApi>> = None;
    if let Some(billing) = &settings.billing {
        let paddle = Arc::new(
            HttpPaddle::new(PaddleConfig::new(
                &billing.paddle_api_url,
                billing.paddle_api_key.clone(),
            ))
            .context("PADDLE_API_URL / PADDLE_API_KEY")?,
        );
        paddle_api = Some(paddle.clone());
        let subscriptions = SubscriptionService::new(repos.clone(), paddle);
        state = state.with_billing(Arc::new(PaddleBilling(Arc::new(subscriptions))));
    }
    let (service, gateway) = match &settings.fly {
        Some(fly) => {
            let (service, issuer, gateway) = cloud(settings, fly, &repos, &metrics)?;
            state = state
                .with_commands(Arc::new(ProvisionerCommands(
                    service.clone(),
                    repos.clone(),
                )))
                .with_credentials(Arc::new(GatewayCredentials(issuer)))
                .with_signup(Arc::new(crate::adapters::PaddleSignup(signup_service(
                    settings,
                    &repos,
                    paddle_api.clone(),
                    &service,
                ))));
            (Some(service), Some(gateway))
        }
        None => (None, None),
    };
    Ok(Wired {
        pool,
        state,
        service,
        gateway,
    })
}

type Cloud = (Arc<TenantService>, Arc<CredentialIssuer>, GatewayState);

fn cloud(
    settings: &Settings,
    fly: &FlySettings,
    repos: &Repositories,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Cloud> {
    let observer = Arc::new(MetricsObserver(metrics.clone()));
    let machines = HttpFlyMachines::new(MachinesConfig::new(
        &fly.machines_api_url,
        fly.api_token.clone(),
        &fly.org_slug,
    ))
    .context("FLY_MACHINES_API_URL / FLY_API_TOKEN")?
    .with_observer(observer.clone());
    let registry = HttpRegistry::new(RegistryConfig::new(
        &fly.registry_url,
        &fly.registry_username,
        fly.registry_password.clone(),
    ))
    .context("FLY_REGISTRY_URL")?
    .with_observer(observer.clone());
    let machines = Arc::new(machines);
    let registry = Arc::new(registry);
    let (m, r) = (machines.clone(), registry.clone());
    metrics.add_breaker_probe(
        "machines",
        Box::new(move || circuit_state(m.breaker_state())),
    );
    metrics.add_breaker_probe(
        "registry",
        Box::new(move || circuit_state(r.breaker_state())),
    );

    let upstream_url =
        url::Url::parse(&fly.registry_url).context("FLY_REGISTRY_URL is not a URL")?;
    let upstream_host = match (upstream_url.host_str(), upstream_url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => anyhow::bail!("FLY_REGISTRY_URL has no host"),
    };
    let target = RegistryTarget::new(&fly.gateway_public_host, &fly.shared_registry_app);
    let mut config = ProvisionerConfig::new(
        target,
        upstream_host,
        &fly.subdomain_suffix,
        &fly.tenant_db_host,
    );
    config.certificates_enabled = fly.certificates_enabled;
    config.worker.workers = settings.worker_count;
    config.worker.lease = settings.worker_lease;
    config.machine.volume_mount_path = fly.tenant_volume_mount_path.clone();
    config.machine.health_timeout = fly.deploy_health_timeout;
    config.machine.health_grace_period = fly.deploy_health_grace;
    config.extra_secrets = fly.tenant_extra_secrets.clone();
    config.keyring = Some(fly.secrets_keyring.clone());
    config.tenant_db_public_endpoint = fly.tenant_db_public_endpoint.clone();
    config.deploy_resolve_within = settings.deploy_answer_within;
    if let Some(url) = &fly.api_external_url {
        config.machine.api_external_url = url.clone();
        config.machine.api_server_url = url.clone();
    }
    if let Some(iss) = &fly.tenant_jwt_issuer {
        config.machine.jwt_issuer = iss.clone();
    }
    let db_admin = Arc::new(PgTenantDatabaseAdmin::new(fly.tenant_db_admin_url.clone()));
    let service = Arc::new(
        TenantService::new(repos.clone(), machines, registry, db_admin, config)
            .with_job_observer(observer)
            .with_dns(dns_records(fly)?),
    );

    let issuer = Arc::new(CredentialIssuer::new(
        fly.gateway_signing_key.clone(),
        fly.gateway_credential_ttl,
        fly.gateway_public_host.clone(),
        fly.shared_registry_app.clone(),
    ));
    let upstream = UpstreamConfig {
        base_url: upstream_url,
        username: fly.registry_username.clone(),
        password: fly.registry_password.clone(),
    };
    let mut gateway = GatewayState::new(issuer.clone(), upstream, repos.registry_pushes.clone())
        .with_limits(fly.gateway_limits.clone());
    if let Some(scheme) = &fly.gateway_public_scheme {
        gateway = gateway.with_public_scheme(scheme.clone());
    }
    Ok((service, issuer, gateway))
}

/// The CLI login over the configured providers (`None` when neither GitHub nor Google is). Our
/// callback is `{PUBLIC_API_URL}/api/v1/auth/oauth/{provider}/callback`.
fn login_service(
    settings: &Settings,
    issuer: Arc<mgmt_identity::TokenIssuer>,
    repos: &mgmt_domain::Repositories,
) -> anyhow::Result<Option<mgmt_identity::oauth::LoginService>> {
    use mgmt_domain::LoginProvider;
    use mgmt_identity::oauth::{Http, LoginService, Provider, RedirectPolicy, STATE_TTL_DEFAULT};
    let configured = [
        (LoginProvider::Github, &settings.login.github),
        (LoginProvider::Google, &settings.login.google),
    ];
    if configured.iter().all(|(_, c)| c.is_none()) {
        return Ok(None);
    }
    let base = issuer.issuer().trim_end_matches('/').to_owned();
    let http = Http::new().context("the login's HTTP client")?;
    let mut providers = Vec::new();
    for (kind, config) in configured {
        if let Some(config) = config {
            let callback = format!("{base}/api/v1/auth/oauth/{kind}/callback");
            providers.push(
                Provider::new(kind, config.clone(), &callback, http.clone())
                    .map_err(anyhow::Error::msg)?,
            );
        }
    }
    let redirects = RedirectPolicy::new(&settings.login.redirect_origins)?;
    Ok(Some(LoginService::new(
        providers,
        redirects,
        repos,
        issuer,
        STATE_TTL_DEFAULT,
    )))
}

/// Signup (checkout, the free page, Paddle's webhooks): needs the cloud (it makes tenants); paid
/// plans need Paddle, webhooks `PADDLE_WEBHOOK_SECRET`.
pub(crate) fn signup_service(
    settings: &Settings,
    repos: &Repositories,
    paddle: Option<Arc<dyn mgmt_billing::PaddleApi>>,
    service: &Arc<TenantService>,
) -> Arc<mgmt_billing::SignupService> {
    // Paddle signs with the delivery time; five minutes covers clock skew, not replays.
    const WEBHOOK_TOLERANCE: std::time::Duration = std::time::Duration::from_secs(300);
    let verifier = settings
        .signup
        .paddle_webhook_secret
        .clone()
        .map(|secret| mgmt_billing::WebhookVerifier::new(secret, WEBHOOK_TOLERANCE));
    let public_api_url = settings
        .public_api_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", settings.listen_addr));
    Arc::new(mgmt_billing::SignupService::new(
        repos.clone(),
        paddle,
        Arc::new(crate::adapters::ProvisionerTenantCreator(service.clone())),
        verifier,
        mgmt_billing::SignupSettings {
            public_api_url: public_api_url.trim_end_matches('/').to_owned(),
            session_ttl: chrono::Duration::from_std(settings.signup.checkout_session_ttl)
                .unwrap_or_else(|_| chrono::Duration::hours(1)),
            paddle_checkout_url: settings.signup.paddle_checkout_url.clone(),
        },
    ))
}
