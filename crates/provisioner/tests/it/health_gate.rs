//! Health-gated deploys: an image that crash-loops, runs out of memory or fails its health check is
//! rolled back to the last good digest (the deployment failed with the reason, the tenant ready on the
//! old image); a first deploy with nothing to roll back to stops the machine; an earlier digest can be
//! deployed on request, an unknown one cannot.

use std::time::Duration;

use crate::common::{Harness, default_breaker, images};
use mgmt_domain::{CliStatus, Deployment, DeploymentStatus, TenantId, TenantState};
use mgmt_mock_fly::{ImageBehaviour, MockFlyConfig};
use mgmt_provisioner::ServiceError;
use mgmt_test_support::wait::{Check, eventually};

const T: Duration = Duration::from_secs(30);

async fn gated() -> Harness {
    Harness::build(MockFlyConfig::default(), default_breaker(), |c| {
        c.machine.health_timeout = Duration::from_secs(3);
        c.machine.health_poll = Duration::from_millis(50);
        c.machine.restart_timeout = Duration::from_secs(6);
    })
    .await
}

async fn finished(h: &Harness, id: TenantId, dep: uuid::Uuid) -> Deployment {
    for _ in 0..600 {
        let d = h.repos.deployments.get(dep).await.unwrap();
        if d.status.is_finished() {
            // The tenant row is written right after the deployment's.
            h.wait_tenant(id, T, "tenant settled", |t| {
                t.state != TenantState::Deploying
            })
            .await;
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deployment {dep} never finished");
}

async fn bad_deploy_is_rolled_back(behaviour: ImageBehaviour, expect: &str) {
    let mut h = gated().await;
    h.start_workers();
    let t = h.provisioned("gate", "basic").await;
    let good = images::push(&h, &t.id, "good").await;
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    h.wait_deployed(t.id, &good, T).await;

    let bad = images::push(&h, &t.id, "bad").await;
    h.mock.set_image_behaviour(&bad, behaviour);
    let (_, dep) = h
        .service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    let dep = finished(&h, t.id, dep.id).await;
    assert_eq!(dep.status, DeploymentStatus::Failed);
    let reason = dep.error.unwrap();
    assert!(reason.contains(expect), "{reason}");
    assert!(
        reason.contains(&format!("rolled back to {good}")),
        "{reason}"
    );

    let t = h.repos.tenants.get(t.id).await.unwrap();
    assert_eq!(t.deployed_digest.as_deref(), Some(good.as_str()));
    assert_eq!(t.cli_status(), CliStatus::Ready);
    let m = h.mock.state().machines_of(&t.fly_app_name)[0].clone();
    assert_eq!(m.image, images::pinned(&h.mock, &good));
    assert_eq!(m.state, "started", "the old image serves again");
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_image_is_rolled_back_with_its_exit_code() {
    bad_deploy_is_rolled_back(ImageBehaviour::CrashLoop, "exited with code 1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_killed_for_memory_is_rolled_back_naming_the_oom() {
    bad_deploy_is_rolled_back(ImageBehaviour::OutOfMemory, "out of memory (exit code 137)").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_failing_its_health_check_is_rolled_back_with_the_check_output() {
    bad_deploy_is_rolled_back(
        ImageBehaviour::FailsHealthCheck,
        "health check `health` critical",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_deploy_that_never_gets_healthy_fails_and_stops_the_machine() {
    let mut h = gated().await;
    h.start_workers();
    let t = h.provisioned("first", "basic").await;
    let bad = images::push(&h, &t.id, "bad").await;
    h.mock
        .set_image_behaviour(&bad, ImageBehaviour::FailsHealthCheck);
    let (_, dep) = h
        .service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    let dep = finished(&h, t.id, dep.id).await;
    assert_eq!(dep.status, DeploymentStatus::Failed);
    assert!(
        dep.error
            .as_deref()
            .unwrap()
            .contains("no earlier good image"),
        "{:?}",
        dep.error
    );
    let t = h.repos.tenants.get(t.id).await.unwrap();
    assert_eq!((t.state, t.deployed_digest), (TenantState::Failed, None));
    let app = t.fly_app_name.clone();
    eventually(T, || async {
        let m = h.mock.state().machines_of(&app)[0].clone();
        if m.state == "stopped" {
            Check::Done(())
        } else {
            Check::not_yet(m.state)
        }
    })
    .await
    .unwrap();
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_digest_is_deployed_on_request_and_a_foreign_pin_is_refused() {
    let mut h = gated().await;
    h.start_workers();
    let t = h.provisioned("back", "basic").await;
    let d1 = images::push(&h, &t.id, "one").await;
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    h.wait_deployed(t.id, &d1, T).await;
    let d2 = images::push(&h, &t.id, "two").await;
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    h.wait_deployed(t.id, &d2, T).await;

    // The tag points at d2; pinning d1 (deployed before) rolls back to it.
    let (_, dep) = h
        .service
        .deploy(h.customer.id, t.id, &format!("{}@{d1}", h.image(&t.id)))
        .await
        .unwrap();
    assert_eq!(dep.digest.as_deref(), Some(d1.as_str()));
    let t = h.wait_deployed(t.id, &d1, T).await;
    let m = h.mock.state().machines_of(&t.fly_app_name)[0].clone();
    assert_eq!(m.image, images::pinned(&h.mock, &d1));

    // A digest this tenant never deployed: invalid input, nothing recorded.
    let before = h.repos.deployments.list_for_tenant(t.id).await.unwrap();
    let never = format!("sha256:{}", "e".repeat(64));
    let refused = h
        .service
        .deploy(h.customer.id, t.id, &format!("{}@{never}", h.image(&t.id)))
        .await;
    assert!(
        matches!(refused, Err(ServiceError::InvalidInput(ref m)) if m.contains("deployed before")),
        "{refused:?}"
    );
    let after = h.repos.deployments.list_for_tenant(t.id).await.unwrap();
    assert_eq!(after.len(), before.len());
    assert_eq!(after.len(), 3);
    assert_eq!(
        after[0].digest.as_deref(),
        Some(d1.as_str()),
        "newest first"
    );
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_waits_for_the_checks_and_reports_an_unhealthy_machine() {
    let mut h = gated().await;
    h.start_workers();
    let t = h.provisioned("restart", "basic").await;
    let d = images::push(&h, &t.id, "one").await;
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    h.wait_deployed(t.id, &d, T).await;
    h.service.restart(h.customer.id, t.id).await.unwrap();
    // The same image now fails its check (e.g. its database went away): the restart says so.
    h.mock
        .set_image_behaviour(&d, ImageBehaviour::FailsHealthCheck);
    let r = h.service.restart(h.customer.id, t.id).await;
    assert!(
        matches!(r, Err(ServiceError::Unavailable(ref m)) if m.contains("critical")),
        "{r:?}"
    );
    h.stop_workers().await;
}
