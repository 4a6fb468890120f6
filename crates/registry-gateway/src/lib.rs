//! Registry v2 gateway: tenant-scoped push credentials in front of the shared upstream repository.
//!
//! Customers never see the org-wide registry token. They receive a short-lived credential
//! ([`credentials::CredentialIssuer`]) valid for their own tag; the gateway checks every request against
//! that scope and forwards what is allowed to the upstream registry with the org credentials.

pub mod credentials;

pub use credentials::{CredentialError, CredentialIssuer, IssuedCredential, TenantScope};
