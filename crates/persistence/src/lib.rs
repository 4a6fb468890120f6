#![doc = include_str!("../README.md")]

pub mod activity;
pub mod billing_events;
pub mod checkout_sessions;
pub mod custom_domains;
pub mod customers;
pub mod deployments;
pub mod error;
pub mod events;
pub mod job_counts;
pub mod jobs;
pub mod login;
pub mod migrate;
pub mod notify;
pub mod pool;
pub mod reconcile;
pub mod registry_pushes;
mod registry_uploads;
mod revocations;
pub mod schema;
pub mod subscriptions;
pub mod tenant_credentials;
pub mod tenant_db_admin;
pub mod tenants;
#[cfg(feature = "testing")]
pub mod testing;
mod tx;

use std::sync::Arc;

pub use activity::PgActivityRepository;
pub use billing_events::PgBillingEventRepository;
pub use checkout_sessions::PgCheckoutRepository;
pub use custom_domains::PgCustomDomainRepository;
pub use customers::{PgCustomerRepository, PgPlanRepository};
pub use deployments::PgDeploymentRepository;
pub use error::PersistenceError;
pub use events::PgEventRepository;
pub use job_counts::job_counts;
pub use jobs::PgJobQueue;
pub use login::{PgLoginIdentityRepository, PgLoginStateRepository};
pub use migrate::{MIGRATIONS, run_migrations, run_migrations_blocking};
pub use notify::{ChangeSignal, SignalSink, TENANT_CHANGES_CHANNEL, spawn_change_listener};
pub use pool::{PgPool, PoolConfig, PooledConnection, Recycle, build_pool, check_connection};
pub use reconcile::{ForceDeleted, PgOperatorStore, PgReconcileStore};
pub use registry_pushes::PgRegistryPushRepository;
pub use revocations::PgTokenRevocationRepository;
pub use subscriptions::PgSubscriptionRepository;
pub use tenant_credentials::PgTenantCredentialRepository;
pub use tenant_db_admin::PgTenantDatabaseAdmin;
pub use tenants::PgTenantRepository;

/// Constructor of the repository bundle the services receive.
#[derive(Debug)]
pub struct PgRepositories;

impl PgRepositories {
    /// Every repository of `mgmt_domain::ports` on one pool.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(pool: PgPool) -> mgmt_domain::Repositories {
        mgmt_domain::Repositories {
            customers: Arc::new(PgCustomerRepository::new(pool.clone())),
            plans: Arc::new(PgPlanRepository::new(pool.clone())),
            tenants: Arc::new(PgTenantRepository::new(pool.clone())),
            deployments: Arc::new(PgDeploymentRepository::new(pool.clone())),
            events: Arc::new(PgEventRepository::new(pool.clone())),
            jobs: Arc::new(PgJobQueue::new(pool.clone())),
            registry_pushes: Arc::new(PgRegistryPushRepository::new(pool.clone())),
            tenant_credentials: Arc::new(PgTenantCredentialRepository::new(pool.clone())),
            custom_domains: Arc::new(PgCustomDomainRepository::new(pool.clone())),
            subscriptions: Arc::new(PgSubscriptionRepository::new(pool.clone())),
            checkout: Arc::new(PgCheckoutRepository::new(pool.clone())),
            billing_events: Arc::new(PgBillingEventRepository::new(pool.clone())),
            activity: Arc::new(PgActivityRepository::new(pool.clone())),
            login_states: Arc::new(PgLoginStateRepository::new(pool.clone())),
            login_identities: Arc::new(PgLoginIdentityRepository::new(pool.clone())),
            revocations: Arc::new(PgTokenRevocationRepository::new(pool)),
        }
    }
}
