//! Issue 16, the engine: lost answers and outages are resolved by looking, intent before action
//! proves what is ours (so cleanup never reports `deleted` while something of ours exists), migrated
//! tenants are cleaned up by their recorded ids, and nothing is left stuck.
//!
//! Faults are mock-fly's own: `drop_connection` carries the call out and cuts the connection before
//! the answer (the client cannot know whether it took effect), `fail_next` 503s, `set_down` (Fly down).

use std::time::Duration;

use mgmt_domain::TenantState;
use mgmt_mock_fly::MockFlyConfig;

use mgmt_test_support::wait::{Check, eventually};

use crate::common::{Harness, default_breaker, images};

const T: Duration = Duration::from_secs(30);
/// The plan these tests create tenants on (no checkout needed).
const PLAN: &str = "free";

fn app_creates(h: &Harness) -> usize {
    h.mock
        .requests()
        .iter()
        .filter(|r| r.op.as_deref() == Some("create_app"))
        .count()
}

/// The headline bug: one lost answer to `create_app` left the tenant `failed` for good ("already
/// exists and was not created for this tenant"), and delete then reported `deleted` with the app left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_app_answer_is_adopted_and_delete_removes_the_app() {
    let mut h = Harness::start().await;
    h.mock.faults().drop_connection("create_app", 1);
    let t = h.create("lost-app", PLAN).await;
    h.start_workers();
    let ok = h.wait_state(t.id, TenantState::AwaitingDeploy, T).await;
    assert!(
        app_creates(&h) >= 2,
        "the create was retried after the lost answer"
    );
    assert!(h.mock.state().app(&ok.fly_app_name).is_some());
    h.service.delete_tenant(h.customer.id, t.id).await.unwrap();
    let gone = h.wait_state(t.id, TenantState::Deleted, T).await;
    assert_eq!(h.fly_leftovers(&gone), Vec::<String>::new());
    assert_eq!(h.db_leftovers(&gone).await, Vec::<String>::new());
    h.stop_workers().await;
}

/// Lost answers to the volume create and to an IP assignment: what Fly made is found and adopted,
/// never made twice, and provisioning succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_volume_and_ip_answers_are_resolved_by_looking() {
    let mut h = Harness::start().await;
    h.mock.faults().drop_connection("create_volume", 1);
    h.mock.faults().drop_connection("assign_ip", 1);
    let t = h.create("lost-volume", PLAN).await;
    h.start_workers();
    let ok = h.wait_state(t.id, TenantState::AwaitingDeploy, T).await;
    let s = h.mock.state();
    let volumes = s.volumes_of(&ok.fly_app_name);
    assert_eq!(volumes.len(), 1, "one volume, adopted: {volumes:?}");
    assert_eq!(ok.volume_id.as_deref(), Some(volumes[0].id.as_str()));
    let app = s.app(&ok.fly_app_name).unwrap();
    let mut kinds: Vec<&str> = app.ips.iter().map(|i| i.ip_type.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["shared_v4", "v6"], "{:?}", app.ips);
    h.stop_workers().await;
}

/// Fly down for longer than the client's own retries (and than the job's attempts would last if
/// each counted): provisioning rides the outage out and succeeds once Fly is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_retries_is_ridden_out() {
    let mut h = Harness::build(MockFlyConfig::default(), default_breaker(), |c| {
        c.worker.provision_max_attempts = 2;
        c.worker.backoff_cap = Duration::from_millis(200);
    })
    .await;
    let t = h.create("outage", PLAN).await;
    h.mock.faults().set_down(true);
    h.start_workers();
    // Fixed wait: part of the scenario, Fly stays down for 4 s (many job runs).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during = h.repos.tenants.get(t.id).await.unwrap();
    assert_eq!(during.state, TenantState::Provisioning, "{during:?}");
    h.mock.faults().set_down(false);
    let ok = h.wait_state(t.id, TenantState::AwaitingDeploy, T).await;
    assert_eq!(h.mock.state().volumes_of(&ok.fly_app_name).len(), 1);
    h.stop_workers().await;
}

/// Past the outage budget the customer does see `failed` (with nothing left behind), not a tenant
/// provisioning for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_past_its_budget_fails_the_tenant_cleanly() {
    let mut h = Harness::build(MockFlyConfig::default(), default_breaker(), |c| {
        c.worker.outage_budget = Duration::from_secs(1);
        c.worker.backoff_cap = Duration::from_millis(200);
    })
    .await;
    h.mock.faults().fail_all(503);
    let t = h.create("long-outage", PLAN).await;
    h.start_workers();
    let failed = h.wait_state(t.id, TenantState::Failed, T).await;
    let msg = failed.status_message.clone().unwrap_or_default();
    assert!(msg.contains("provisioning failed"), "{msg}");
    h.mock.faults().clear();
    assert_eq!(h.db_leftovers(&failed).await, Vec::<String>::new());
    let jobs = h.repos.jobs.list_for_tenant(t.id).await.unwrap();
    assert!(
        jobs.iter()
            .all(|j| j.state != mgmt_domain::JobState::Running
                && j.state != mgmt_domain::JobState::Queued),
        "{jobs:?}"
    );
    h.stop_workers().await;
}

