//! Registry v2 gateway: tenant-scoped push credentials in front of the shared upstream repository.
//!
//! Customers never see the org-wide registry token. They receive a short-lived credential
//! ([`credentials::CredentialIssuer`]) valid for their own tag; the gateway checks every request against
//! that scope ([`policy`]) and forwards what is allowed to the upstream registry with the org
//! credentials ([`upstream`], [`forward`]), streaming bodies both ways. A server mounts it with
//! [`configure`]:
//!
//! ```no_run
//! # fn mount(state: registry_gateway::GatewayState) {
//! let app = actix_web::App::new().configure(registry_gateway::configure(state));
//! # let _ = app;
//! # }
//! ```

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
