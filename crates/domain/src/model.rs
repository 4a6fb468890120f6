//! Records of the state of record: customers, plans, tenants, deployments, events, jobs, registry pushes.
//!
//! Plain data shared by persistence (which stores them), the provisioner (which changes them) and the API
//! (which renders them). No secret value is ever part of a record: Fly holds app secrets, we keep names.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::EventType;
use crate::lifecycle::{CliStatus, TenantState, TransitionError};
use crate::naming;
use crate::tenant_id::{CustomerId, TenantId};

/// Regions offered to customers (the first is the default).
pub const OFFERED_REGIONS: [&str; 8] = ["iad", "lhr", "fra", "ams", "sin", "nrt", "syd", "gru"];
/// Region used when a create request names none.
pub const DEFAULT_REGION: &str = "iad";

/// Whether a customer may use the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum CustomerStatus {
    Active,
    Suspended,
}

impl CustomerStatus {
    /// The wire and database spelling.
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

/// A customer, found by the identity provider's subject (`sub` of the JWT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    pub subject: String,
    pub email: String,
    pub name: Option<String>,
    pub status: CustomerStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What is known of a customer on first sight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub subject: String,
    pub email: String,
    pub name: Option<String>,
}

/// A plan: the size of each tenant's machine and volume, and how many tenants a customer may have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Stable slug, e.g. `free`, `basic`.
    pub id: String,
    pub name: String,
    pub memory_mb: i32,
    pub cpus: i32,
    pub volume_gb: i32,
    pub max_tenants: i32,
    /// Where the tenant's volume is mounted; `None`: the operator's default (`TENANT_VOLUME_MOUNT_PATH`).
    /// Checked with [`crate::check_volume_mount_path`] (the plans table has the same check).
    #[serde(default)]
    pub volume_mount_path: Option<String>,
    /// Limits of the tenant's database role.
    #[serde(default)]
    pub db_limits: crate::TenantDbLimits,
}

/// A tenant and every name and resource id it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub customer_id: CustomerId,
    pub name: String,
    pub plan_id: String,
    pub region: String,
    pub state: TenantState,
    /// Customer-readable explanation of the state (why it failed, which cleanup step is retrying).
    pub status_message: Option<String>,
    pub fly_app_name: String,
    pub machine_id: Option<String>,
    pub volume_id: Option<String>,
    pub hostname: String,
    pub internal_hostname: String,
    pub database_name: String,
    pub database_role: String,
    /// Digest of the image the machine currently runs.
    pub deployed_digest: Option<String>,
    /// Whether the owner asked for the database to be reachable from outside Fly (the public endpoint).
    pub external_db_access: bool,
    /// The highest Fly secrets version our own set/unset calls produced: a machine booted by a rollout
    /// must see at least this version (Fly's list endpoint does not say it).
    pub secrets_version: Option<u64>,
    /// Incremented on every update; an update with a stale version is refused.
    pub row_version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Tenant {
    /// Moves to `to` if the lifecycle allows it, replacing the status message.
    pub fn transition(
        &mut self,
        to: TenantState,
        message: Option<String>,
    ) -> Result<(), TransitionError> {
        self.state = self.state.transition(to)?;
        self.status_message = message;
        Ok(())
    }

    /// Public URL of the tenant's app.
    pub fn app_url(&self) -> String {
        format!("https://{}", self.hostname)
    }

    /// Whether phase 1 is complete: the app, its database, secrets, volume, IPs and certificate exist, so
    /// images may be pushed and deployed. A tenant whose *deploy* failed keeps its infrastructure (and its
    /// volume id); one whose provisioning failed does not.
    pub fn infrastructure_ready(&self) -> bool {
        match self.state {
            TenantState::AwaitingDeploy | TenantState::Deploying | TenantState::Running => true,
            TenantState::Failed => self.volume_id.is_some(),
            _ => false,
        }
    }

    /// The word `/status` answers: the state's word, except that a tenant whose last deploy failed while
    /// its machine still runs an earlier image stays `ready` (the customer can keep using it; the failure
    /// is in the message). `failed` is left for what the customer must act on.
    pub fn cli_status(&self) -> CliStatus {
        if self.state == TenantState::Failed
            && self.machine_id.is_some()
            && self.deployed_digest.is_some()
        {
            CliStatus::Ready
        } else {
            self.state.cli_status()
        }
    }
}

/// A tenant about to be inserted; all names derive from the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTenant {
    pub id: TenantId,
    pub customer_id: CustomerId,
    pub name: String,
    pub plan_id: String,
    pub region: String,
    pub fly_app_name: String,
    pub hostname: String,
    pub internal_hostname: String,
    pub database_name: String,
    pub database_role: String,
}

