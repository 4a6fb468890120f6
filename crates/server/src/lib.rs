//! The `management-api` server: configuration, logging, wiring and lifecycle around the HTTP API.
//!
//! `main` parses the command line ([`cli`]) and calls into this library, which the tests use too:
//! [`settings::Settings::load`], [`startup::Application::build`], [`telemetry::subscriber`].
//!
//! This is the one crate that knows every layer: [`wiring`] builds them from the settings and joins
//! them through the HTTP layer's ports ([`adapters`]) and the lower layers' observer ports
//! ([`observers`]).

// Every normal dependency must be used by the library (the binary adds none of its own); the unit
// test build also sees the integration tests' dev-dependencies, so the check is off there.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod adapters;
pub mod billing_ops;
pub mod cli;
pub mod observers;
pub mod ops;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod token;
pub mod wiring;

pub use startup::Application;
