#![doc = include_str!("../README.md")]

pub mod auth;
pub mod credentials;
pub mod error;
pub mod forward;
mod handlers;
pub mod limits;
pub mod policy;
pub mod query;
mod rate;
pub mod route;
pub mod state;
mod uploads;
pub mod upstream;
mod writes;

pub use credentials::{CredentialError, CredentialIssuer, IssuedCredential, TenantScope};
pub use error::RegistryError;
pub use limits::GatewayLimits;
pub use state::{GatewayState, configure};
pub use upstream::UpstreamConfig;
