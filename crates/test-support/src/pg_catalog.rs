//! What exists on a PostgreSQL server, read from its catalog: for tests that check that something was
//! created or that nothing was left behind, independently of the code that creates and drops it.

use diesel::sql_types::{Bool, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::RunQueryDsl;

use crate::db::connect;

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

async fn exists(url: &str, sql: &str, name: &str) -> anyhow::Result<bool> {
    let mut conn = connect(url).await?;
    let row: Exists = sql_query(sql)
        .bind::<Text, _>(name)
        .get_result(&mut conn)
        .await?;
    Ok(row.exists)
}

/// Whether database `name` exists on the server of `url` (any database of that server).
pub async fn database_exists(url: &str, name: &str) -> anyhow::Result<bool> {
    exists(
        url,
        "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists",
        name,
    )
    .await
}

/// Whether role `name` exists on the server of `url`.
pub async fn role_exists(url: &str, name: &str) -> anyhow::Result<bool> {
    exists(
        url,
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists",
        name,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{TestDatabase, admin_url};

    #[tokio::test]
    async fn sees_databases_and_roles() {
        let db = TestDatabase::empty().await.unwrap();
        assert!(database_exists(&admin_url(), db.name()).await.unwrap());
        assert!(role_exists(&admin_url(), "postgres").await.unwrap());
        let gone = format!("{}_never_made", db.name());
        assert!(!database_exists(&admin_url(), &gone).await.unwrap());
        assert!(!role_exists(&admin_url(), &gone).await.unwrap());
    }
}
