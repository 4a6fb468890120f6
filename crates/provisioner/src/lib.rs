//! Tenant lifecycle use cases: the provisioning saga, digest-pinned deploys, secrets, restart and the
//! durable cleanup, run by background [`Workers`] from the persistence job queue.
//!
//! [`TenantService`] holds every outside system as a trait object (`Repositories`,
//! `TenantDatabaseAdmin`, [`fly_client::FlyMachines`], [`fly_client::Registry`]) so the API server, other
//! services and tests can swap any layer. Customer-facing calls answer fast; slow work is a job.

mod config;
mod deploy;
mod error;
mod jobs;
mod ownership;
mod secrets;
mod service;
mod tenants;
mod worker;

pub use config::{MachineSettings, ProvisionerConfig, WorkerSettings};
pub use error::ServiceError;
pub use jobs::machine_request;
pub use secrets::{RESERVED_SECRETS, is_valid_secret_key};
pub use service::TenantService;
pub use tenants::{CreateTenant, DEFAULT_PLAN};
pub use worker::Workers;
