//! The connection pool: deadpool over diesel-async's `AsyncPgConnection`, with an explicit size, a
//! bound on how long a caller waits for a connection, and a statement timeout on every connection.

use std::time::Duration;

use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use mgmt_domain::RepoResult;
use secrecy::{ExposeSecret, SecretString};

use crate::error::{PersistenceError, map_pool};

/// The pool every repository shares.
pub type PgPool = Pool<AsyncPgConnection>;
/// A connection checked out of [`PgPool`].
pub type PooledConnection = Object<AsyncPgConnection>;

/// How to reach the database and how much of it to use.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// `postgres://user:password@host:port/database` (secret: it may hold a password).
    pub url: SecretString,
    /// Most connections open at once.
    pub max_size: usize,
    /// Longest a caller waits for a free connection (or for a new one to open) before `Unavailable`.
    pub wait_timeout: Duration,
    /// Longest any one statement may run; the server cancels it after that. Zero disables the limit.
    pub statement_timeout: Duration,
    /// How a pooled connection is checked before it is handed out again.
    pub recycle: Recycle,
}

/// How pooled connections are checked before reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recycle {
    /// Only checks the connection is not broken or inside a transaction. A connection the server
    /// closed fails one query (`Unavailable`) and is discarded. The default, because a `SELECT 1` per
    /// checkout doubles the round trips of one-query reads such as `/status` (measured: about 1.5x
    /// the throughput without it, see the server's status benchmark).
    #[default]
    Fast,
    /// Runs a test query on every checkout: never hands out a dead connection, at one round trip more.
    Verified,
}

impl PoolConfig {
    /// Defaults suited to one API replica: 10 connections, 5 s wait, 30 s statement timeout.
    pub fn new(url: SecretString) -> Self {
        Self {
            url,
            max_size: 10,
            wait_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            recycle: Recycle::default(),
        }
    }
}

/// Builds the pool. Connections open lazily, so this succeeds with the database down; use
/// [`check_connection`] to fail fast at start-up.
pub fn build_pool(config: &PoolConfig) -> Result<PgPool, PersistenceError> {
    if config.max_size == 0 {
        return Err(PersistenceError::PoolConfig(
            "max_size must be at least 1".to_owned(),
        ));
    }
    let statement_timeout_ms = config.statement_timeout.as_millis();
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    manager_config.recycling_method = match config.recycle {
        Recycle::Fast => RecyclingMethod::Fast,
        Recycle::Verified => RecyclingMethod::Verified,
    };
    // The timeout is a session setting, so it is set once per new connection, before the pool hands
    // it out; recycled connections keep it.
    manager_config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        Box::pin(async move {
            let mut conn = AsyncPgConnection::establish(&url).await?;
            conn.batch_execute(&format!("SET statement_timeout = {statement_timeout_ms}"))
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        })
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        config.url.expose_secret(),
        manager_config,
    );
    Pool::builder(manager)
        .max_size(config.max_size)
        .wait_timeout(Some(config.wait_timeout))
        .create_timeout(Some(config.wait_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(PersistenceError::PoolBuild)
}

/// Checks out a connection, mapping pool failures to `Unavailable`.
pub(crate) async fn get(pool: &PgPool) -> RepoResult<PooledConnection> {
    pool.get().await.map_err(map_pool)
}

/// Opens (or reuses) one connection and runs a trivial query: a start-up and readiness check.
pub async fn check_connection(pool: &PgPool) -> RepoResult<()> {
    let mut conn = get(pool).await?;
    conn.batch_execute("SELECT 1")
        .await
        .map_err(crate::error::db_error("database"))
}
