#![doc = include_str!("../README.md")]
#![allow(
    clippy::result_large_err,
    reason = "handlers bail out early with a ready HttpResponse; size does not matter in a test double"
)]

mod control;
mod errors;
mod faults;
mod server;
mod state;
mod subscriptions;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};

pub use faults::{Fault, Faults};
pub use server::RecordedRequest;
pub use state::{SeedSubscription, SubscriptionRecord};

/// The API key a [`MockPaddle`] accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "pdl_sdbx_apikey_mock_paddle_0123456789";

/// A running fake Paddle. Dropping it stops the server.
#[derive(Debug)]
pub struct MockPaddle {
    shared: Arc<server::Shared>,
    addr: SocketAddr,
    handle: ServerHandle,
}

impl MockPaddle {
    /// Starts on `127.0.0.1:0` accepting [`DEFAULT_API_KEY`].
    pub async fn start() -> std::io::Result<MockPaddle> {
        Self::start_with_key(DEFAULT_API_KEY).await
    }

    /// Starts on `127.0.0.1:0` accepting `api_key` only.
    pub async fn start_with_key(api_key: &str) -> std::io::Result<MockPaddle> {
        let shared = Arc::new(server::Shared::new(api_key.to_owned()));
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
        tracing::info!(%addr, "mock-paddle listening");
        Ok(MockPaddle {
            shared,
            addr,
            handle,
        })
    }

    /// `http://127.0.0.1:PORT` (what `PADDLE_API_URL` is set to).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// Adds a subscription (as Paddle would hold after a checkout) and returns it.
    pub fn seed_subscription(&self, seed: SeedSubscription) -> SubscriptionRecord {
        self.shared.state().seed(seed)
    }

    /// A subscription as Paddle holds it now.
    pub fn subscription(&self, id: &str) -> Option<SubscriptionRecord> {
        self.shared.state().subscriptions.get(id).cloned()
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Every request answered so far, in order (control routes included).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// `"METHOD /path"` of every request to a route Paddle does not serve (or the mock lacks).
    pub fn unknown_routes(&self) -> Vec<String> {
        self.shared.unknown_routes()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

impl Drop for MockPaddle {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
