#![doc = include_str!("../README.md")]

mod config;
mod credentials;
mod custom_domains;
mod deploy;
mod error;
mod jobs;
mod observer;
mod ownership;
mod provenance;
mod rollout;
mod secrets;
mod service;
mod tenants;
pub mod vault;
mod worker;

pub use config::{MachineSettings, ProvisionerConfig, WorkerSettings};
pub use credentials::{
    DATABASE_PASSWORD, DATABASE_PASSWORD_PENDING, ExternalDbAccess, JWT_SECRET, RotatedCredentials,
    TenantCredentials,
};
pub use custom_domains::{CustomDomainError, CustomDomainSet};
pub use error::ServiceError;
pub use jobs::machine_request;
pub use observer::{JobObserver, JobOutcome, NoopJobObserver};
pub use secrets::{FLY_RESERVED_PREFIX, MAX_SECRET_BYTES, RESERVED_SECRETS};
pub use service::TenantService;
pub use tenants::{CreateTenant, DEFAULT_PLAN, MAX_NAME_CHARS};
pub use worker::Workers;
