//! The pool: statement timeout, wait timeout and an unreachable server all surface as `Unavailable`.

use std::time::Duration;

use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use mgmt_domain::RepoError;
use mgmt_persistence::testing::test_database;
use mgmt_persistence::{PgRepositories, PoolConfig, build_pool, check_connection};
use secrecy::SecretString;

#[tokio::test]
async fn a_statement_over_the_timeout_is_cancelled_and_reported_unavailable() {
    let t = test_database().await.unwrap();
    let pool = build_pool(&PoolConfig {
        url: t.url(),
        max_size: 2,
        wait_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_millis(200),
        recycle: Default::default(),
    })
    .unwrap();
    check_connection(&pool).await.unwrap();
    let mut conn = pool.get().await.unwrap();
    let started = std::time::Instant::now();
    let err = diesel::sql_query("SELECT pg_sleep(5)")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    let mapped = mgmt_persistence::error::map_diesel("test", err);
    assert!(mapped.is_transient(), "{mapped:?}");
}

#[tokio::test]
async fn an_exhausted_pool_answers_unavailable_after_the_wait_timeout() {
    let t = test_database().await.unwrap();
    let pool = build_pool(&PoolConfig {
        url: t.url(),
        max_size: 1,
        wait_timeout: Duration::from_millis(200),
        statement_timeout: Duration::from_secs(5),
        recycle: Default::default(),
    })
    .unwrap();
    let mut held = pool.get().await.unwrap();
    held.batch_execute("SELECT 1").await.unwrap();
    let started = std::time::Instant::now();
    let err = PgRepositories::new(pool.clone())
        .plans
        .list()
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(held);
    assert_eq!(
        PgRepositories::new(pool).plans.list().await.unwrap().len(),
        2
    );
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_the_password_is_not_echoed() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let url = SecretString::from("postgres://user:hunter2-secret@127.0.0.1:1/db".to_owned());
    let config = PoolConfig {
        wait_timeout: Duration::from_secs(2),
        ..PoolConfig::new(url)
    };
    assert!(!format!("{config:?}").contains("hunter2"));
    let pool = build_pool(&config).unwrap();
    let err = check_connection(&pool).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(
        build_pool(&PoolConfig {
            max_size: 0,
            ..config
        })
        .is_err()
    );
}
