//! Integration tests of the HTTP API through the real server (one binary, several modules).

mod authz;
mod bad_input;
mod cli_types;
mod contract;
mod events;
mod helpers;
mod lifecycle;
mod tenant_settings;
