//! Test helpers for this and other crates (feature `testing`): a migrated database per test with a
//! pool and the repositories on it, plus small fixtures.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use mgmt_domain::{
    Customer, CustomerId, NewCustomer, NewTenant, RepoResult, Repositories, Tenant,
    TenantDatabaseAdmin, TenantId,
};
use mgmt_test_support::blocking::block_on_fresh_thread;
pub use mgmt_test_support::db::{ScratchCluster, TestDatabase};
use secrecy::SecretString;

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
        recycle: Default::default(),
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

    /// Sets a customer's status (`active` or `suspended`): operators do this by hand today.
    pub async fn set_customer_status(
        &self,
        customer: CustomerId,
        status: mgmt_domain::CustomerStatus,
    ) -> anyhow::Result<()> {
        use diesel_async::RunQueryDsl;
        let mut conn = self.pool.get().await?;
        diesel::sql_query("UPDATE management.customers SET status = $2 WHERE id = $1")
            .bind::<diesel::sql_types::Uuid, _>(customer.as_uuid())
            .bind::<diesel::sql_types::Text, _>(status.as_str())
            .execute(&mut conn)
            .await?;
        Ok(())
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
/// Whatever a test created and did not drop is dropped when the admin is (see [`TrackedTenantCluster`]).
pub fn tenant_cluster_admin() -> TrackedTenantCluster {
    TrackedTenantCluster {
        inner: PgTenantDatabaseAdmin::new(SecretString::from(mgmt_test_support::db::admin_url())),
        live: Mutex::new(BTreeSet::new()),
    }
}

/// [`PgTenantDatabaseAdmin`] on the shared test server that remembers the databases and roles it
/// created: tests that end with a tenant still provisioned would otherwise leave them on the server.
pub struct TrackedTenantCluster {
    inner: PgTenantDatabaseAdmin,
    live: Mutex<BTreeSet<(String, String)>>,
}

impl std::fmt::Debug for TrackedTenantCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackedTenantCluster")
            .finish_non_exhaustive()
    }
}

fn lock(
    live: &Mutex<BTreeSet<(String, String)>>,
) -> std::sync::MutexGuard<'_, BTreeSet<(String, String)>> {
    live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl TenantDatabaseAdmin for TrackedTenantCluster {
    async fn ensure_database(
        &self,
        database: &str,
        role: &str,
        password: &SecretString,
        limits: &mgmt_domain::TenantDbLimits,
    ) -> RepoResult<()> {
        lock(&self.live).insert((database.to_owned(), role.to_owned()));
        self.inner
            .ensure_database(database, role, password, limits)
            .await
    }

    async fn drop_database(&self, database: &str, role: &str) -> RepoResult<()> {
        self.inner.drop_database(database, role).await?;
        lock(&self.live).remove(&(database.to_owned(), role.to_owned()));
        Ok(())
    }

    async fn set_password(&self, role: &str, password: &SecretString) -> RepoResult<()> {
        self.inner.set_password(role, password).await
    }

    async fn database_exists(&self, database: &str) -> RepoResult<bool> {
        self.inner.database_exists(database).await
    }

    async fn role_exists(&self, role: &str) -> RepoResult<bool> {
        self.inner.role_exists(role).await
    }
}

impl Drop for TrackedTenantCluster {
    fn drop(&mut self) {
        let leftovers = std::mem::take(&mut *lock(&self.live));
        if leftovers.is_empty() {
            return;
        }
        let admin = self.inner.clone();
        // Drop may run inside a runtime (where blocking is not allowed).
        let outcome = block_on_fresh_thread(|| async move {
            for (database, role) in leftovers {
                admin.drop_database(&database, &role).await?;
            }
            Ok(())
        });
        if outcome.is_err() {
            eprintln!("mgmt-persistence testing: could not drop a test's tenant databases");
        }
    }
}

/// `(database, role)` names of a random tenant id, as the provisioner derives them.
pub fn random_tenant_db_names() -> (String, String) {
    let id = TenantId::new_random();
    (
        mgmt_domain::naming::tenant_database_name(&id),
        mgmt_domain::naming::tenant_role_name(&id),
    )
}

/// Drops, on the test server, the tenant database and role of every tenant recorded in the database at
/// `db_url`. For harnesses that run the whole server (whose tenant cluster is the test server itself):
/// a test that ends with tenants still provisioned would otherwise leave them behind. Runs on a thread
/// of its own, so it can be called from `Drop` inside or outside a runtime.
pub fn drop_recorded_tenant_databases(db_url: &SecretString) {
    use diesel::sql_types::Text;
    use diesel_async::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Names {
        #[diesel(sql_type = Text)]
        database_name: String,
        #[diesel(sql_type = Text)]
        database_role: String,
    }

    let url = db_url.clone();
    let outcome = block_on_fresh_thread(|| async move {
        let mut conn =
            mgmt_test_support::db::connect(secrecy::ExposeSecret::expose_secret(&url)).await?;
        let names: Vec<Names> =
            diesel::sql_query("SELECT database_name, database_role FROM management.tenants")
                .load(&mut conn)
                .await?;
        let admin =
            PgTenantDatabaseAdmin::new(SecretString::from(mgmt_test_support::db::admin_url()));
        for n in names {
            admin
                .drop_database(&n.database_name, &n.database_role)
                .await?;
        }
        Ok(())
    });
    if outcome.is_err() {
        eprintln!("mgmt-persistence testing: could not drop the recorded tenant databases");
    }
}
