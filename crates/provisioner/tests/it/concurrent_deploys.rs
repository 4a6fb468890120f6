//! Deploys of one tenant are serialized: however many arrive at once, there is one machine and it runs
//! the last accepted image; older pending deployments are superseded.

use std::time::Duration;

use crate::common::{Harness, images};
use mgmt_domain::{DeploymentStatus, JobState, TenantState};
use mgmt_test_support::wait::{Check, eventually};

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deploys_make_one_machine_running_the_last_accepted_image() {
    let mut h = Harness::start().await;
    h.start_workers();
    let t = h.provisioned("busy", "basic").await;

    // A burst of identical first deploys: never two machines.
    images::push(&h, &t.id, "v1").await;
    let image = h.image(&t.id);
    let burst = (0..6).map(|_| h.service.deploy(h.customer.id, t.id, &image));
    for r in futures::future::join_all(burst).await {
        r.unwrap();
    }
    // New images pushed and deployed back to back while earlier rollouts run.
    let mut last = String::new();
    for v in ["v2", "v3", "v4"] {
        last = images::push(&h, &t.id, v).await;
        h.service.deploy(h.customer.id, t.id, &image).await.unwrap();
    }

    let t = h.wait_deployed(t.id, &last, T).await;
    // Any queued no-op deploy job settles before the end state is checked.
    eventually(T, || async {
        let jobs = h.repos.jobs.list_for_tenant(t.id).await.unwrap();
        let open: Vec<_> = jobs
            .iter()
            .filter(|j| matches!(j.state, JobState::Queued | JobState::Running))
            .map(|j| (j.kind, j.state))
            .collect();
        if open.is_empty() {
            Check::Done(())
        } else {
            Check::not_yet(format!("jobs still open: {open:?}"))
        }
    })
    .await
    .expect("every deploy job of the burst settled");
    let s = h.mock.state();
    let machines = s.machines_of(&t.fly_app_name);
    assert_eq!(machines.len(), 1, "one machine");
    assert_eq!(machines[0].image, images::pinned(&h.mock, &last));
    assert!(s.destroyed_machines.is_empty());
    let creates = h
        .mock
        .requests()
        .iter()
        .filter(|r| r.op.as_deref() == Some("create_machine"))
        .count();
    assert_eq!(creates, 1);

    let history = h.repos.deployments.list_for_tenant(t.id).await.unwrap();
    // The burst of identical deploys is one deployment when each finds the previous still pending
    // (idempotent deploys), up to six when they race past each other; then one per new image.
    assert!((4..=9).contains(&history.len()), "{history:?}");
    assert_eq!(
        history[0].status,
        DeploymentStatus::Succeeded,
        "the last accepted won"
    );
    assert_eq!(history[0].digest.as_deref(), Some(last.as_str()));
    assert!(
        history.iter().all(|d| d.status.is_finished()),
        "{history:?}"
    );
    // (Superseding is shown deterministically in secrets_rollout::three_puts_merge_and_cost_one_rollout:
    // with idempotent deploys this burst may leave nothing pending to supersede.)
    assert_eq!(
        h.repos.tenants.get(t.id).await.unwrap().state,
        TenantState::Running
    );
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rollout_fails_the_deployment_and_a_redeploy_recovers() {
    let mut h = Harness::start().await;
    h.start_workers();
    let t = h.provisioned("unlucky", "basic").await;
    let digest = images::push(&h, &t.id, "v1").await;
    h.mock.faults().fail_next("create_machine", 1, 400);
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    let failed = h.wait_state(t.id, TenantState::Failed, T).await;
    assert!(
        failed
            .status_message
            .unwrap_or_default()
            .starts_with("deploy failed")
    );
    let history = h.repos.deployments.list_for_tenant(t.id).await.unwrap();
    assert_eq!(history[0].status, DeploymentStatus::Failed);
    assert!(h.mock.state().machines_of(&t.fly_app_name).is_empty());
    assert!(
        h.event_types(t.id)
            .await
            .contains(&"deployment_failed".to_owned())
    );

    // Infrastructure is intact, so the failed tenant may deploy again.
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    let t = h.wait_state(t.id, TenantState::Running, T).await;
    assert_eq!(t.deployed_digest.as_deref(), Some(digest.as_str()));
    assert_eq!(h.mock.state().machines_of(&t.fly_app_name).len(), 1);
    assert!(
        h.event_types(t.id)
            .await
            .contains(&"tenant_ready".to_owned())
    );
    h.stop_workers().await;
}
