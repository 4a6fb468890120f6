//! Tenant databases and roles, on a private cluster that really checks passwords.

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use mgmt_domain::{RepoError, TenantDatabaseAdmin};
use mgmt_persistence::PgTenantDatabaseAdmin;
use mgmt_persistence::testing::{ScratchCluster, random_tenant_db_names};
use secrecy::SecretString;

/// The admin itself, not the tracking wrapper of `testing::tenant_cluster_admin`: these tests check
/// exactly what exists when, and drop what they create themselves.
fn tenant_cluster_admin() -> PgTenantDatabaseAdmin {
    PgTenantDatabaseAdmin::new(secret(&mgmt_test_support::db::admin_url()))
}

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
        .ensure_database(&db, &role, &secret("first-pass"))
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
        .ensure_database(&db, &role, &secret("second-pass"))
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
        .ensure_database(&other_db, &other_role, &secret("other-pass"))
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
        let err = admin.ensure_database(db, role, &pass).await.unwrap_err();
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
        .ensure_database("site_a", "tenant_a", &pass)
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
        .ensure_database(&db, &role, &secret("pw"))
        .await
        .unwrap();
    admin
        .ensure_database(&db, &role, &secret("pw2"))
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
                    .ensure_database(&db, &role, &secret(&format!("pw{i}")))
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
        .ensure_database(&db, &role, &secret("old-pass"))
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
