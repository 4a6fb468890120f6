//! Tenant databases and roles, on a private cluster that really checks passwords.

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use mgmt_domain::{RepoError, TenantDatabaseAdmin, TenantDbLimits};
use mgmt_persistence::PgTenantDatabaseAdmin;
use mgmt_persistence::testing::{ScratchCluster, random_tenant_db_names};
use secrecy::SecretString;

/// The admin itself, not the tracking wrapper of `testing::tenant_cluster_admin`: these tests check
/// exactly what exists when, and drop what they create themselves.
fn tenant_cluster_admin() -> PgTenantDatabaseAdmin {
    PgTenantDatabaseAdmin::new(secret(&mgmt_test_support::db::admin_url()))
}

/// Limits as a plan sets them; tests that check them use their own values.
const LIMITS: TenantDbLimits = TenantDbLimits {
    connection_limit: 10,
    statement_timeout_ms: 30_000,
    idle_in_transaction_timeout_ms: 60_000,
};

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

#[tokio::test]
async fn create_retry_login_and_drop() {
    let cluster = ScratchCluster::start().unwrap();
    let admin = PgTenantDatabaseAdmin::new(secret(&cluster.admin_url()));
    let (db, role) = random_tenant_db_names();
    assert!(!admin.database_exists(&db).await.unwrap());
    assert!(!admin.role_exists(&role).await.unwrap());

    admin
        .ensure_database(&db, &role, &secret("first-pass"), &LIMITS)
        .await
        .unwrap();
    assert!(admin.database_exists(&db).await.unwrap());
    assert!(admin.role_exists(&role).await.unwrap());

    // The role logs in with its password, owns its database, and can create tables in it.
    let mut conn = AsyncPgConnection::establish(&cluster.url(&role, "first-pass", &db))
        .await
        .unwrap();
    conn.batch_execute("CREATE TABLE notes (body text); INSERT INTO notes VALUES ('hi')")
        .await
        .unwrap();
    assert!(
        AsyncPgConnection::establish(&cluster.url(&role, "wrong", &db))
            .await
            .is_err()
    );
    drop(conn);

    // A retry (the provisioner lost the password it generated) sets the new one and keeps the data.
    admin
        .ensure_database(&db, &role, &secret("second-pass"), &LIMITS)
        .await
        .unwrap();
    let err = AsyncPgConnection::establish(&cluster.url(&role, "first-pass", &db))
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );
    let mut conn = AsyncPgConnection::establish(&cluster.url(&role, "second-pass", &db))
        .await
        .unwrap();
    conn.batch_execute("SELECT body FROM notes").await.unwrap();

    // Another tenant's role cannot connect to this database.
    let (other_db, other_role) = random_tenant_db_names();
    admin
        .ensure_database(&other_db, &other_role, &secret("other-pass"), &LIMITS)
        .await
        .unwrap();
    let err = AsyncPgConnection::establish(&cluster.url(&other_role, "other-pass", &db))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("permission denied"), "{err}");

    // The password never reaches the server in plaintext: only a SCRAM verifier is stored.
    let mut su = AsyncPgConnection::establish(&cluster.admin_url())
        .await
        .unwrap();
    su.batch_execute(&format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_authid WHERE rolname = '{role}'
            AND rolpassword LIKE 'SCRAM-SHA-256$4096:%' AND rolpassword NOT LIKE '%second-pass%')
         THEN RAISE EXCEPTION 'no verifier'; END IF; END $$"
    ))
    .await
    .unwrap();

    // Drop terminates the open session, and is idempotent.
    admin.drop_database(&db, &role).await.unwrap();
    assert!(!admin.database_exists(&db).await.unwrap());
    assert!(!admin.role_exists(&role).await.unwrap());
    admin.drop_database(&db, &role).await.unwrap();
    assert!(
        admin.database_exists(&other_db).await.unwrap(),
        "the other tenant is untouched"
    );
    drop(conn);
}

#[tokio::test]
async fn bad_names_are_refused_before_reaching_the_server_and_errors_hide_the_password() {
    let admin = tenant_cluster_admin();
    let pass = secret("s3cret-value");
    for (db, role) in [
        ("site_x\"; DROP DATABASE postgres; --", "tenant_x"),
        ("site_x", "Tenant"),
        ("pg_site", "tenant_x"),
    ] {
        let err = admin
            .ensure_database(db, role, &pass, &LIMITS)
            .await
            .unwrap_err();
        assert!(matches!(err, RepoError::Other(_)), "{err:?}");
        assert!(!err.to_string().contains("s3cret"));
    }
    assert!(admin.database_exists("a-b").await.is_err());

    // A server-side failure (the role name belongs to an existing non-tenant database owner) does not
    // echo the statement, which would carry the verifier.
    let unreachable = PgTenantDatabaseAdmin::new(secret(
        "postgres://postgres:s3cret-value@127.0.0.1:1/postgres",
    ));
    let err = unreachable
        .ensure_database("site_a", "tenant_a", &pass, &LIMITS)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
    assert!(!format!("{unreachable:?}").contains("s3cret"));
}