impl NewTenant {
    /// A new tenant in `pending`, with every name computed by the naming rules.
    pub fn new(
        id: TenantId,
        customer_id: CustomerId,
        name: impl Into<String>,
        plan_id: impl Into<String>,
        region: impl Into<String>,
        subdomain_suffix: &str,
    ) -> Self {
        Self {
            id,
            customer_id,
            name: name.into(),
            plan_id: plan_id.into(),
            region: region.into(),
            fly_app_name: naming::fly_app_name(&id),
            hostname: naming::public_hostname(&id, subdomain_suffix),
            internal_hostname: naming::internal_hostname(&id),
            database_name: naming::tenant_database_name(&id),
            database_role: naming::tenant_role_name(&id),
        }
    }
}

/// Outcome of one deploy attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum DeploymentStatus {
    /// Accepted, waiting for the worker.
    Pending,
    InProgress,
    Succeeded,
    Failed,
    /// A newer deploy was accepted before this one ran.
    Superseded,
}

impl DeploymentStatus {
    /// The wire and database spelling.
    pub fn as_str(&self) -> &'static str {
        self.into()
    }

    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Superseded)
    }
}

/// One deploy attempt, kept forever so the history (and a rollback target) is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub id: Uuid,
    pub tenant_id: TenantId,
    /// The image reference the customer sent.
    pub image: String,
    /// The digest the tag resolved to at deploy time.
    pub digest: Option<String>,
    pub status: DeploymentStatus,
    pub error: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeployment {
    pub tenant_id: TenantId,
    pub image: String,
    pub digest: Option<String>,
}

/// One entry of a tenant's ordered event log (what `/status` and the events stream show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantEvent {
    /// Monotonic sequence number; events of a tenant are ordered by it.
    pub id: i64,
    pub tenant_id: TenantId,
    pub event_type: EventType,
    /// The tenant's CLI status word when the event happened.
    pub status: String,
    pub message: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTenantEvent {
    pub tenant_id: TenantId,
    pub event_type: EventType,
    pub status: String,
    pub message: Option<String>,
}

impl NewTenantEvent {
    /// An event carrying the CLI status of `state`.
    pub fn new(
        tenant_id: TenantId,
        event_type: EventType,
        state: TenantState,
        message: Option<String>,
    ) -> Self {
        Self {
            tenant_id,
            event_type,
            status: state.cli_status().as_str().to_owned(),
            message,
        }
    }
}

/// What a background job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum JobKind {
    Provision,
    Deploy,
    Cleanup,
}

impl JobKind {
    /// The database spelling (also the metric label).
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum JobState {
    /// Waiting for `run_after`.
    Queued,
    /// Claimed by a worker whose lease has not expired (an expired lease makes it claimable again).
    Running,
    Done,
    /// Gave up after its maximum attempts; needs an operator.
    Dead,
}

impl JobState {
    /// The database spelling.
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

/// A durable unit of background work.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: Uuid,
    pub kind: JobKind,
    pub tenant_id: Option<TenantId>,
    pub payload: serde_json::Value,
    pub state: JobState,
    /// Times the job was claimed.
    pub attempts: i32,
    /// `None`: retried until done (cleanup must never give up).
    pub max_attempts: Option<i32>,
    pub run_after: DateTime<Utc>,
    pub last_error: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The fencing token of the current (or last) claim: every claim takes a new, larger one.
    pub fence: i64,
}

impl Job {
    /// The fence a run of this claim carries: writes made with it fail once the job was claimed again.
    pub fn fence(&self) -> Fence {
        Fence {
            job_id: self.id,
            token: self.fence,
        }
    }
}

/// A job run's fencing token. A write made under a fence succeeds only while the job is still
/// `running` under that same claim: a run that lost its lease (and whose job another worker claimed)
/// cannot change anything any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    pub job_id: Uuid,
    pub token: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: JobKind,
    pub tenant_id: Option<TenantId>,
    pub payload: serde_json::Value,
    pub max_attempts: Option<i32>,
}

/// Queue figures for metrics and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    pub queued: i64,
    pub running: i64,
    pub dead: i64,
    /// Queued jobs that have failed at least once (being retried).
    pub retrying: i64,
}

/// A manifest pushed through the registry gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryPush {
    pub id: i64,
    pub tenant_id: TenantId,
    /// Tag or digest the manifest was pushed under.
    pub reference: String,
    pub digest: String,
    pub media_type: Option<String>,
    pub pushed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRegistryPush {
    pub tenant_id: TenantId,
    pub reference: String,
    pub digest: String,
    pub media_type: Option<String>,
    /// Digests the manifest references (layers, config, child manifests): the tenant may read them back.
    pub referenced_digests: Vec<String>,
}

