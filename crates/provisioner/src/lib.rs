#![doc = include_str!("../README.md")]

mod config;
mod deploy;
mod error;
mod jobs;
mod observer;
mod ownership;
mod provenance;
mod secrets;
mod service;
mod tenants;
mod worker;

pub use config::{MachineSettings, ProvisionerConfig, WorkerSettings};
pub use error::ServiceError;
pub use jobs::machine_request;
pub use observer::{JobObserver, JobOutcome, NoopJobObserver};
pub use secrets::{MAX_SECRET_BYTES, RESERVED_SECRETS};
pub use service::TenantService;
pub use tenants::{CreateTenant, DEFAULT_PLAN, MAX_NAME_CHARS};
pub use worker::Workers;
