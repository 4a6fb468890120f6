//! The HTTP API the customer CLI talks to (actix-web).
//!
//! [`configure`] registers every route on an actix app from an [`AppState`]: reads go to the
//! repositories (the domain's ports), mutations to [`ports::TenantCommands`], registry credentials to
//! [`ports::RegistryCredentials`]. This crate depends on the domain only: the server crate implements
//! these ports for the provisioner and the registry gateway and wires them in. Wire shapes live in
//! [`wire`], the error policy in [`error`], authentication in [`auth`], metrics in [`metrics`], the
//! OpenAPI document in [`openapi`].

pub mod auth;
pub mod error;
pub mod fanout;
pub mod handlers;
pub mod input;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod ports;
pub mod request_context;
pub mod routes;
pub mod state;
pub mod wire;

pub use error::{ApiError, ApiResult};
pub use routes::{ROUTES, configure};
pub use state::{ApiSettings, AppState, ReadinessCheck};