/// A tenant migrated from the old system has no ownership marker in its event log: its app is
/// proved its own by the machine id recorded on the tenant, and delete removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_tenant_known_by_its_recorded_ids_is_cleaned_up() {
    use mgmt_fly_client::FlyMachines as _;
    let mut h = Harness::start().await;
    let t = h.create("migrated", PLAN).await;
    // The old system made the app and a volume; the tenant row records the volume (no events).
    h.fly.create_app(&t.fly_app_name, None).await.unwrap();
    h.fly
        .wait_for_app(&t.fly_app_name, Duration::from_secs(10))
        .await
        .unwrap();
    let req = mgmt_fly_client::CreateVolumeRequest {
        name: "data".into(),
        region: "fra".into(),
        size_gb: 1,
        encrypted: Some(true),
    };
    let v = h.fly.create_volume(&t.fly_app_name, &req).await.unwrap();
    let mut row = h.repos.tenants.get(t.id).await.unwrap();
    row.volume_id = Some(v.id.clone());
    row.transition(TenantState::Provisioning, None).unwrap();
    row.transition(TenantState::Failed, Some("migrated".into()))
        .unwrap();
    h.repos.tenants.update(&row).await.unwrap();
    // Its provision job is done with (the old system provisioned it).
    for j in h.repos.jobs.list_for_tenant(t.id).await.unwrap() {
        let c = h
            .repos
            .jobs
            .claim("migration", &[j.kind], Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        h.repos.jobs.complete(c.id, "migration").await.unwrap();
    }
    h.start_workers();
    h.service.delete_tenant(h.customer.id, t.id).await.unwrap();
    let gone = h.wait_state(t.id, TenantState::Deleted, T).await;
    assert_eq!(h.fly_leftovers(&gone), Vec::<String>::new());
    h.stop_workers().await;
}

/// A lost `acquire_lease` answer orphaned our own lease for its TTL and failed the deploy: the
/// lease is now identifiable as ours, adopted, used and released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_answer_is_adopted_and_released() {
    let mut h = Harness::build(MockFlyConfig::default(), default_breaker(), |c| {
        // Long enough that waiting the orphan out would miss the test's deadline.
        c.machine.lease_ttl = Duration::from_secs(120);
    })
    .await;
    h.start_workers();
    let t = h.provisioned("leased", PLAN).await;
    let image = h.image(&t.id);
    let v1 = images::push(&h, &t.id, "lease-v1").await;
    h.service.deploy(h.customer.id, t.id, &image).await.unwrap();
    h.wait_deployed(t.id, &v1, T).await;
    // The redeploy updates the existing machine under a lease: the acquire's answer is lost.
    h.mock.faults().drop_connection("acquire_lease", 1);
    let v2 = images::push(&h, &t.id, "lease-v2").await;
    h.service.deploy(h.customer.id, t.id, &image).await.unwrap();
    let done = h.wait_deployed(t.id, &v2, T).await;
    let machine = done.machine_id.clone().unwrap();
    use mgmt_fly_client::FlyMachines as _;
    let lease = h.fly.get_lease(&done.fly_app_name, &machine).await.unwrap();
    assert_eq!(lease, None, "the adopted lease was released");
    h.stop_workers().await;
}

/// An older deployment that finishes while a newer one is queued must not report the tenant ready
/// (the CLI's wait would end on the older image): the tenant stays `deploying` until the newer one
/// is rolled out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_deployment_finishing_never_reports_ready_while_a_newer_one_is_queued() {
    let mut h = Harness::start().await;
    h.start_workers();
    let t = h.provisioned("ordered", PLAN).await;
    let image = h.image(&t.id);
    let v1 = images::push(&h, &t.id, "order-v1").await;
    // The first rollout is slow to start its machine; the second deploy is accepted meanwhile.
    h.mock
        .faults()
        .latency("create_machine", Duration::from_millis(1500));
    h.service.deploy(h.customer.id, t.id, &image).await.unwrap();
    eventually(T, || async {
        let n = h
            .mock
            .requests()
            .iter()
            .filter(|r| r.op.as_deref() == Some("create_machine"))
            .count();
        if n > 0 {
            Check::Done(())
        } else {
            Check::not_yet("no create yet")
        }
    })
    .await
    .unwrap();
    let v2 = images::push(&h, &t.id, "order-v2").await;
    h.service.deploy(h.customer.id, t.id, &image).await.unwrap();
    // Never `running` on v1: every state the tenant passes through until v2 runs is checked.
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let now = h.repos.tenants.get(t.id).await.unwrap();
        if now.state == TenantState::Running {
            assert_eq!(
                now.deployed_digest.as_deref(),
                Some(v2.as_str()),
                "ready on v1: {now:?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ran v2: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ready_events = h
        .event_types(t.id)
        .await
        .iter()
        .filter(|e| *e == "tenant_ready")
        .count();
    // One from provisioning, one for v2; none for v1.
    assert_eq!(ready_events, 2);
    let _ = v1;
    h.stop_workers().await;
}
