#![doc = include_str!("../README.md")]
#![doc = include_str!("../README.md")]
#![allow(
    clippy::result_large_err,
    reason = "handlers bail out early with a ready HttpResponse; size does not matter in a test double"
)]

mod auth;
mod config;
mod ctx;
mod errors;
mod faults;
mod faults_http;
mod ids;
mod machines;
mod ops;
mod ratelimit;
pub(crate) mod registry;
mod route;
mod server;
mod snapshot;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};

pub use config::{MockFlyConfig, TagDeleteSupport};
pub use ctx::RecordedRequest;
pub use faults::{FaultView, Faults, FaultsView};
pub use machines::health::ImageBehaviour;
pub use ops::Op;
pub use snapshot::StateSnapshot;
pub use state::{
    AppRecord, CertRecord, IpRecord, LeaseRecord, MachineRecord, ManifestRecord, RepoRecord,
    SecretRecord, VolumeRecord,
};

/// A running mock. Dropping it stops the server and removes its blob directory.
#[derive(Debug)]
pub struct MockFly {
    shared: Arc<ctx::Shared>,
    machines_addr: SocketAddr,
    registry_addr: SocketAddr,
    handle: ServerHandle,
}

impl MockFly {
    /// Machines API and registry on one listener on `127.0.0.1:0`.
    pub async fn start(config: MockFlyConfig) -> std::io::Result<MockFly> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Machines API and registry on one listener on `addr`.
    pub async fn start_on(config: MockFlyConfig, addr: SocketAddr) -> std::io::Result<MockFly> {
        Self::start_with(config, addr, None).await
    }

    /// As [`MockFly::start_on`]; with `registry_addr`, a second listener serves the same mock and its
    /// address becomes [`MockFly::registry_host`] (both listeners answer every route).
    pub async fn start_with(
        config: MockFlyConfig,
        addr: SocketAddr,
        registry_addr: Option<SocketAddr>,
    ) -> std::io::Result<MockFly> {
        let shared = Arc::new(ctx::Shared::new(config)?);
        let data = web::Data::from(shared.clone());
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(server::entry))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(addr)?;
        let machines_addr = *server
            .addrs()
            .first()
            .ok_or_else(|| std::io::Error::other("no address bound"))?;
        let registry_addr = match registry_addr {
            Some(r) => {
                server = server.bind(r)?;
                *server
                    .addrs()
                    .last()
                    .ok_or_else(|| std::io::Error::other("no registry address bound"))?
            }
            None => machines_addr,
        };
        shared
            .registry_host
            .set(registry_addr.to_string())
            .map_err(|_| std::io::Error::other("registry host already set"))?;
        let running = server.run();
        let handle = running.handle();
        tokio::spawn(running);
        tracing::info!(machines = %machines_addr, registry = %registry_addr, "mock-fly listening");
        Ok(MockFly {
            shared,
            machines_addr,
            registry_addr,
            handle,
        })
    }

    /// Base URL of the Machines API, e.g. `http://127.0.0.1:PORT` (clients append `/v1/...`).
    pub fn machines_url(&self) -> String {
        format!("http://{}", self.machines_addr)
    }

    /// Base URL of the registry, serving `/v2/`.
    pub fn registry_url(&self) -> String {
        format!("http://{}", self.registry_addr)
    }

    /// `127.0.0.1:PORT`: what image references on this registry start with.
    pub fn registry_host(&self) -> String {
        self.registry_addr.to_string()
    }

    /// The only accepted token (Bearer/FlyV1 on `/v1`, Basic password on `/v2`).
    pub fn token(&self) -> &str {
        &self.shared.config.token
    }

    pub fn config(&self) -> &MockFlyConfig {
        &self.shared.config
    }

    pub fn state(&self) -> StateSnapshot {
        StateSnapshot::of(&self.shared.world())
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// `"METHOD /path"` of every request to a route the mock does not serve.
    pub fn unknown_routes(&self) -> Vec<String> {
        self.shared.unknown_routes()
    }

    /// Marks `hostname`'s certificate issued, as Fly does once the hostname's DNS validates; `false`
    /// when no app holds a certificate for it. (`POST /__mock/certificates/{hostname}/issue` does the same.)
    pub fn issue_certificate(&self, hostname: &str) -> bool {
        machines::certs::mark_issued(&self.shared, hostname).is_some()
    }

    /// Machines booting `digest` from now on behave as `behaviour` (checks, exits); the rest are
    /// healthy. (`POST /__mock/images/{digest}/{healthy|fails-health-check|crash-loop|oom}` does the same.)
    pub fn set_image_behaviour(&self, digest: &str, behaviour: ImageBehaviour) {
        self.shared.set_image_behaviour(digest, behaviour);
    }

    /// Latency added to every request.
    pub fn set_global_latency(&self, d: Duration) {
        self.shared.faults.set_global_latency(d);
    }

    /// Stop the server and wait until it has stopped.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

impl Drop for MockFly {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; awaiting the returned future is optional.
        drop(self.handle.stop(false));
        // The server's workers hold the shared state (and its temporary folder) until their threads end,
        // which a test process or a killed binary never waits for: remove the registry's files now.
        let _ = std::fs::remove_dir_all(self.shared.dir.path());
    }
}
