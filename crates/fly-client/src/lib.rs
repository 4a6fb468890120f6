//! Clients for Fly.io's Machines API and for OCI/Docker registry v2 (registry.fly.io and friends).
//!
//! Callers hold the object-safe traits [`FlyMachines`] and [`Registry`] as `Arc<dyn ...>`; the reqwest
//! implementations take their base URL and token from configuration, retry idempotent calls with
//! jittered backoff, make creates safe to repeat, and put a circuit breaker in front of each upstream.
//! This crate depends on no other crate of the workspace, so other services can reuse it as is.

pub mod error;
pub mod machines;
pub mod registry;
pub mod resilience;

pub use error::{FlyError, FlyResult};
pub use machines::FlyMachines;
pub use machines::http::{HttpFlyMachines, MachinesConfig};
pub use machines::models::*;
pub use registry::Registry;
pub use registry::http::{HttpRegistry, RegistryAuth, RegistryConfig};
pub use registry::models::*;
pub use resilience::{BreakerConfig, BreakerState, CallObserver, NoopObserver, RetryPolicy};
