//! The connection pool with a choice of recycling check.
//!
//! `tenant_persistence::build_pool` verifies every connection it hands out with a `SELECT 1` (deadpool's
//! `Verified` recycling): one extra round trip per checkout, which doubles the database round trips of
//! a one-query read such as `/status` (measured: ~1.5x the throughput without it). So by default
//! (`DATABASE_POOL_RECYCLE=fast`) the same pool (size, wait and statement timeouts) is built here with
//! `Fast` recycling, which only checks the connection is not broken or inside a transaction; a dead
//! connection then fails one query (a 503 `storage_unavailable`) and is discarded.
//! `DATABASE_POOL_RECYCLE=verified` uses persistence's pool as is.

use anyhow::Context;
use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use secrecy::ExposeSecret;
use tenant_persistence::{PgPool, PoolConfig, build_pool};

/// How pooled connections are checked before reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recycle {
    Verified,
    Fast,
}

pub fn build(config: &PoolConfig, recycle: Recycle) -> anyhow::Result<PgPool> {
    if recycle == Recycle::Verified {
        return build_pool(config).context("DATABASE_URL: cannot build the connection pool");
    }
    let statement_timeout_ms = config.statement_timeout.as_millis();
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    manager_config.recycling_method = RecyclingMethod::Fast;
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
        .context("DATABASE_URL: cannot build the connection pool")
}
