//! The reconciler's ports: leadership (one replica at a time, by a PostgreSQL advisory lock), the
//! tenants it compares with Fly, the registry and the tenant cluster, and the drift it finds and repairs.
//!
//! A finding is remembered (first and last seen) so a grace period survives a change of leader, and
//! so operators and `/metrics` can see what was found and what was repaired.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::Tenant;
use crate::ports::RepoResult;
use crate::tenant_id::TenantId;

/// What kind of drift a finding is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
    strum::EnumIter,
)]
#[strum(serialize_all = "snake_case")]
pub enum DriftKind {
    /// A Fly app of ours (named after a tenant) whose tenant is deleted.
    OrphanApp,
    /// A machine in a live tenant's app that the tenant does not record.
    OrphanMachine,
    /// A volume in a live tenant's app that the tenant does not record.
    OrphanVolume,
    /// A tenant in a transitional state with no job to carry it on.
    StrandedTenant,
    /// A deleted tenant's tag (or the placeholder tag deletion left) still in the registry.
    LeftoverTag,
    /// A deleted tenant's database or role still on the tenant cluster.
    LeftoverDatabase,
}

impl DriftKind {
    /// The database spelling and metric label.
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

/// Drift seen in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: DriftKind,
    /// What is drifting: an app name, `app/machine-id`, `app/volume-id`, a tag, a database name.
    pub resource: String,
    pub tenant_id: Option<TenantId>,
    /// Why it is drift, for operators (no secret ever goes here).
    pub detail: String,
}

/// A finding as remembered across passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRecord {
    pub kind: DriftKind,
    pub resource: String,
    pub tenant_id: Option<TenantId>,
    pub detail: String,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// When the reconciler repaired it; `None` while it is open (or in dry-run mode).
    pub repaired_at: Option<DateTime<Utc>>,
    pub times_seen: i64,
}

/// Figures for `/metrics` and operators, read from the database (every replica reports the same).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReconcileStats {
    /// Tenants in a transitional state with no queued or running job.
    pub stuck_tenants: i64,
    /// Jobs that gave up (`dead`).
    pub dead_jobs: i64,
    /// Findings ever recorded, by kind.
    pub found: Vec<(DriftKind, i64)>,
    /// Findings repaired, by kind.
    pub repaired: Vec<(DriftKind, i64)>,
}

/// Held by the leader. Dropping it (or losing its connection) gives leadership up.
#[async_trait]
pub trait Leadership: Send + Sync {
    /// Whether the lock is still held (the connection holding it still answers).
    async fn still_leading(&self) -> bool;
}

#[async_trait]
pub trait ReconcileStore: Send + Sync {
    /// Becomes the leader if no other replica is: `None` when another one holds the lock.
    async fn try_lead(&self) -> RepoResult<Option<Box<dyn Leadership>>>;
    /// Tenants in `pending`, `provisioning`, `deploying` or `deleting` with no queued or running job,
    /// unchanged for at least `idle`, oldest first.
    async fn stranded_tenants(&self, idle: Duration, limit: i64) -> RepoResult<Vec<Tenant>>;
    /// Tenants that became `deleted` after `since`, most recent first.
    async fn deleted_tenants(&self, since: DateTime<Utc>, limit: i64) -> RepoResult<Vec<Tenant>>;
    /// Live tenants in a settled state (`awaiting_deploy`, `running`, `failed`) with no queued or
    /// running job, least recently changed first.
    async fn settled_tenants(&self, limit: i64) -> RepoResult<Vec<Tenant>>;
    /// Records that `finding` was seen now; a finding repaired earlier and seen again is reopened.
    async fn observe(&self, finding: &Finding) -> RepoResult<FindingRecord>;
    /// Marks an open finding repaired.
    async fn mark_repaired(&self, kind: DriftKind, resource: &str) -> RepoResult<()>;
    /// Forgets open findings last seen before `unseen_since` (they went away by themselves, so a
    /// later reappearance starts a new grace period); returns how many.
    async fn forget_unseen(&self, unseen_since: DateTime<Utc>) -> RepoResult<u64>;
    async fn stats(&self) -> RepoResult<ReconcileStats>;
    /// Findings, newest first, optionally of one tenant.
    async fn findings(
        &self,
        tenant: Option<TenantId>,
        limit: i64,
    ) -> RepoResult<Vec<FindingRecord>>;
}
