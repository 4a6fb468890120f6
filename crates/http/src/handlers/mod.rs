//! Request handlers, one module per group of endpoints.

pub mod activity;
pub mod billing;
pub mod checkout;
pub mod credentials;
pub mod custom_domains;
pub mod deploy;
pub mod events;
pub mod health;
pub mod login;
pub mod me;
pub mod paddle_webhooks;
pub mod secrets;
pub mod tenants;
pub mod token_exchange;
