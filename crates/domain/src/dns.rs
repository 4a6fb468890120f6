//! The DNS port: public hostnames pointed at tenant apps (`{12hex}.{suffix}` → `sp-{12hex}.fly.dev`).
//!
//! Only CNAME records, never proxied: Fly terminates TLS and issues the certificate itself, which needs
//! the name to resolve to the app, not to a proxy. Both operations are idempotent so a rerun (job
//! retry, crash recovery, a lost answer) converges; a record under the name that is not the one we
//! want is never touched.

use async_trait::async_trait;

/// What `ensure_cname` found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsEnsured {
    /// This call created the record.
    Created,
    /// An identical record (same name, CNAME, same target, not proxied) existed and is used as is.
    Adopted,
}

/// What `delete_cname` found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsDeleted {
    Deleted,
    /// No record under the name: nothing to do.
    Absent,
    /// A record exists under the name but it is not ours (another type or target): left alone.
    NotOurs,
}

/// Why a DNS operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The name holds a record that is not the one we want (another type or target, or proxied).
    #[error(
        "the DNS name {name} already has a record that is not ours ({existing}); remove it or choose another name"
    )]
    Conflict { name: String, existing: String },
    /// The provider refused our credentials or zone: an operator must fix the configuration.
    #[error("the DNS provider refused the request: {0}")]
    Refused(String),
    /// Worth retrying later (rate limit, provider outage, network).
    #[error("the DNS provider is unavailable: {0}")]
    Unavailable(String),
}

impl DnsError {
    pub fn is_transient(&self) -> bool {
        matches!(self, DnsError::Unavailable(_))
    }
}

/// Public DNS records for tenant hostnames (and customer custom domains).
#[async_trait]
pub trait DnsRecords: Send + Sync {
    /// Makes `name` a CNAME to `target` (proxied = false). Adopts an identical record; refuses with
    /// [`DnsError::Conflict`] when the name holds anything else.
    async fn ensure_cname(&self, name: &str, target: &str) -> Result<DnsEnsured, DnsError>;

    /// Removes the CNAME `name` → `target` if it exists; a missing record, or one that is not ours,
    /// is not an error.
    async fn delete_cname(&self, name: &str, target: &str) -> Result<DnsDeleted, DnsError>;
}
