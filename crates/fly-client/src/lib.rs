#![doc = include_str!("../README.md")]

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
