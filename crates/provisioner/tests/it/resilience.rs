//! Flaky Fly: 429 bursts and 5xx are absorbed and every operation completes; Fly hard down opens the
//! breaker and calls fail fast with a transient error instead of hanging.

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::{Harness, images};
use mgmt_domain::TenantState;
use mgmt_fly_client::BreakerConfig;
use mgmt_mock_fly::MockFlyConfig;
use mgmt_provisioner::ServiceError;
use secrecy::SecretString;

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_server_errors_are_absorbed() {
    let cfg = MockFlyConfig {
        rate_limits: true,
        ..MockFlyConfig::default()
    };
    let mut h = Harness::build(cfg, common::default_breaker(), |_| {}).await;
    let f = h.mock.faults();
    f.rate_limit_429("create_app", 2, Some(0));
    f.rate_limit_429("assign_ip", 3, None);
    f.rate_limit_429("create_volume", 2, Some(0));
    f.fail_next("get_app", 2, 503);
    f.fail_next("set_secrets", 2, 502);
    f.fail_next("create_certificate", 1, 500);
    f.rate_limit_429("create_machine", 2, Some(0));
    f.fail_next("list_machines", 2, 503);
    f.fail_next("wait_machine", 1, 502);
    f.fail_next("delete_machine", 2, 503);
    f.rate_limit_429("delete_app", 2, None);
    f.fail_next("delete_volume", 1, 500);
    h.start_workers();
    let t = h.provisioned("flaky", "basic").await;
    images::push(&h, &t.id, "flaky-v1").await;
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    let t = h.wait_state(t.id, TenantState::Running, T).await;
    assert_eq!(h.mock.state().machines_of(&t.fly_app_name).len(), 1);
    h.service.delete_tenant(h.customer.id, t.id).await.unwrap();
    let t = h.wait_state(t.id, TenantState::Deleted, T).await;
    assert_eq!(h.fly_leftovers(&t), Vec::<String>::new());
    let statuses: Vec<u16> = h.mock.requests().iter().map(|r| r.status).collect();
    assert!(
        statuses.contains(&429) && statuses.contains(&503),
        "faults were really served"
    );
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fly_hard_down_opens_the_breaker_and_calls_fail_fast() {
    let breaker = BreakerConfig {
        failure_threshold: 3,
        cool_down: Duration::from_secs(60),
    };
    let mut h = Harness::build(MockFlyConfig::default(), breaker, |_| {}).await;
    h.start_workers();
    let t = h.provisioned("down", "basic").await;
    h.stop_workers().await;

    h.mock.faults().set_down(true);
    let secrets = || BTreeMap::from([("API_KEY".to_owned(), SecretString::from("v".to_owned()))]);
    let mut last = None;
    for _ in 0..4 {
        let err = h
            .service
            .set_secrets(h.customer.id, t.id, secrets())
            .await
            .unwrap_err();
        assert!(matches!(err, ServiceError::Unavailable(_)), "{err:?}");
        last = Some(err);
    }
    assert!(last.unwrap().to_string().contains("circuit open"));
    let before = h.mock.requests().len();
    let started = Instant::now();
    let err = h
        .service
        .list_secret_names(h.customer.id, t.id)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "failed fast: {:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, ServiceError::Unavailable(ref m) if m.contains("circuit open")),
        "{err:?}"
    );
    assert_eq!(
        h.mock.requests().len(),
        before,
        "an open breaker does not call Fly"
    );
}
