//! Test helpers for this and other crates (feature `testing`): a migrated database per test with a
//! pool and the repositories on it, plus small fixtures.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use tenant_domain::{Customer, CustomerId, NewCustomer, NewTenant, Repositories, Tenant, TenantId};
pub use test_support::db::{ScratchCluster, TestDatabase};

use crate::pool::{PgPool, PoolConfig, build_pool};
use crate::tenant_db_admin::PgTenantDatabaseAdmin;
use crate::{PgRepositories, run_migrations};

/// The top-level `migrations/` folder (its contents name the template database).
pub fn migrations_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"))
}

/// A migrated database of its own, dropped when this is dropped (even if the test panics).
pub struct TestDb {
    // Declared first so it is dropped before the database it points at.
    pub pool: PgPool,
    pub db: TestDatabase,
}

/// A fresh migrated database and a small pool on it. Works on any tokio runtime flavour.
pub async fn test_database() -> anyhow::Result<TestDb> {
    let db = TestDatabase::new(&migrations_dir(), |url| async move {
        run_migrations(&SecretString::from(url)).await?;
        Ok(())
    })
    .await?;
    let pool = build_pool(&PoolConfig {
        url: SecretString::from(db.url().to_owned()),
        max_size: 8,
        wait_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(30),
    })?;
    Ok(TestDb { pool, db })
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl TestDb {
    /// The database URL (as the server's configuration would hold it).
    pub fn url(&self) -> SecretString {
        SecretString::from(self.db.url().to_owned())
    }

    /// Every repository on this database.
    pub fn repositories(&self) -> Repositories {
        PgRepositories::new(self.pool.clone())
    }

    /// A customer with a random subject.
    pub async fn customer(&self) -> anyhow::Result<Customer> {
        let subject = format!("user-{}", uuid::Uuid::new_v4().simple());
        Ok(self
            .repositories()
            .customers
            .find_or_create(NewCustomer {
                email: format!("{subject}@example.test"),
                subject,
                name: None,
            })
            .await?)
    }

    /// A `pending` tenant of `customer` on the `free` plan in `iad`, with a random id.
    pub async fn tenant(&self, customer: CustomerId, name: &str) -> anyhow::Result<Tenant> {
        let new = NewTenant::new(
            TenantId::new_random(),
            customer,
            name,
            "free",
            "iad",
            "sites.example.test",
        );
        Ok(self.repositories().tenants.insert(new).await?)
    }
}

/// A tenant database admin on the test server itself. Role names are global to a cluster, so tests
/// must derive names from random tenant ids (see [`random_tenant_db_names`]) to run in parallel.
pub fn tenant_cluster_admin() -> PgTenantDatabaseAdmin {
    PgTenantDatabaseAdmin::new(SecretString::from(test_support::db::admin_url()))
}

/// `(database, role)` names of a random tenant id, as the provisioner derives them.
pub fn random_tenant_db_names() -> (String, String) {
    let id = TenantId::new_random();
    (
        tenant_domain::naming::tenant_database_name(&id),
        tenant_domain::naming::tenant_role_name(&id),
    )
}
