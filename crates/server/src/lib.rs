//! The `management-api` server: configuration, logging, wiring and lifecycle around the HTTP API.
//!
//! `main` parses the command line ([`cli`]) and calls into this library, which the tests use too:
//! [`settings::Settings::load`], [`startup::Application::build`], [`telemetry::subscriber`].

pub mod cli;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod token;
pub mod wiring;

pub use startup::Application;
