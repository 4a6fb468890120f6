#![doc = include_str!("../README.md")]
#![allow(
    clippy::result_large_err,
    reason = "handlers bail out early with a ready HttpResponse; size does not matter in a test double"
)]

mod faults;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};

pub use faults::{Fault, Faults};
pub use server::{DnsRecord, RecordedRequest};

/// The API token a [`MockCloudflare`] accepts unless told otherwise.
pub const DEFAULT_API_TOKEN: &str = "cf-mock-token-0123456789abcdefghijklmnopqrstuv";
/// The zone id a [`MockCloudflare`] serves unless told otherwise (32 hex, like Cloudflare's).
pub const DEFAULT_ZONE_ID: &str = "023e105f4ecef8ad9ca31a8372d0c353";

/// A running fake Cloudflare. Dropping it stops the server.
#[derive(Debug)]
pub struct MockCloudflare {
    shared: Arc<server::Shared>,
    addr: SocketAddr,
    handle: ServerHandle,
}

impl MockCloudflare {
    /// Starts on `127.0.0.1:0` with [`DEFAULT_API_TOKEN`] and [`DEFAULT_ZONE_ID`].
    pub async fn start() -> std::io::Result<MockCloudflare> {
        Self::start_with(DEFAULT_API_TOKEN, DEFAULT_ZONE_ID).await
    }

    /// Starts on `127.0.0.1:0` accepting `api_token` only, serving zone `zone_id` only.
    pub async fn start_with(api_token: &str, zone_id: &str) -> std::io::Result<MockCloudflare> {
        let shared = Arc::new(server::Shared::new(
            api_token.to_owned(),
            zone_id.to_owned(),
        ));
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(64 * 1024))
                .default_service(web::to(server::entry))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = *server
            .addrs()
            .first()
            .ok_or_else(|| std::io::Error::other("no address bound"))?;
        let running = server.run();
        let handle = running.handle();
        tokio::spawn(running);
        tracing::info!(%addr, "mock-cloudflare listening");
        Ok(MockCloudflare {
            shared,
            addr,
            handle,
        })
    }

    /// `http://127.0.0.1:PORT/client/v4` (what `CLOUDFLARE_API_URL` is set to).
    pub fn url(&self) -> String {
        format!("http://{}/client/v4", self.addr)
    }

    pub fn api_token(&self) -> &str {
        &self.shared.api_token
    }

    pub fn zone_id(&self) -> &str {
        &self.shared.zone_id
    }

    /// Adds a record as if someone had created it in Cloudflare's dashboard; returns it.
    pub fn seed_record(&self, kind: &str, name: &str, content: &str, proxied: bool) -> DnsRecord {
        self.shared.seed(kind, name, content, proxied)
    }

    /// Every record of the zone, in creation order.
    pub fn records(&self) -> Vec<DnsRecord> {
        self.shared.records()
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Every request answered so far, in order (control routes included).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// `"METHOD /path"` of every request to a route the fake does not serve.
    pub fn unknown_routes(&self) -> Vec<String> {
        self.shared.unknown_routes()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

impl Drop for MockCloudflare {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
