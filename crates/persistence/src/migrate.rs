//! The migrations in the top-level `migrations/` folder (diesel's layout, so `diesel migration run`
//! works on them too), embedded in the binary and run by `management-api migrate` or at start.

use diesel::Connection as _;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use secrecy::{ExposeSecret, SecretString};

use crate::error::PersistenceError;

/// Every migration of the `management` schema.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Runs the pending migrations; returns the versions it applied (empty when up to date).
///
/// Diesel's migration runner is synchronous. `diesel_async::AsyncMigrationHarness` bridges it with
/// `block_in_place`, which panics on a current-thread runtime (`#[tokio::test]`'s default, actix's
/// system runtime); so the same bridge, `AsyncConnectionWrapper`, runs here on a thread of its own with
/// its own small runtime, which works from any runtime or none.
pub async fn run_migrations(url: &SecretString) -> Result<Vec<String>, PersistenceError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let url = url.clone();
    std::thread::spawn(move || {
        let _receiver_gone = tx.send(migrate_blocking(&url));
    });
    rx.await.map_err(|_| PersistenceError::MigrationPanicked)?
}

/// [`run_migrations`] for callers without an async runtime (blocks the calling thread).
pub fn run_migrations_blocking(url: &SecretString) -> Result<Vec<String>, PersistenceError> {
    let url = url.clone();
    std::thread::spawn(move || migrate_blocking(&url))
        .join()
        .map_err(|_| PersistenceError::MigrationPanicked)?
}

fn migrate_blocking(url: &SecretString) -> Result<Vec<String>, PersistenceError> {
    let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(url.expose_secret())
        .map_err(PersistenceError::Connect)?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map_err(PersistenceError::Migration)?;
    let applied: Vec<String> = applied.iter().map(ToString::to_string).collect();
    tracing::info!(count = applied.len(), versions = ?applied, "database migrations applied");
    Ok(applied)
}
