//! Integration tests of the HTTP API through the real server (one binary, several modules).

mod cli_types;
mod authz;
mod bad_input;
mod contract;
mod events;
mod helpers;
mod lifecycle;
