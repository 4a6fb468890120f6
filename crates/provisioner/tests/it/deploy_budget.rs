//! A deploy never waits on a slow registry: accepted without a digest, resolved and verified by the
//! job (a missing image then fails the deployment with the reason); the same request twice is one
//! deployment; a restart returns only once the machine was stopped and runs again.

use std::time::{Duration, Instant};

use crate::common::{Harness, default_breaker, images};
use mgmt_domain::{DeploymentStatus, TenantState};
use mgmt_mock_fly::MockFlyConfig;
use mgmt_provisioner::ServiceError;

const T: Duration = Duration::from_secs(30);
const BUDGET: Duration = Duration::from_millis(150);
const SLOW: Duration = Duration::from_millis(700);

async fn budgeted(mock: MockFlyConfig) -> Harness {
    Harness::build(mock, default_breaker(), |c| {
        c.deploy_resolve_within = BUDGET
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_registry_is_answered_at_once_and_the_job_resolves_the_digest() {
    let mut h = budgeted(MockFlyConfig::default()).await;
    h.start_workers();
    let t = h.provisioned("slow", "basic").await;
    let digest = images::push(&h, &t.id, "slow").await;
    h.stop_workers().await;
    h.mock.faults().latency("registry_*", SLOW);

    let started = Instant::now();
    let (tenant, dep) = h
        .service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    assert!(
        started.elapsed() < SLOW,
        "answered in {:?}",
        started.elapsed()
    );
    assert_eq!(tenant.state, TenantState::Deploying);
    assert_eq!(dep.digest, None, "recorded before the registry answered");

    // H re-sends the same POST after a 401: the same deployment, not a second one.
    let (_, again) = h
        .service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    assert_eq!(again.id, dep.id);
    assert_eq!(
        h.repos
            .deployments
            .list_for_tenant(t.id)
            .await
            .unwrap()
            .len(),
        1
    );

    h.start_workers();
    let t = h.wait_deployed(t.id, &digest, T).await;
    let dep = h.repos.deployments.get(dep.id).await.unwrap();
    assert_eq!(
        (dep.status, dep.digest.as_deref()),
        (DeploymentStatus::Succeeded, Some(digest.as_str()))
    );
    let m = &h.mock.state().machines_of(&t.fly_app_name)[0].clone();
    assert_eq!(m.image, images::pinned(&h.mock, &digest));
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_after_a_slow_answer_fails_the_deployment_with_the_reason() {
    let mut h = budgeted(MockFlyConfig::default()).await;
    h.start_workers();
    let t = h.provisioned("missing", "basic").await;
    h.mock.faults().latency("registry_*", SLOW);
    let (_, dep) = h
        .service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    assert_eq!(dep.digest, None);
    let t = h.wait_state(t.id, TenantState::Failed, T).await;
    let msg = t.status_message.unwrap_or_default();
    assert!(msg.contains("never pushed"), "{msg}");
    let dep = h.repos.deployments.get(dep.id).await.unwrap();
    assert_eq!(dep.status, DeploymentStatus::Failed);
    assert!(dep.error.unwrap_or_default().contains("never pushed"));
    assert!(h.mock.state().machines_of(&t.fly_app_name).is_empty());

    // Without the latency the same request is refused at once, as before.
    h.mock.faults().clear();
    assert!(matches!(
        h.service.deploy(h.customer.id, t.id, &h.image(&t.id)).await,
        Err(ServiceError::ImageNotFound(_))
    ));
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_registry_keeps_the_immediate_answers_and_deploys_are_idempotent() {
    let mut h = budgeted(MockFlyConfig::default()).await;
    h.start_workers();
    let t = h.provisioned("fast", "basic").await;
    h.stop_workers().await;
    let d1 = images::push(&h, &t.id, "one").await;
    let (_, a) = h
        .service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    assert_eq!(a.digest.as_deref(), Some(d1.as_str()));
    let (_, b) = h
        .service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    assert_eq!(a.id, b.id, "the same pending deployment");
    // A new push while it is pending is a new deployment (the newest wins in the job).
    let d2 = images::push(&h, &t.id, "two").await;
    let (_, c) = h
        .service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    assert_ne!(c.id, a.id);
    assert_eq!(c.digest.as_deref(), Some(d2.as_str()));
    // A wrong pin is refused at once, nothing recorded.
    let pinned = format!("{}@{d1}", h.image(&t.id));
    assert!(matches!(
        h.service.deploy(h.customer.id, t.id, &pinned).await,
        Err(ServiceError::Conflict(_))
    ));
    assert_eq!(
        h.repos
            .deployments
            .list_for_tenant(t.id)
            .await
            .unwrap()
            .len(),
        2
    );
    h.start_workers();
    h.wait_deployed(t.id, &d2, T).await;
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_returns_once_the_machine_was_stopped_and_runs_again() {
    let mock = MockFlyConfig {
        machine_stop_delay: Duration::from_millis(300),
        machine_start_delay: Duration::from_millis(300),
        ..MockFlyConfig::default()
    };
    let mut h = budgeted(mock).await;
    h.start_workers();
    let t = h.provisioned("restart", "basic").await;
    let d1 = images::push(&h, &t.id, "r1").await;
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    let t = h.wait_deployed(t.id, &d1, T).await;
    let machine_id = t.machine_id.clone().unwrap();
    let version = h.mock.state().machines_of(&t.fly_app_name)[0]
        .instance_id
        .clone();

    let started = Instant::now();
    let after = h.service.restart(h.customer.id, t.id).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "waited for the stop and the start: {:?}",
        started.elapsed()
    );
    assert_eq!(after.state, TenantState::Running);
    let s = h.mock.state();
    let m = s.machines_of(&t.fly_app_name)[0];
    assert_eq!(
        (m.id.as_str(), m.state.as_str()),
        (machine_id.as_str(), "started")
    );
    assert_eq!(
        m.instance_id, version,
        "a restart keeps the machine's version"
    );
    let states: Vec<&str> = m
        .events
        .iter()
        .filter_map(|e| e["status"].as_str())
        .collect();
    assert_eq!(states[..4], ["started", "starting", "stopped", "stopping"]);
    assert!(
        h.event_types(t.id)
            .await
            .iter()
            .any(|e| e == "machine_restarted")
    );

    // A failed deploy leaves the previous image running: the tenant can still be restarted.
    images::push(&h, &t.id, "r2").await;
    h.mock.faults().fail_next("update_machine", 100, 422);
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    let t = h.wait_state(t.id, TenantState::Failed, T).await;
    h.mock.faults().clear();
    let after = h.service.restart(h.customer.id, t.id).await.unwrap();
    assert_eq!(
        after.state,
        TenantState::Failed,
        "the failed deploy stays visible"
    );
    let s = h.mock.state();
    let m = s.machines_of(&t.fly_app_name)[0];
    assert_eq!(m.state, "started");
    assert_eq!(m.image, images::pinned(&h.mock, &d1));
    h.stop_workers().await;
}
