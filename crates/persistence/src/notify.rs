//! The process's one `LISTEN` connection: turns the `NOTIFY`s that tenant writes send (migration 000024's
//! triggers, in the writing transaction) into [`ChangeSignal`]s for the in-memory event fan-out.
//!
//! It is a plain tokio-postgres connection outside the pool (a pooled connection would be handed to
//! other callers, and `LISTEN` is per session). When the connection fails it reconnects with a capped
//! exponential backoff; every time `LISTEN` is (re)established it signals [`ChangeSignal::Missed`],
//! because notifications sent while no session listened are lost: the fan-out then reads each open
//! tenant once. A ping every [`PING_EVERY`] notices a connection that died without a TCP reset.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use mgmt_domain::TenantId;
use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

/// The channel the triggers notify; the payload is the tenant id.
pub const TENANT_CHANGES_CHANNEL: &str = "mgmt_tenant_changes";

/// How often the idle listener checks its connection.
pub const PING_EVERY: Duration = Duration::from_secs(30);
/// Longest a ping may take before the connection is given up.
const PING_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// What the listener reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSignal {
    /// A transaction that wrote this tenant's events or state committed.
    Tenant(TenantId),
    /// Notifications may have been lost (the listener was (re)connected): every follower should read
    /// once.
    Missed,
}

/// Receives the signals; called on the listener's task, so it must not block.
pub type SignalSink = Arc<dyn Fn(ChangeSignal) + Send + Sync>;

/// Starts the listener on its own task; it runs until the handle is aborted.
pub fn spawn_change_listener(url: SecretString, sink: SignalSink) -> JoinHandle<()> {
    tokio::spawn(async move {
        // A hand-written loop rather than a retry crate: it never gives up, and the backoff resets once a
        // session was established, which is all the policy there is.
        let mut backoff = BACKOFF_MIN;
        loop {
            match session(&url, &sink).await {
                Ok(()) => backoff = BACKOFF_MIN,
                Err(e) => tracing::warn!(error = %e, "change listener: connection failed"),
            }
            tracing::info!(
                retry_in_ms = backoff.as_millis() as u64,
                "change listener: reconnecting"
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    })
}

/// One connection: `LISTEN`, signal `Missed`, then forward notifications until the connection ends
/// (`Ok`: it was listening; `Err`: it never got that far).
async fn session(url: &SecretString, sink: &SignalSink) -> Result<(), tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.expose_secret().parse()?;
    config.application_name("mgmt-change-listener");
    let (client, mut connection) = config.connect(NoTls).await?;
    let forward = sink.clone();
    // The connection object delivers the notifications; it must be polled for the client to work at all.
    let mut driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => match TenantId::parse(n.payload()) {
                    Ok(id) => forward(ChangeSignal::Tenant(id)),
                    Err(_) => tracing::warn!("change listener: a notification without a tenant id"),
                },
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "change listener: connection lost");
                    return;
                }
            }
        }
    });
    if let Err(e) = client
        .batch_execute(&format!("LISTEN {TENANT_CHANGES_CHANNEL}"))
        .await
    {
        driver.abort();
        return Err(e);
    }
    tracing::info!("change listener: listening");
    sink(ChangeSignal::Missed);
    loop {
        tokio::select! {
            _ = &mut driver => return Ok(()),
            _ = tokio::time::sleep(PING_EVERY) => {
                match tokio::time::timeout(PING_TIMEOUT, client.batch_execute("SELECT 1")).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        driver.abort();
                        tracing::warn!(error = %e, "change listener: ping failed");
                        return Ok(());
                    }
                    Err(_) => {
                        driver.abort();
                        tracing::warn!("change listener: ping timed out");
                        return Ok(());
                    }
                }
            }
        }
    }
}
