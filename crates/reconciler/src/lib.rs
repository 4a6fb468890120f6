//! The reconciler: one replica at a time (leader by a PostgreSQL advisory lock, through
//! [`ReconcileStore::try_lead`]) compares the management database with Fly, the registry and the
//! tenant cluster, and repairs the drift the engine's own runs cannot see:
//! - apps of deleted tenants still on Fly, and machines/volumes in a settled tenant's app that the
//!   tenant does not record: deleted once they have been seen for the grace period;
//! - tenants in a transitional state with no job to carry them on: their job is queued again;
//! - a deleted tenant's tag (or the placeholder tag deletion left) still in the registry: deleted again;
//! - a deleted tenant's database or role still on the tenant cluster: dropped.
//!
//! Every finding is recorded (so the grace period survives a change of leader), reported to the
//! [`ReconcileObserver`] (metrics), logged, and, where the tenant exists, written to its event log
//! when repaired. In dry-run mode it records and reports but changes nothing.

mod ownership;
mod pass;

use std::sync::Arc;
use std::time::Duration;

use mgmt_domain::{
    DriftKind, EventRepository, JobQueue, ReconcileStats, ReconcileStore, TenantDatabaseAdmin,
};
use mgmt_fly_client::{FlyMachines, Registry};
use tokio_util::sync::CancellationToken;

pub use pass::PassReport;

/// How the reconciler runs.
#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    /// Time between passes (and between attempts to become the leader).
    pub interval: Duration,
    /// How long drift must have been seen before a resource is deleted (a create whose answer was
    /// lost may be adopted by its run in the meantime).
    pub grace: Duration,
    /// Report without acting.
    pub dry_run: bool,
    /// Most tenants looked at per category per pass (bounds one pass's Fly calls).
    pub batch: i64,
    /// How far back deleted tenants are looked at again.
    pub deleted_lookback: Duration,
    /// How long a transitional tenant must have had no job before it is re-enqueued.
    pub stranded_idle: Duration,
    /// The shared registry repository (tenant tags live there).
    pub repository: String,
    /// Attempts of a re-enqueued provision or deploy job.
    pub max_attempts: i32,
}

impl ReconcilerConfig {
    pub fn new(repository: impl Into<String>) -> Self {
        Self {
            interval: Duration::from_secs(60),
            grace: Duration::from_secs(600),
            dry_run: false,
            batch: 100,
            deleted_lookback: Duration::from_secs(7 * 24 * 3600),
            stranded_idle: Duration::from_secs(60),
            repository: repository.into(),
            max_attempts: 5,
        }
    }
}

/// Where the reconciler's figures go (the server's metrics).
pub trait ReconcileObserver: Send + Sync {
    /// One finding in a pass: `outcome` is `found` (within its grace period, or dry run),
    /// `repaired` or `failed`.
    fn drift(&self, kind: DriftKind, outcome: &str);
    /// The database's figures, read on every tick by every replica.
    fn stats(&self, stats: &ReconcileStats);
}

/// An observer that drops everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl ReconcileObserver for NoObserver {
    fn drift(&self, _: DriftKind, _: &str) {}
    fn stats(&self, _: &ReconcileStats) {}
}

/// What the reconciler reads and repairs through.
#[derive(Clone)]
pub struct ReconcilerPorts {
    pub store: Arc<dyn ReconcileStore>,
    pub jobs: Arc<dyn JobQueue>,
    pub events: Arc<dyn EventRepository>,
    pub fly: Arc<dyn FlyMachines>,
    pub registry: Arc<dyn Registry>,
    pub tenant_db: Arc<dyn TenantDatabaseAdmin>,
}

impl std::fmt::Debug for ReconcilerPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconcilerPorts").finish_non_exhaustive()
    }
}

/// The reconciler; see the crate documentation.
#[derive(Clone)]
pub struct Reconciler {
    ports: ReconcilerPorts,
    config: ReconcilerConfig,
    observer: Arc<dyn ReconcileObserver>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Reconciler {
    pub fn new(
        ports: ReconcilerPorts,
        config: ReconcilerConfig,
        observer: Arc<dyn ReconcileObserver>,
    ) -> Self {
        Self {
            ports,
            config,
            observer,
        }
    }

    pub fn config(&self) -> &ReconcilerConfig {
        &self.config
    }

    /// Runs until `shutdown`: every `interval`, reads the figures and, when this replica leads (or
    /// becomes the leader), makes one pass. Leadership is kept between passes and given up when its
    /// connection stops answering or at shutdown.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut leadership: Option<Box<dyn mgmt_domain::Leadership>> = None;
        loop {
            match self.ports.store.stats().await {
                Ok(stats) => self.observer.stats(&stats),
                Err(e) => tracing::warn!(error = %e, "reconciler: cannot read its figures"),
            }
            if let Some(l) = &leadership {
                let l: &dyn mgmt_domain::Leadership = &**l;
                if !l.still_leading().await {
                    tracing::warn!("reconciler: leadership lost (its connection failed)");
                    leadership = None;
                }
            }
            if leadership.is_none() {
                match self.ports.store.try_lead().await {
                    Ok(Some(l)) => {
                        tracing::info!("reconciler: this replica leads");
                        leadership = Some(l);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "reconciler: cannot try for leadership"),
                }
            }
            if leadership.is_some() {
                tokio::select! {
                    report = self.pass() => tracing::info!(?report, "reconciler: pass done"),
                    () = shutdown.cancelled() => break,
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.interval) => {}
                () = shutdown.cancelled() => break,
            }
        }
        drop(leadership);
    }
}
