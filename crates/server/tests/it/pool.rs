//! The fast-recycling pool recovers from connections the server killed: at most one query per dead
//! connection fails (as `Unavailable`, a 503), then fresh connections serve again.

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use mgmt_persistence::PoolConfig;
use mgmt_persistence::testing::test_database;
use mgmt_persistence::{Recycle, build_pool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_pool_recovers_after_its_connections_are_terminated() {
    let db = test_database().await.unwrap();
    let mut config = PoolConfig::new(db.url());
    config.max_size = 2;
    config.wait_timeout = Duration::from_secs(5);
    config.recycle = Recycle::Fast;
    let pool = build_pool(&config).unwrap();
    let repos = mgmt_persistence::PgRepositories::new(pool.clone());
    assert!(!repos.plans.list().await.unwrap().is_empty());

    let mut admin = mgmt_test_support::db::connect(&mgmt_test_support::db::admin_url())
        .await
        .unwrap();
    let name = db.db.name().to_owned();
    admin
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .await
        .unwrap();

    let mut failures = 0;
    for _ in 0..5 {
        match repos.plans.list().await {
            Ok(_) => {}
            Err(e) => {
                failures += 1;
                assert!(
                    e.is_transient() || matches!(e, mgmt_domain::RepoError::Other(_)),
                    "{e:?}"
                );
            }
        }
    }
    assert!(
        failures <= 2,
        "{failures} failures after the connections died"
    );
    assert!(repos.plans.list().await.is_ok(), "the pool did not recover");
}