/// Whether a tenant's registry credentials may act right now. The gateway asks on every request (no
/// cache), so a suspension or a deletion takes effect at once on every replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushAccess {
    Allowed,
    /// The tenant is deleting, deleted or unknown.
    TenantGone,
    /// The customer's account is suspended.
    Suspended,
}

/// An upload session the gateway opened upstream for a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    /// The gateway's reservation id (known before the upstream names its upload).
    pub id: Uuid,
    pub tenant_id: TenantId,
    /// The upstream's upload UUID, once it answered.
    pub upload_id: Option<String>,
    /// Bytes streamed into the session so far.
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;
    use std::str::FromStr;

    use serde::Serialize;
    use strum::IntoEnumIterator;

    use super::*;

    /// Every variant's spelling is the listed word, round-trips through `FromStr` and `Display`, and is
    /// what serde writes.
    fn spelled<E>(words: &[&str], as_str: fn(&E) -> &'static str)
    where
        E: IntoEnumIterator + FromStr + Serialize + std::fmt::Display + PartialEq + Debug + Copy,
        <E as FromStr>::Err: Debug,
    {
        let seen: Vec<&str> = E::iter().map(|e| as_str(&e)).collect();
        assert_eq!(seen, words);
        for e in E::iter() {
            assert_eq!(as_str(&e).parse::<E>().unwrap(), e);
            assert_eq!(e.to_string(), as_str(&e));
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", as_str(&e))
            );
        }
    }

    #[test]
    fn wire_and_database_spellings() {
        spelled(&["active", "suspended"], CustomerStatus::as_str);
        spelled(
            &[
                "pending",
                "in_progress",
                "succeeded",
                "failed",
                "superseded",
            ],
            DeploymentStatus::as_str,
        );
        spelled(&["provision", "deploy", "cleanup"], JobKind::as_str);
        spelled(&["queued", "running", "done", "dead"], JobState::as_str);
        assert!("Active".parse::<CustomerStatus>().is_err());
        assert!("".parse::<JobKind>().is_err());
    }

    fn tenant(state: TenantState) -> Tenant {
        let id = TenantId::new_random();
        let new = NewTenant::new(
            id,
            CustomerId::new_random(),
            "t",
            "free",
            "iad",
            "sites.test",
        );
        Tenant {
            id,
            customer_id: new.customer_id,
            name: new.name,
            plan_id: new.plan_id,
            region: new.region,
            state,
            status_message: None,
            fly_app_name: new.fly_app_name,
            machine_id: None,
            volume_id: None,
            hostname: new.hostname,
            internal_hostname: new.internal_hostname,
            database_name: new.database_name,
            database_role: new.database_role,
            deployed_digest: None,
            external_db_access: false,
            secrets_version: None,
            row_version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            deleted_at: None,
        }
    }

    #[test]
    fn ready_from_the_end_of_provisioning_and_failed_only_when_the_customer_must_act() {
        use TenantState::*;
        // Phase 1 done: ready before any deploy (the CLI's create waits for exactly this).
        for state in [AwaitingDeploy, Deploying, Running] {
            let mut t = tenant(state);
            t.volume_id = Some("vol_1".into());
            assert_eq!(t.cli_status(), CliStatus::Ready, "{state}");
            assert!(t.infrastructure_ready(), "{state}");
        }
        // Provisioning failed: nothing exists, the customer must retry.
        let failed = tenant(Failed);
        assert_eq!(failed.cli_status(), CliStatus::Failed);
        assert!(!failed.infrastructure_ready());
        // The first deploy failed: infrastructure exists, nothing runs, the customer must push a fix.
        let mut first_deploy_failed = tenant(Failed);
        first_deploy_failed.volume_id = Some("vol_1".into());
        assert_eq!(first_deploy_failed.cli_status(), CliStatus::Failed);
        assert!(first_deploy_failed.infrastructure_ready());
        // A later deploy failed while an earlier image still runs: still usable, so ready.
        let mut later_deploy_failed = first_deploy_failed.clone();
        later_deploy_failed.machine_id = Some("m1".into());
        later_deploy_failed.deployed_digest = Some(format!("sha256:{}", "a".repeat(64)));
        assert_eq!(later_deploy_failed.cli_status(), CliStatus::Ready);
        for state in [Pending, Provisioning, Deleting, Deleted] {
            let t = tenant(state);
            assert_eq!(t.cli_status(), CliStatus::InProgress(state));
            assert!(!t.infrastructure_ready(), "{state}");
        }
    }
}
