//! Tenant lifecycle use cases: the provisioning saga, digest-pinned deploys, secrets, restart and the
//! durable cleanup, run by background [`Workers`] from the persistence job queue.
//!
//! [`TenantService`] holds every outside system as a trait object (`Repositories`,
//! `TenantDatabaseAdmin`, [`fly_client::FlyMachines`], [`fly_client::Registry`]) so the API server, other
//! services and tests can swap any layer. Customer-facing calls answer fast; slow work is a job:
//!
//! - `provision` (enqueued by `create_tenant` / `retry_provision`): database and role, Fly app, secrets,
//!   volume, IPs, certificate, as concurrently as their dependencies allow; compensated in reverse
//!   order on failure (tenant `failed`); ends `awaiting_deploy`. App ownership: see `ownership`.
//! - `deploy` (enqueued by `deploy`, once every manifest and blob the tag's digest reaches is proven
//!   the tenant's own: see `provenance`): the newest accepted deployment goes to the tenant's one
//!   machine, pinned by digest; older pending ones are superseded. One tenant's jobs never run concurrently.
//! - `cleanup` (enqueued by `delete_tenant`, never gives up): machine, volumes, app, database and
//!   role, registry tag; each idempotent, retried with capped backoff, resumed by any worker.

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
pub use secrets::{MAX_SECRET_BYTES, RESERVED_SECRETS, is_valid_secret_key};
pub use service::TenantService;
pub use tenants::{CreateTenant, DEFAULT_PLAN, MAX_NAME_CHARS};
pub use worker::Workers;
