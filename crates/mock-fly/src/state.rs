//! The mock's world: apps, machines, volumes, secrets, IPs, certificates and registry metadata.
//! Records are public so that [`crate::StateSnapshot`] can hand out clones of them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::registry::store::RegistryStore;

/// One secret: the name and a digest of its value. Values are never kept.
#[derive(Debug, Clone, Serialize)]
pub struct SecretRecord {
    pub name: String,
    pub digest: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IpRecord {
    pub ip: String,
    /// `v4`, `v6`, `shared_v4` or `private_v6`.
    pub ip_type: String,
    pub region: String,
    pub shared: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertRecord {
    pub hostname: String,
    pub created_at: DateTime<Utc>,
    /// When the certificate was issued (`POST /__mock/certificates/{hostname}/issue`); `None` while
    /// Fly would still be validating the hostname.
    pub issued_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppRecord {
    pub name: String,
    pub id: String,
    pub org_slug: String,
    pub network: String,
    pub created_at: DateTime<Utc>,
    pub secrets: BTreeMap<String, SecretRecord>,
    /// Bumped on every secrets change.
    pub secrets_version: u64,
    pub ips: Vec<IpRecord>,
    pub certificates: BTreeMap<String, CertRecord>,
    /// Deleted (202) but not yet gone: `GET` shows it `suspended`, its name stays taken, every other
    /// app-scoped route answers 404, until `destroy_delay` has passed.
    pub destroying: bool,
    #[serde(skip)]
    pub(crate) visible_at: Instant,
}

#[derive(Debug, Clone, Serialize)]
pub struct LeaseRecord {
    pub nonce: String,
    pub expires_at: i64,
    pub owner: String,
    pub description: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MachineRecord {
    pub id: String,
    pub app: String,
    pub name: String,
    pub region: String,
    /// created, starting, started, stopping, stopped, destroyed.
    pub state: String,
    /// Changes on every update: Fly's machine version.
    pub instance_id: String,
    pub private_ip: String,
    pub image: String,
    pub config: Value,
    pub metadata: BTreeMap<String, String>,
    pub image_ref: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub events: Vec<Value>,
    pub lease: Option<LeaseRecord>,
    /// Volume ids mounted by this machine.
    pub volumes: Vec<String>,
    /// The app's secrets version this machine's environment was fixed at (its create or last update;
    /// a restart keeps it, as on Fly).
    pub secrets_version: u64,
    /// The app secrets in this machine's environment: name → digest of the value (never the value),
    /// as of `secrets_version`.
    pub secrets: BTreeMap<String, String>,
    /// Incremented on each requested transition, so a stale background task cannot apply.
    #[serde(skip)]
    pub(crate) generation: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VolumeRecord {
    pub id: String,
    pub app: String,
    pub name: String,
    pub region: String,
    pub size_gb: i64,
    pub encrypted: bool,
    pub created_at: DateTime<Utc>,
    pub attached_machine_id: Option<String>,
    /// Deleted and lingering as `pending_destroy` until `destroy_delay` has passed.
    pub pending_destroy: bool,
}

/// A stored manifest: its media type, and the raw bytes (skipped in snapshots).
#[derive(Debug, Clone, Serialize)]
pub struct ManifestRecord {
    pub media_type: String,
    pub size: usize,
    #[serde(skip)]
    pub(crate) body: Bytes,
}

/// One repository: tag -> digest, digest -> manifest, and the blobs linked into it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepoRecord {
    pub tags: BTreeMap<String, String>,
    pub manifests: BTreeMap<String, ManifestRecord>,
    pub blobs: BTreeSet<String>,
    /// Whether any tag was ever pushed: distribution lists such a repository's tags as `null` once
    /// they are all gone, and answers `NAME_UNKNOWN` for one that never had any.
    #[serde(skip)]
    pub(crate) ever_tagged: bool,
}

/// Everything behind the mutex.
#[derive(Debug, Default)]
pub(crate) struct World {
    pub apps: BTreeMap<String, AppRecord>,
    /// Includes destroyed machines (state `destroyed`) until their app is deleted.
    pub machines: BTreeMap<String, MachineRecord>,
    pub volumes: BTreeMap<String, VolumeRecord>,
    pub registry: RegistryStore,
}

impl World {
    /// An app that exists, is past its visibility delay and is not being deleted.
    pub(crate) fn visible_app(&self, name: &str) -> Option<&AppRecord> {
        self.apps
            .get(name)
            .filter(|a| a.visible_at <= Instant::now() && !a.destroying)
    }

    pub(crate) fn visible_app_mut(&mut self, name: &str) -> Option<&mut AppRecord> {
        self.apps
            .get_mut(name)
            .filter(|a| a.visible_at <= Instant::now() && !a.destroying)
    }

    /// A machine of `app` (destroyed ones included).
    pub(crate) fn machine_mut(&mut self, app: &str, id: &str) -> Option<&mut MachineRecord> {
        self.machines.get_mut(id).filter(|m| m.app == app)
    }
}
