//! The shared state every handler receives (`web::Data<AppState>`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mgmt_domain::Repositories;

use crate::auth::{CustomerCache, CustomerPolicy, JwtVerifier, RevocationCache};
use crate::fanout::EventsHub;
use crate::limits::{LimitSettings, Limits};
use crate::metrics::Metrics;
use crate::ports::{BillingCommands, BoxError, RegistryCredentials, TenantCommands, TokenIssuance};

/// Tunables of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Largest accepted JSON body, in bytes.
    pub json_limit: usize,
    /// How often the events stream looks for new events.
    pub event_poll_interval: Duration,
    /// Comment lines sent on an idle events stream so proxies keep it open.
    pub event_heartbeat: Duration,
    /// Host and port of the shared tenant PostgreSQL cluster, shown in `database_url` (never a password).
    pub tenant_db_host: String,
    /// How long a `sub` → customer lookup is reused (a suspension takes effect within it); zero disables.
    pub customer_cache_ttl: Duration,
    /// How long a token's revocation lookup is reused: a revocation takes effect within it; zero
    /// disables.
    pub revocation_cache_ttl: Duration,
    /// Largest accepted form body (the token exchange), in bytes.
    pub form_limit: usize,
    /// Per-customer and per-process limits on requests and event streams.
    pub limits: LimitSettings,
    /// Updates an events stream may have waiting before it is dropped as slow.
    pub event_stream_buffer: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            json_limit: 64 * 1024,
            event_poll_interval: Duration::from_millis(500),
            event_heartbeat: Duration::from_secs(15),
            tenant_db_host: "localhost:5432".to_owned(),
            customer_cache_ttl: Duration::from_secs(30),
            revocation_cache_ttl: Duration::from_secs(5),
            form_limit: 16 * 1024,
            limits: LimitSettings::default(),
            event_stream_buffer: 16,
        }
    }
}

/// A readiness probe of something the API cannot serve without (the database).
#[async_trait]
pub trait ReadinessCheck: Send + Sync {
    /// `Err` carries the cause, logged with its chain of sources (never sent to the client).
    async fn check(&self) -> Result<(), BoxError>;
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Reads go straight to the repositories.
    pub repos: Repositories,
    /// Mutations; `None` when the cloud is disabled (those endpoints answer 503 `cloud_disabled`).
    pub commands: Option<Arc<dyn TenantCommands>>,
    /// Registry push credentials; `None` when no gateway is configured.
    pub credentials: Option<Arc<dyn RegistryCredentials>>,
    /// Billing; `None` when it is not configured (those endpoints answer 503 `billing_disabled`).
    pub billing: Option<Arc<dyn BillingCommands>>,
    /// Signup (checkout, Paddle webhooks); `None` when the cloud is disabled (503 `cloud_disabled`).
    pub signup: Option<Arc<dyn crate::ports::SignupCommands>>,
    pub verifier: Arc<JwtVerifier>,
    pub customer_policy: CustomerPolicy,
    pub customer_cache: Arc<CustomerCache>,
    pub revocation_cache: Arc<RevocationCache>,
    /// The tokens we issue (JWKS, exchange); `None` without signing keys (those endpoints answer 503).
    pub tokens: Option<Arc<dyn TokenIssuance>>,
    /// The CLI login through GitHub/Google; `None` when no provider is configured (503).
    pub login: Option<Arc<dyn crate::ports::LoginFlow>>,
    pub metrics: Arc<Metrics>,
    pub readiness: Option<Arc<dyn ReadinessCheck>>,
    pub settings: ApiSettings,
    /// Fans tenant changes out to the open event streams (the server feeds it the database's
    /// notifications).
    pub events_hub: EventsHub,
    /// Per-customer and per-process limits (from `settings.limits`).
    pub limits: Limits,
    /// The job queue's figures for `/metrics`; `None`: the repository counts them.
    pub queue_figures: Option<Arc<dyn crate::ports::QueueFigures>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("cloud_enabled", &self.commands.is_some())
            .field("mgmt_registry_gateway", &self.credentials.is_some())
            .field("billing", &self.billing.is_some())
            .field("customer_policy", &self.customer_policy)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A state with no cloud and no gateway; add them with the `with_*` methods.
    pub fn new(repos: Repositories, verifier: Arc<JwtVerifier>) -> Self {
        Self {
            events_hub: EventsHub::new(repos.clone(), ApiSettings::default().event_stream_buffer),
            repos,
            commands: None,
            credentials: None,
            billing: None,
            signup: None,
            verifier,
            customer_policy: CustomerPolicy::default(),
            customer_cache: Arc::new(CustomerCache::new(
                ApiSettings::default().customer_cache_ttl,
            )),
            revocation_cache: Arc::new(RevocationCache::new(
                ApiSettings::default().revocation_cache_ttl,
            )),
            tokens: None,
            login: None,
            metrics: Arc::new(Metrics::new()),
            readiness: None,
            limits: Limits::new(ApiSettings::default().limits),
            queue_figures: None,
            settings: ApiSettings::default(),
        }
    }

