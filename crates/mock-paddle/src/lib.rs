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
mod transactions;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};

pub use faults::{Fault, Faults};
pub use server::RecordedRequest;
pub use state::{SeedSubscription, SubscriptionRecord, TransactionRecord};
pub use webhooks::{Delivery, MAX_ATTEMPTS, WebhookFault, signature};

/// The API key a [`MockPaddle`] accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "pdl_sdbx_apikey_mock_paddle_0123456789";

/// The price the catalog holds from the start (the `basic` plan's default price id).
pub const DEFAULT_PRICE_ID: &str = "pri_basic";

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
        *shared.base.lock().unwrap_or_else(|p| p.into_inner()) = format!("http://{addr}");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        shared.set_outbox(tx);
        tokio::spawn(webhooks::run(shared.hub.clone(), rx));
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

    /// Sends notifications to `url`, signed with `secret` (Paddle's notification destination).
    pub fn configure_webhooks(&self, url: &str, secret: &str) {
        self.shared
            .configure_webhooks(url.to_owned(), secret.to_owned());
    }

    /// Where the payment page redirects after paying (`?_ptxn=txn_…` is appended).
    pub fn set_success_url(&self, url: &str) {
        *self
            .shared
            .success_url
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(url.to_owned());
    }

    /// Adds a price to the catalog.
    pub fn add_price(&self, price_id: &str) {
        self.shared.state().prices.insert(price_id.to_owned());
    }

    pub fn transaction(&self, id: &str) -> Option<TransactionRecord> {
        self.shared.state().transactions.get(id).cloned()
    }

    /// Paddle changes a subscription's status and notifies (`subscription.past_due`, …).
    pub fn change_subscription(&self, id: &str, status: &str) -> bool {
        self.shared.change_subscription(id, status).is_some()
    }

    /// A fault for the next notification delivered.
    pub fn inject_webhook_fault(&self, fault: WebhookFault) {
        self.shared.hub.inject(fault);
    }

    /// Every notification delivery attempt so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.hub.deliveries()
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
