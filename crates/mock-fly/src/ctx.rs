//! State shared by every worker of one mock: config, world, faults, limiter and the request log.

use std::sync::{Mutex, MutexGuard, OnceLock};

use serde::Serialize;
use tokio::sync::Notify;

use crate::config::MockFlyConfig;
use crate::faults::Faults;
use crate::ratelimit::RateLimiter;
use crate::state::World;

/// One request as the mock saw and answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    /// The operation name (see [`crate::Op::as_str`]), `None` for an unknown route.
    pub op: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub config: MockFlyConfig,
    /// `127.0.0.1:PORT` of the listener that serves `/v2/`; set once the socket is bound.
    pub registry_host: OnceLock<String>,
    world: Mutex<World>,
    /// Woken on every machine state change, for `wait`.
    pub changed: Notify,
    pub faults: Faults,
    pub limiter: RateLimiter,
    log: Mutex<Vec<RecordedRequest>>,
    unknown: Mutex<Vec<String>>,
    /// Blobs and upload sessions live here, on disk; removed when the mock is dropped.
    pub dir: tempfile::TempDir,
    /// Digest → how machines running it behave (see `machines::health`); unlisted digests are healthy.
    behaviours: Mutex<std::collections::HashMap<String, crate::machines::health::ImageBehaviour>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn new(config: MockFlyConfig) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("mock-fly-").tempdir()?;
        std::fs::create_dir_all(dir.path().join("blobs"))?;
        std::fs::create_dir_all(dir.path().join("uploads"))?;
        Ok(Self {
            config,
            registry_host: OnceLock::new(),
            world: Mutex::new(World::default()),
            changed: Notify::new(),
            faults: Faults::default(),
            limiter: RateLimiter::default(),
            log: Mutex::new(Vec::new()),
            unknown: Mutex::new(Vec::new()),
            dir,
            behaviours: Mutex::default(),
        })
    }

    /// The world, locked. Never hold the guard across an `.await`.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    pub(crate) fn image_behaviour(&self, digest: &str) -> crate::machines::health::ImageBehaviour {
        lock(&self.behaviours)
            .get(digest)
            .copied()
            .unwrap_or_default()
    }

    pub(crate) fn set_image_behaviour(
        &self,
        digest: &str,
        b: crate::machines::health::ImageBehaviour,
    ) {
        lock(&self.behaviours).insert(digest.to_owned(), b);
    }

    /// How long a deleted app, volume or machine lingers: the `/__mock/faults` override, else the config.
    pub(crate) fn destroy_delay(&self) -> std::time::Duration {
        self.faults
            .destroy_delay()
            .unwrap_or(self.config.destroy_delay)
    }

    pub(crate) fn registry_host(&self) -> &str {
        self.registry_host.get().map(String::as_str).unwrap_or("")
    }

    pub(crate) fn record(&self, r: RecordedRequest) {
        lock(&self.log).push(r);
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.log).clone()
    }

    pub(crate) fn report_unknown(&self, route: String) {
        lock(&self.unknown).push(route);
    }

    pub(crate) fn unknown_routes(&self) -> Vec<String> {
        lock(&self.unknown).clone()
    }
}