#[tokio::test]
async fn the_shared_test_server_works_as_a_tenant_cluster_with_random_names() {
    let admin = tenant_cluster_admin();
    let (db, role) = random_tenant_db_names();
    admin
        .ensure_database(&db, &role, &secret("pw"), &LIMITS)
        .await
        .unwrap();
    admin
        .ensure_database(&db, &role, &secret("pw2"), &LIMITS)
        .await
        .unwrap();
    assert!(admin.database_exists(&db).await.unwrap() && admin.role_exists(&role).await.unwrap());
    admin.drop_database(&db, &role).await.unwrap();
    assert!(!admin.database_exists(&db).await.unwrap() && !admin.role_exists(&role).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ensures_of_one_tenant_all_succeed() {
    let (db, role) = random_tenant_db_names();
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let (db, role) = (db.clone(), role.clone());
            tokio::spawn(async move {
                tenant_cluster_admin()
                    .ensure_database(&db, &role, &secret(&format!("pw{i}")), &LIMITS)
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let admin = tenant_cluster_admin();
    assert!(admin.database_exists(&db).await.unwrap());
    admin.drop_database(&db, &role).await.unwrap();
}

#[tokio::test]
async fn set_password_replaces_the_roles_password_and_needs_the_role() {
    let cluster = ScratchCluster::start().unwrap();
    let admin = PgTenantDatabaseAdmin::new(secret(&cluster.admin_url()));
    let (db, role) = random_tenant_db_names();
    let e = admin
        .set_password(&role, &secret("never-used"))
        .await
        .unwrap_err();
    assert!(matches!(e, RepoError::NotFound { .. }), "{e:?}");
    assert!(
        !admin.role_exists(&role).await.unwrap(),
        "no role is created"
    );

    admin
        .ensure_database(&db, &role, &secret("old-pass"), &LIMITS)
        .await
        .unwrap();
    admin
        .set_password(&role, &secret("new-pass"))
        .await
        .unwrap();
    // Twice is fine (a retried rotation).
    admin
        .set_password(&role, &secret("new-pass"))
        .await
        .unwrap();
    assert!(
        AsyncPgConnection::establish(&cluster.url(&role, "old-pass", &db))
            .await
            .is_err()
    );
    let mut conn = AsyncPgConnection::establish(&cluster.url(&role, "new-pass", &db))
        .await
        .unwrap();
    conn.batch_execute("SELECT 1").await.unwrap();
    drop(conn);
    assert!(admin.set_password("Bad Name", &secret("x")).await.is_err());
    assert!(admin.set_password(&role, &secret("")).await.is_err());
    admin.drop_database(&db, &role).await.unwrap();
}

/// Reads one text value as the superuser (the checks below read the catalogs).
async fn catalog_text(su: &mut AsyncPgConnection, sql: &str) -> String {
    use diesel::sql_types::Text;
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        v: String,
    }
    let row: Row = diesel::sql_query(sql).get_result(su).await.unwrap();
    row.v
}

#[tokio::test]
async fn roles_get_the_plans_limits_and_reach_only_their_own_database() {
    let cluster = ScratchCluster::start().unwrap();
    let admin = PgTenantDatabaseAdmin::new(secret(&cluster.admin_url()));
    let (db_a, role_a) = random_tenant_db_names();
    let (db_b, role_b) = random_tenant_db_names();
    let limits = TenantDbLimits {
        connection_limit: 3,
        statement_timeout_ms: 1500,
        idle_in_transaction_timeout_ms: 2500,
    };
    admin
        .ensure_database(&db_a, &role_a, &secret("pass-a"), &limits)
        .await
        .unwrap();
    admin
        .ensure_database(&db_b, &role_b, &secret("pass-b"), &LIMITS)
        .await
        .unwrap();

    // The limits are on the role, as the catalogs show them.
    let mut su = AsyncPgConnection::establish(&cluster.admin_url())
        .await
        .unwrap();
    let limit = catalog_text(
        &mut su,
        &format!("SELECT rolconnlimit::text AS v FROM pg_roles WHERE rolname = '{role_a}'"),
    )
    .await;
    assert_eq!(limit, "3");
    let settings = catalog_text(
        &mut su,
        &format!(
            "SELECT array_to_string(s.setconfig, ',') AS v FROM pg_db_role_setting s \
             JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = '{role_a}' AND s.setdatabase = 0"
        ),
    )
    .await;
    assert!(
        settings.contains("statement_timeout=1500")
            && settings.contains("idle_in_transaction_session_timeout=2500"),
        "{settings}"
    );
    // A session of the role runs under them.
    let mut conn_a = AsyncPgConnection::establish(&cluster.url(&role_a, "pass-a", &db_a))
        .await
        .unwrap();
    let err = conn_a
        .batch_execute("SELECT pg_sleep(3)")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("statement timeout"), "{err}");

    // A retry with other limits (the plan changed) applies them.
    admin
        .ensure_database(&db_a, &role_a, &secret("pass-a"), &LIMITS)
        .await
        .unwrap();
    let limit = catalog_text(
        &mut su,
        &format!("SELECT rolconnlimit::text AS v FROM pg_roles WHERE rolname = '{role_a}'"),
    )
    .await;
    assert_eq!(limit, LIMITS.connection_limit.to_string());

    // Tenant A's credentials reach neither tenant B's database nor the cluster's own ones.
    for other in [db_b.as_str(), "postgres", "template1"] {
        let err = AsyncPgConnection::establish(&cluster.url(&role_a, "pass-a", other))
            .await
            .err()
            .unwrap_or_else(|| panic!("{role_a} connected to {other}"));
        assert!(
            err.to_string().contains("permission denied"),
            "{other}: {err}"
        );
    }
    // PUBLIC holds no right on a tenant database; only the owner role is granted CONNECT.
    let acl = catalog_text(
        &mut su,
        &format!("SELECT datacl::text AS v FROM pg_database WHERE datname = '{db_b}'"),
    )
    .await;
    assert!(
        !acl.contains("{=") && !acl.contains(",="),
        "PUBLIC in {acl}"
    );
    assert!(acl.contains(&format!("{role_b}=")), "{acl}");

    // Invalid limits are refused before anything is touched.
    let zero = TenantDbLimits {
        connection_limit: 0,
        ..LIMITS
    };
    let (db_c, role_c) = random_tenant_db_names();
    assert!(
        admin
            .ensure_database(&db_c, &role_c, &secret("pass-c"), &zero)
            .await
            .is_err()
    );
    assert!(!admin.role_exists(&role_c).await.unwrap());
    drop(conn_a);
    admin.drop_database(&db_a, &role_a).await.unwrap();
    admin.drop_database(&db_b, &role_b).await.unwrap();
}

#[tokio::test]
async fn a_role_whose_drop_fails_can_no_longer_log_in() {
    let cluster = ScratchCluster::start().unwrap();
    let admin = PgTenantDatabaseAdmin::new(secret(&cluster.admin_url()));
    let (db, role) = random_tenant_db_names();
    admin
        .ensure_database(&db, &role, &secret("pass"), &LIMITS)
        .await
        .unwrap();
    // The role owns something outside its database (a table in the cluster's `postgres` database),
    // so DROP ROLE fails; the drop must still leave the role unable to log in.
    let mut su = AsyncPgConnection::establish(&cluster.admin_url())
        .await
        .unwrap();
    su.batch_execute(&format!(
        "CREATE TABLE stray_{role} (x int); ALTER TABLE stray_{role} OWNER TO \"{role}\""
    ))
    .await
    .unwrap();
    let err = admin.drop_database(&db, &role).await.unwrap_err();
    assert!(
        err.to_string().contains("dropping the tenant role"),
        "{err}"
    );
    assert!(admin.role_exists(&role).await.unwrap());
    let login = catalog_text(
        &mut su,
        &format!("SELECT rolcanlogin::text AS v FROM pg_roles WHERE rolname = '{role}'"),
    )
    .await;
    assert_eq!(login, "false");
    // Once the stray object is gone, a retried drop completes.
    su.batch_execute(&format!("DROP TABLE stray_{role}"))
        .await
        .unwrap();
    admin.drop_database(&db, &role).await.unwrap();
    assert!(!admin.role_exists(&role).await.unwrap());
}

/// A session of the cluster that holds the tenant's admin lock (a hung earlier call, an operator's
/// open transaction) must not block the tenant's queue: the call gives up within its timeout with a
/// retryable error, and works once the lock is free.
#[tokio::test]
async fn a_call_blocked_on_the_cluster_gives_up_within_its_timeout() {
    use std::time::{Duration, Instant};
    let url = mgmt_test_support::db::admin_url();
    let admin = tenant_cluster_admin().with_call_timeout(Duration::from_millis(800));
    let (db, role) = random_tenant_db_names();
    let mut holder = AsyncPgConnection::establish(&url).await.unwrap();
    holder
        .batch_execute(&format!(
            "SELECT pg_advisory_lock(hashtextextended('tenant-db-admin:' || '{role}', 0))"
        ))
        .await
        .unwrap();
    let started = Instant::now();
    let err = admin
        .ensure_database(&db, &role, &secret("pw-123456"), &LIMITS)
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let err = admin.drop_database(&db, &role).await.unwrap_err();
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");
    assert!(!admin.role_exists(&role).await.unwrap());
    // Released: the work itself (CREATE DATABASE on a busy test server) gets the default bound.
    holder
        .batch_execute("SELECT pg_advisory_unlock_all()")
        .await
        .unwrap();
    let admin = tenant_cluster_admin();
    admin
        .ensure_database(&db, &role, &secret("pw-123456"), &LIMITS)
        .await
        .unwrap();
    admin.drop_database(&db, &role).await.unwrap();
}
