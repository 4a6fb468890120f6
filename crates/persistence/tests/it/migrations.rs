//! Migrations run up from an empty database, from an old system's database, and back down.

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use mgmt_domain::{NewCustomer, NewTenant, TenantId};
use mgmt_persistence::testing::{TestDatabase, test_database};
use mgmt_persistence::{
    PgRepositories, PoolConfig, build_pool, run_migrations, run_migrations_blocking,
};
use secrecy::SecretString;

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn tables(conn: &mut AsyncPgConnection) -> Vec<String> {
    sql_query("SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'management' ORDER BY 1")
        .load::<Name>(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect()
}

async fn columns(conn: &mut AsyncPgConnection, table: &str) -> Vec<String> {
    sql_query(
        "SELECT column_name::text AS name FROM information_schema.columns
         WHERE table_schema = 'management' AND table_name = $1 ORDER BY 1",
    )
    .bind::<Text, _>(table)
    .load::<Name>(conn)
    .await
    .unwrap()
    .into_iter()
    .map(|n| n.name)
    .collect()
}

const ALL_TABLES: &[&str] = &[
    "activity_events",
    "billing_events",
    "checkout_sessions",
    "custom_domains",
    "customers",
    "deployments",
    "job_counts",
    "jobs",
    "login_identities",
    "login_states",
    "plan_prices",
    "plans",
    "reconcile_findings",
    "registry_manifest_pushes",
    "registry_pushes",
    "registry_tenant_digests",
    "registry_uploads",
    "revoked_subjects",
    "revoked_tokens",
    "subscriptions",
    "tenant_credentials",
    "tenant_events",
    "tenants",
];

#[tokio::test]
async fn migrations_run_from_empty_and_are_idempotent() {
    let db = TestDatabase::empty().await.unwrap();
    let url = SecretString::from(db.url().to_owned());
    let applied = run_migrations(&url).await.unwrap();
    assert_eq!(applied.len(), migration_count(), "{applied:?}");
    assert!(
        run_migrations(&url).await.unwrap().is_empty(),
        "second run applied something"
    );

    let mut conn = AsyncPgConnection::establish(db.url()).await.unwrap();
    assert_eq!(tables(&mut conn).await, ALL_TABLES);
    // diesel-cli compatibility: the same bookkeeping table.
    let n: Count = sql_query("SELECT count(*) AS n FROM __diesel_schema_migrations")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(n.n as usize, migration_count());
}

#[tokio::test]
async fn migrations_revert_cleanly_and_rerun() {
    use diesel_migrations::MigrationHarness;
    let db = TestDatabase::empty().await.unwrap();
    let url = db.url().to_owned();
    run_migrations_blocking(&SecretString::from(url.clone())).unwrap();
    // Down migrations, through the same bridge `run_migrations` uses, on a thread without a runtime.
    std::thread::spawn(move || {
        type Wrapper =
            diesel_async::async_connection_wrapper::AsyncConnectionWrapper<AsyncPgConnection>;
        let mut conn = <Wrapper as diesel::Connection>::establish(&url).unwrap();
        conn.revert_all_migrations(mgmt_persistence::MIGRATIONS)
            .unwrap();
    })
    .join()
    .unwrap();
    let mut conn = AsyncPgConnection::establish(db.url()).await.unwrap();
    assert!(tables(&mut conn).await.is_empty());
    drop(conn);
    assert_eq!(
        run_migrations(&SecretString::from(db.url().to_owned()))
            .await
            .unwrap()
            .len(),
        migration_count()
    );
}

#[tokio::test]
async fn a_database_of_the_old_system_migrates_and_loses_the_deploy_token() {
    let db = TestDatabase::empty().await.unwrap();
    let mut conn = AsyncPgConnection::establish(db.url()).await.unwrap();
    // The old system's shape: its own tenants table, with the per-app deploy token column.
    conn.batch_execute(
        "CREATE SCHEMA management;
         CREATE TABLE management.tenants (
             id uuid PRIMARY KEY,
             customer_id uuid NOT NULL,
             name text NOT NULL,
             fly_app_name text,
             fly_deploy_token text,
             created_at timestamptz DEFAULT now()
         );",
    )
    .await
    .unwrap();
    assert!(
        columns(&mut conn, "tenants")
            .await
            .contains(&"fly_deploy_token".to_owned())
    );

    let applied = run_migrations(&SecretString::from(db.url().to_owned()))
        .await
        .unwrap();
    assert_eq!(applied.len(), migration_count());
    let cols = columns(&mut conn, "tenants").await;
    assert!(!cols.contains(&"fly_deploy_token".to_owned()), "{cols:?}");
    for c in [
        "row_version",
        "state",
        "database_role",
        "deleted_at",
        "customer_id",
        "name",
    ] {
        assert!(cols.contains(&c.to_owned()), "{c} missing from {cols:?}");
    }
    assert_eq!(tables(&mut conn).await, ALL_TABLES);

    // The adopted table works with the repositories, constraints included.
    let pool = build_pool(&PoolConfig::new(SecretString::from(db.url().to_owned()))).unwrap();
    let repos = PgRepositories::new(pool);
    let customer = repos
        .customers
        .find_or_create(NewCustomer {
            subject: "old-user".into(),
            email: "old@example.test".into(),
            name: None,
        })
        .await
        .unwrap();
    let id = TenantId::new_random();
    let t = repos
        .tenants
        .insert(NewTenant::new(
            id,
            customer.id,
            "site",
            "free",
            "iad",
            "example.test",
        ))
        .await
        .unwrap();
    assert_eq!(repos.tenants.get(id).await.unwrap(), t);
    let dup = NewTenant::new(
        TenantId::new_random(),
        customer.id,
        "site",
        "free",
        "iad",
        "example.test",
    );
    assert!(matches!(
        repos.tenants.insert(dup).await,
        Err(mgmt_domain::RepoError::Conflict { .. })
    ));
    let orphan = NewTenant::new(
        TenantId::new_random(),
        mgmt_domain::CustomerId::new_random(),
        "x",
        "free",
        "iad",
        "e.test",
    );
    assert_eq!(
        repos.tenants.insert(orphan).await.unwrap_err(),
        mgmt_domain::RepoError::NotFound { entity: "customer" }
    );
}

#[tokio::test]
async fn the_template_database_has_every_table_and_the_seeded_plans() {
    let t = test_database().await.unwrap();
    let mut conn = AsyncPgConnection::establish(t.db.url()).await.unwrap();
    assert_eq!(tables(&mut conn).await, ALL_TABLES);
    let plans = t.repositories().plans.list().await.unwrap();
    let ids: Vec<_> = plans
        .iter()
        .map(|p| (p.id.as_str(), p.memory_mb, p.volume_gb, p.max_tenants))
        .collect();
    assert_eq!(ids, [("free", 256, 1, 1), ("basic", 1024, 10, 5)]);
}

/// Every migration folder: each test that runs them all expects exactly these (no hand-kept count to
/// update when a migration is added).
fn migration_count() -> usize {
    std::fs::read_dir(mgmt_persistence::testing::migrations_dir())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("up.sql").is_file())
        .count()
}
