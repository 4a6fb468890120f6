//! The server's integration tests, one binary: the HTTP API through the real server (`Application::build`,
//! a database per test, mock-fly, a real registry), the binary's command line, log capture (no secret in any
//! log line) and the database pool. The end-to-end flow over the real binaries is its own target (`e2e`).

mod activity;
mod authz;
mod bad_input;
mod billing;
mod binary;
mod cli_types;
mod contract;
mod credentials;
mod custom_domains;
mod events;
mod helpers;
mod identity_tokens;
mod lifecycle;
mod log_capture;
mod login;
mod ops;
mod pool;
mod secrets_deploy;
mod signup;
mod streams;
mod tenant_settings;
