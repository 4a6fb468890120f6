//! The provisioner's integration tests, one binary: the tenant lifecycle against mock-fly, real PostgreSQL
//! (a database per test) and a tenant cluster, with faults injected.

mod cleanup;
mod common;
mod concurrent_deploys;
mod credentials;
mod custom_domains;
mod deploy_budget;
mod dns;
mod engine;
mod fault_matrix;
mod health_gate;
mod job_observer;
mod lifecycle;
mod provenance;
mod resilience;
mod secrets_rollout;
mod shared_digest;
