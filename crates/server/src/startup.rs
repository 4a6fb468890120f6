//! [`Application`]: binds the listeners, starts the servers and the workers; shared by `main` and the
//! tests (which bind port 0 and read the bound addresses back).

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer};
use anyhow::Context;
use mgmt_http::AppState;
use secrecy::SecretString;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::settings::Settings;
use crate::wiring;

/// A running server: API listener, optional gateway listener, optional workers.
pub struct Application {
    api_addr: SocketAddr,
    gateway_addr: Option<SocketAddr>,
    api: Server,
    gateway: Option<Server>,
    /// The private `/metrics` listener (`METRICS_LISTEN_ADDR`).
    metrics: Option<(Server, SocketAddr)>,
    /// The `LISTEN` connection feeding the event streams' fan-out.
    change_listener: JoinHandle<()>,
    workers: Option<JoinHandle<()>>,
    shutdown: CancellationToken,
    state: AppState,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("api_addr", &self.api_addr)
            .field("gateway_addr", &self.gateway_addr)
            .finish_non_exhaustive()
    }
}

fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).with_context(|| format!("{what}: cannot listen on {addr}"))
}

impl Application {
    /// Connects to the database (and migrates when configured), wires every layer and starts serving.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        if settings.migrate_on_start {
            migrate(&settings.database_url).await?;
        }
        let pool = wiring::pool(&settings)?;
        mgmt_persistence::check_connection(&pool)
            .await
            .context("DATABASE_URL: the database does not answer")?;
        let wired = wiring::wire(&settings, pool)?;
        let shutdown = CancellationToken::new();

        let listener = bind(settings.listen_addr, "LISTEN_ADDR")?;
        let api_addr = listener.local_addr()?;
        let state = wired.state.clone();
        // The event streams follow the database's notifications through the hub.
        let hub = wired.state.events_hub.clone();
        let change_listener = mgmt_persistence::spawn_change_listener(
            settings.database_url.clone(),
            std::sync::Arc::new(move |signal| match signal {
                mgmt_persistence::ChangeSignal::Tenant(id) => hub.changed(id),
                mgmt_persistence::ChangeSignal::Missed => hub.missed(),
            }),
        );
        let api = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .configure(mgmt_http::configure(state.clone()))
        })
        // A client that closes its side is gone (no CLI half-closes): the dispatcher then drops the
        // response at once, so an events stream ends and frees its slot without waiting for a
        // heartbeat write to fail.
        .h1_allow_half_closed(false)
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(settings.shutdown_timeout.as_secs())
        .run();

        let (gateway, gateway_addr) = match (wired.gateway, &settings.fly) {
            (Some(gw), Some(fly)) => {
                let listener = bind(fly.gateway_listen_addr, "GATEWAY_LISTEN_ADDR")?;
                let addr = listener.local_addr()?;
                let server = HttpServer::new(move || {
                    App::new()
                        .wrap(TracingLogger::default())
                        .configure(mgmt_registry_gateway::configure(gw.clone()))
                })
                .listen(listener)?
                .disable_signals()
                .shutdown_timeout(settings.shutdown_timeout.as_secs())
                .run();
                (Some(server), Some(addr))
            }
            _ => (None, None),
        };

        let metrics = match settings.metrics_listen_addr {
            Some(addr) => {
                let listener = bind(addr, "METRICS_LISTEN_ADDR")?;
                let addr = listener.local_addr()?;
                let state = wired.state.clone();
                let server = HttpServer::new(move || {
                    App::new().configure(mgmt_http::metrics::configure_private(state.clone()))
                })
                .workers(1)
                .listen(listener)?
                .disable_signals()
                .shutdown_timeout(settings.shutdown_timeout.as_secs())
                .run();
                Some((server, addr))
            }
            None => None,
        };

        let workers = match (&wired.service, settings.workers_enabled) {
            (Some(service), true) => Some(mgmt_provisioner::Workers::spawn(
                service.clone(),
                shutdown.clone(),
            )),
            _ => None,
        };
        // One replica at a time acts (advisory lock); every replica keeps its gauges current.
        let _reconciler = crate::ops::spawn_reconciler(
            &settings,
            wired.pool.clone(),
            wired.state.metrics.clone(),
            shutdown.clone(),
        )?;
        let _billing_sweep = crate::billing_ops::spawn_billing_sweep(
            &settings,
            wired.service.as_ref(),
            &wired.state.repos,
            shutdown.clone(),
        );
        tracing::info!(%api_addr, ?gateway_addr, workers = workers.is_some(), "management-api started");
        Ok(Self {
            api_addr,
            gateway_addr,
            api,
            gateway,
            metrics,
            change_listener,
            workers,
            shutdown,
            state: wired.state,
        })
    }

    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    pub fn gateway_addr(&self) -> Option<SocketAddr> {
        self.gateway_addr
    }

    /// The private metrics listener's address, when `METRICS_LISTEN_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr)| *addr)
    }

    /// The API's shared state (tests read repositories and metrics through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Cancel to stop the application gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled or a server stops; then stops accepting, lets
    /// in-flight requests finish (up to the shutdown timeout) and lets workers stop between steps.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handles: Vec<ServerHandle> = std::iter::once(self.api.handle())
            .chain(self.gateway.as_ref().map(Server::handle))
            .chain(self.metrics.as_ref().map(|(server, _)| server.handle()))
            .collect();
        let api = tokio::spawn(self.api);
        let gateway = self.gateway.map(tokio::spawn);
        let metrics = self.metrics.map(|(server, _)| tokio::spawn(server));
        self.shutdown.cancelled().await;
        tracing::info!("shutting down: finishing in-flight requests");
        futures::future::join_all(handles.iter().map(|h| h.stop(true))).await;
        api.await
            .context("API server task")?
            .context("API server")?;
        if let Some(gw) = gateway {
            gw.await
                .context("gateway server task")?
                .context("gateway server")?;
        }
        if let Some(metrics) = metrics {
            metrics
                .await
                .context("metrics server task")?
                .context("metrics server")?;
        }
        self.change_listener.abort();
        if let Some(workers) = self.workers {
            workers.await.context("workers")?;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Applies pending migrations.
pub async fn migrate(url: &SecretString) -> anyhow::Result<()> {
    let applied = mgmt_persistence::run_migrations(url)
        .await
        .context("DATABASE_URL: migrations failed")?;
    tracing::info!(count = applied.len(), ?applied, "migrations applied");
    Ok(())
}