    pub fn with_commands(mut self, commands: Arc<dyn TenantCommands>) -> Self {
        self.commands = Some(commands);
        self
    }

    pub fn with_credentials(mut self, credentials: Arc<dyn RegistryCredentials>) -> Self {
        self.credentials = Some(credentials);
        self
    }

    pub fn with_login(mut self, login: Arc<dyn crate::ports::LoginFlow>) -> Self {
        self.login = Some(login);
        self
    }

    pub fn with_billing(mut self, billing: Arc<dyn BillingCommands>) -> Self {
        self.billing = Some(billing);
        self
    }

    pub fn with_signup(mut self, signup: Arc<dyn crate::ports::SignupCommands>) -> Self {
        self.signup = Some(signup);
        self
    }

    /// The signup service, or 503 `cloud_disabled`.
    pub fn signup(&self) -> Result<&Arc<dyn crate::ports::SignupCommands>, crate::error::ApiError> {
        self.signup
            .as_ref()
            .ok_or_else(crate::error::ApiError::cloud_disabled)
    }

    /// The billing service, or 503 `billing_disabled`.
    pub fn billing(&self) -> Result<&Arc<dyn BillingCommands>, crate::error::ApiError> {
        self.billing.as_ref().ok_or_else(|| {
            crate::error::ApiError::unavailable(
                "billing_disabled",
                "billing is not configured on this server",
            )
        })
    }

    pub fn with_tokens(mut self, tokens: Arc<dyn TokenIssuance>) -> Self {
        self.tokens = Some(tokens);
        self
    }

    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn with_queue_figures(mut self, figures: Arc<dyn crate::ports::QueueFigures>) -> Self {
        self.queue_figures = Some(figures);
        self
    }

    pub fn with_readiness(mut self, check: Arc<dyn ReadinessCheck>) -> Self {
        self.readiness = Some(check);
        self
    }

    pub fn with_settings(mut self, settings: ApiSettings) -> Self {
        self.customer_cache = Arc::new(CustomerCache::new(settings.customer_cache_ttl));
        self.revocation_cache = Arc::new(RevocationCache::new(settings.revocation_cache_ttl));
        self.events_hub = EventsHub::new(self.repos.clone(), settings.event_stream_buffer);
        self.limits = Limits::new(settings.limits);
        self.settings = settings;
        self
    }

    pub fn with_customer_policy(mut self, policy: CustomerPolicy) -> Self {
        self.customer_policy = policy;
        self
    }

    /// The mutation service, or 503 `cloud_disabled`.
    pub fn commands(&self) -> Result<&Arc<dyn TenantCommands>, crate::error::ApiError> {
        self.commands
            .as_ref()
            .ok_or_else(crate::error::ApiError::cloud_disabled)
    }
}
