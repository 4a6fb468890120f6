//! Integration tests against a real PostgreSQL server (`DATABASE_URL`, default the local one): each
//! test gets its own migrated database. One test binary, so the crate links once.

mod custom_domains_billing_activity;
mod customers;
mod deployments;
mod events;
mod jobs;
mod login;
mod migrations;
mod notify;
mod outbox_fencing;
mod pool;
mod registry_pushes;
mod revocations;
mod tenant_credentials;
mod tenant_db_admin;
mod tenants;
