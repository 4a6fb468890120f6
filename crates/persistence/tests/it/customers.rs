//! Customers and plans.

use mgmt_domain::{CustomerId, CustomerStatus, NewCustomer, RepoError};
use mgmt_persistence::testing::test_database;

fn new_customer(subject: &str) -> NewCustomer {
    NewCustomer {
        subject: subject.to_owned(),
        email: format!("{subject}@example.test"),
        name: Some("Ada".to_owned()),
    }
}

#[tokio::test]
async fn find_or_create_creates_once_and_finds_by_subject() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().customers;
    assert_eq!(repo.find_by_subject("auth0|1").await.unwrap(), None);
    let c = repo.find_or_create(new_customer("auth0|1")).await.unwrap();
    assert_eq!(c.status, CustomerStatus::Active);
    assert_eq!(c.name.as_deref(), Some("Ada"));
    let again = repo.find_or_create(new_customer("auth0|1")).await.unwrap();
    assert_eq!(again, c);
    assert_eq!(
        repo.find_by_subject("auth0|1").await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(repo.get(c.id).await.unwrap(), c);
    assert_eq!(
        repo.get(CustomerId::new_random()).await.unwrap_err(),
        RepoError::NotFound { entity: "customer" }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_logins_make_one_customer() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().customers;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let repo = repo.clone();
            tokio::spawn(async move {
                repo.find_or_create(new_customer("same-user"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

#[tokio::test]
async fn plans_are_read_by_id() {
    let t = test_database().await.unwrap();
    let plans = t.repositories().plans;
    let basic = plans.get("basic").await.unwrap();
    assert_eq!(
        (
            basic.memory_mb,
            basic.cpus,
            basic.volume_gb,
            basic.max_tenants
        ),
        (1024, 1, 10, 5)
    );
    assert_eq!(
        plans.get("platinum").await.unwrap_err(),
        RepoError::NotFound { entity: "plan" }
    );
}

#[tokio::test]
async fn plans_carry_isolation_settings_and_refuse_mounts_over_the_image() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    use secrecy::ExposeSecret;

    let t = test_database().await.unwrap();
    let plans = t.repositories().plans;
    let free = plans.get("free").await.unwrap();
    assert_eq!(free.volume_mount_path, None, "the operator's default");
    assert_eq!(
        (
            free.db_limits.connection_limit,
            free.db_limits.statement_timeout_ms,
            free.db_limits.idle_in_transaction_timeout_ms
        ),
        (5, 30_000, 60_000)
    );
    let mut conn = AsyncPgConnection::establish(t.url().expose_secret())
        .await
        .unwrap();
    conn.batch_execute(
        "INSERT INTO management.plans (id, name, memory_mb, cpus, volume_gb, max_tenants, \
         volume_mount_path, db_connection_limit) VALUES ('big', 'Big', 2048, 2, 20, 3, '/data', 50)",
    )
    .await
    .unwrap();
    let big = plans.get("big").await.unwrap();
    assert_eq!(big.volume_mount_path.as_deref(), Some("/data"));
    assert_eq!(big.db_limits.connection_limit, 50);
    // The same rule as the settings' check: nothing the image populates may be covered.
    for (i, path) in [
        "/app",
        "/app/services",
        "/app/services/profiles",
        "/app/storage",
        "/app/storage/files",
        "/app/web",
        "/app/bin",
        "/a/../b",
        "relative",
        "/",
    ]
    .iter()
    .enumerate()
    {
        assert!(
            mgmt_domain::check_volume_mount_path(path).is_err(),
            "{path}"
        );
        let err = conn
            .batch_execute(&format!(
                "INSERT INTO management.plans (id, name, memory_mb, cpus, volume_gb, max_tenants, \
                 volume_mount_path) VALUES ('bad{i}', 'Bad', 256, 1, 1, 1, '{path}')"
            ))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("plans_volume_mount_path_check"),
            "{path}: {err}"
        );
    }
    for (i, path) in ["/app/storage/files/uploads", "/app/logs", "/srv/x"]
        .iter()
        .enumerate()
    {
        assert!(mgmt_domain::check_volume_mount_path(path).is_ok(), "{path}");
        conn.batch_execute(&format!(
            "INSERT INTO management.plans (id, name, memory_mb, cpus, volume_gb, max_tenants, \
             volume_mount_path) VALUES ('ok{i}', 'Ok', 256, 1, 1, 1, '{path}')"
        ))
        .await
        .unwrap();
    }
    let err = conn
        .batch_execute("UPDATE management.plans SET db_connection_limit = 0 WHERE id = 'big'")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("db_connection_limit"), "{err}");
}
