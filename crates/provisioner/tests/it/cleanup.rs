//! Durable cleanup: a worker killed mid-cleanup (its runtime dropped) is replaced by another that
//! finishes the job; a step that keeps failing is retried with backoff and visible until it succeeds;
//! the registry tag waits for a manifest push still in flight through the gateway.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use crate::common::{Harness, images};
use mgmt_domain::{JobKind, TenantState};
use mgmt_persistence::testing::tenant_cluster_admin;
use mgmt_persistence::{PgRepositories, PoolConfig, build_pool};
use mgmt_provisioner::{TenantService, Workers};
use mgmt_test_support::wait::{Check, eventually};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(30);

/// A running tenant with a machine, a volume and a pushed tag.
async fn running_tenant(h: &Harness) -> mgmt_domain::Tenant {
    let t = h.provisioned("doomed", "basic").await;
    images::push(h, &t.id, "doomed-image").await;
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    h.wait_state(t.id, TenantState::Running, T).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_cleanup_is_replaced_and_nothing_leaks() {
    let mut h = Harness::start().await;
    h.start_workers();
    let t = running_tenant(&h).await;
    h.stop_workers().await;

    // A second "process": its own runtime, pool and clients, so dropping it kills everything it holds.
    let doomed_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (url, config) = (h.db.url(), h.service.config().clone());
    let (machines_url, registry_url, token) = (
        h.mock.machines_url(),
        h.mock.registry_url(),
        h.mock.token().to_owned(),
    );
    doomed_rt.spawn(async move {
        let pool = build_pool(&PoolConfig {
            url,
            max_size: 2,
            wait_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            recycle: Default::default(),
        })
        .unwrap();
        let mut mc = mgmt_fly_client::MachinesConfig::new(
            machines_url,
            SecretString::from(token.clone()),
            common::ORG,
        );
        mc.retry = common::fast_retry();
        let rc = mgmt_fly_client::RegistryConfig::new(registry_url, "x", SecretString::from(token));
        let service = TenantService::new(
            PgRepositories::new(pool),
            Arc::new(mgmt_fly_client::HttpFlyMachines::new(mc).unwrap()),
            Arc::new(mgmt_fly_client::HttpRegistry::new(rc).unwrap()),
            Arc::new(tenant_cluster_admin()),
            config,
        );
        Workers::spawn(Arc::new(service), CancellationToken::new());
    });

    // Hold the doomed worker inside the volume step, after it removed the machine.
    h.mock
        .faults()
        .latency("delete_volume", Duration::from_secs(5));
    h.service.delete_tenant(h.customer.id, t.id).await.unwrap();
    eventually(T, || async {
        h.mock.state().machines_of(&t.fly_app_name).is_empty()
    })
    .await
    .expect("the first worker removed the machine");
    // Fixed wait: mock-fly records a request only once answered, so nothing shows that the worker
    // is now inside its slow `delete_volume`; give it a moment to get there.
    tokio::time::sleep(Duration::from_millis(100)).await;
    doomed_rt.shutdown_background(); // the process dies mid-step
    assert_eq!(
        h.repos.tenants.get(t.id).await.unwrap().state,
        TenantState::Deleting
    );

    h.mock.faults().clear();
    h.start_workers(); // a new process: claims the job once the dead worker's lease expires
    let gone = h.wait_state(t.id, TenantState::Deleted, T).await;
    assert_eq!(h.fly_leftovers(&gone), Vec::<String>::new());
    assert_eq!(h.db_leftovers(&gone).await, Vec::<String>::new());
    let jobs = h.repos.jobs.list_for_tenant(t.id).await.unwrap();
    let cleanup = jobs.iter().find(|j| j.kind == JobKind::Cleanup).unwrap();
    // Claimed twice (each claim takes a new fencing token), but the crash did not count an attempt.
    assert!(
        cleanup.fence >= 2 && cleanup.attempts == 1,
        "the job was resumed by another worker: {cleanup:?}"
    );
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_is_retried_visibly_until_it_succeeds() {
    let mut h = Harness::start().await;
    h.start_workers();
    let t = running_tenant(&h).await;
    h.mock.faults().fail_next("delete_app", 10_000, 500);
    h.service.delete_tenant(h.customer.id, t.id).await.unwrap();

    let now = eventually(T, || async {
        let now = h.repos.tenants.get(t.id).await.unwrap();
        let failures = h
            .event_types(t.id)
            .await
            .iter()
            .filter(|e| *e == "cleanup_step_failed")
            .count();
        if failures >= 2 {
            Check::Done(now)
        } else {
            Check::not_yet(format!("{failures} cleanup_step_failed events"))
        }
    })
    .await
    .expect("repeated cleanup step failures recorded");
    assert_eq!(
        now.state,
        TenantState::Deleting,
        "never deleted while a step fails"
    );
    let msg = now.status_message.unwrap_or_default();
    assert!(msg.contains("cleanup step `app` failed"), "{msg}");
    // The other steps went ahead: machine, volume, database and tag are gone; only the app remains.
    assert_eq!(h.fly_leftovers(&t), vec![format!("app {}", t.fly_app_name)]);
    assert_eq!(h.db_leftovers(&t).await, Vec::<String>::new());
    let job = h
        .repos
        .jobs
        .list_for_tenant(t.id)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.kind == JobKind::Cleanup)
        .unwrap();
    assert!(job.last_error.unwrap_or_default().contains("app"));
    assert_eq!(job.max_attempts, None, "cleanup never gives up");

    h.mock.faults().clear();
    let gone = h.wait_state(t.id, TenantState::Deleted, T).await;
    assert_eq!(h.fly_leftovers(&gone), Vec::<String>::new());
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_stops_between_steps_and_requeues_the_job() {
    let mut h = Harness::start().await;
    h.start_workers();
    let t = running_tenant(&h).await;
    // Hold the worker inside the first step (machines): its list is answered, its delete is slow.
    let lists = |h: &Harness| {
        h.mock
            .requests()
            .iter()
            .filter(|r| r.op.as_deref() == Some("list_machines"))
            .count()
    };
    let before = lists(&h);
    h.mock
        .faults()
        .latency("delete_machine", Duration::from_millis(800));
    h.service.delete_tenant(h.customer.id, t.id).await.unwrap();
    eventually(T, || async { lists(&h) > before })
        .await
        .expect("the cleanup worker listed the machines");
    h.stop_workers().await; // returns once the step in flight has finished
    let s = h.mock.state();
    assert!(
        s.machines_of(&t.fly_app_name).is_empty(),
        "the step in flight was finished"
    );
    assert_eq!(
        s.volumes_of(&t.fly_app_name).len(),
        1,
        "no step after the shutdown request ran"
    );
    assert!(s.app(&t.fly_app_name).is_some());
    let job = h
        .repos
        .jobs
        .list_for_tenant(t.id)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.kind == JobKind::Cleanup)
        .unwrap();
    assert_eq!(
        job.state,
        mgmt_domain::JobState::Queued,
        "requeued for any worker at once"
    );
    // A shutdown is not a failure: the attempt is given back (issue 16).
    assert_eq!(job.attempts, 0, "the interrupted attempt does not count");
    assert_eq!(
        h.repos.tenants.get(t.id).await.unwrap().state,
        TenantState::Deleting
    );

    h.mock.faults().clear();
    h.start_workers();
    let gone = h.wait_state(t.id, TenantState::Deleted, T).await;
    assert_eq!(h.fly_leftovers(&gone), Vec::<String>::new());
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_tenant_while_it_provisions_leaks_nothing() {
    let mut h = Harness::start().await;
    h.mock
        .faults()
        .latency("create_volume", Duration::from_millis(300));
    let t = h.create("short-lived", "basic").await;
    h.start_workers();
    // Delete as soon as the app exists: provisioning is mid-way.
    eventually(T, || async {
        h.mock.state().app(&t.fly_app_name).is_some()
    })
    .await
    .expect("provisioning created the app");
    h.service.delete_tenant(h.customer.id, t.id).await.unwrap();
    let gone = h.wait_state(t.id, TenantState::Deleted, T).await;
    assert_eq!(h.fly_leftovers(&gone), Vec::<String>::new());
    assert_eq!(h.db_leftovers(&gone).await, Vec::<String>::new());

    // And one deleted before any worker saw it.
    let early = h.create("never-provisioned", "basic").await;
    h.service
        .delete_tenant(h.customer.id, early.id)
        .await
        .unwrap();
    let early = h.wait_state(early.id, TenantState::Deleted, T).await;
    assert!(h.mock.state().app(&early.fly_app_name).is_none());
    assert_eq!(h.db_leftovers(&early).await, Vec::<String>::new());
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tag_waits_for_a_manifest_push_in_flight() {
    let mut h = Harness::start().await;
    h.start_workers();
    let t = h.provisioned("racing", "basic").await;
    images::push(&h, &t.id, "racing-image").await;
    let tag = mgmt_domain::naming::image_tag(&t.id);

    // The gateway began a manifest push (its check that the tenant may push passed) before the delete.
    let in_flight = h
        .repos
        .registry_pushes
        .begin_manifest_push(t.id)
        .await
        .unwrap()
        .expect("a live tenant may push");
    h.service.delete_tenant(h.customer.id, t.id).await.unwrap();
    assert_eq!(
        h.repos
            .registry_pushes
            .begin_manifest_push(t.id)
            .await
            .unwrap(),
        None,
        "no push begins once the tenant is deleting"
    );

    // The tag step fails, visibly and repeatedly, while the push is in flight; the tag stays.
    eventually(T, || async {
        let failures = h
            .repos
            .events
            .list_after(t.id, 0, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| {
                e.event_type.as_str() == "cleanup_step_failed"
                    && e.message.as_deref().is_some_and(|m| {
                        m.contains("registry tag") && m.contains("manifest push is still in flight")
                    })
            })
            .count();
        if failures >= 2 {
            Check::Done(())
        } else {
            Check::not_yet(format!(
                "{failures} tag step failures for the push in flight"
            ))
        }
    })
    .await
    .expect("the tag step waited for the push, failing repeatedly");
    let now = h.repos.tenants.get(t.id).await.unwrap();
    assert_eq!(now.state, TenantState::Deleting);
    assert!(
        h.mock.state().tag(common::REPO, &tag).is_some(),
        "the tag is not removed while a push may still land"
    );
    assert!(
        h.mock.state().app(&t.fly_app_name).is_none(),
        "the other steps went ahead"
    );

    // The push answered: cleanup removes the tag and finishes.
    h.repos
        .registry_pushes
        .end_manifest_push(in_flight)
        .await
        .unwrap();
    let gone = h.wait_state(t.id, TenantState::Deleted, T).await;
    assert_eq!(h.fly_leftovers(&gone), Vec::<String>::new());
    assert!(h.mock.state().tag(common::REPO, &tag).is_none());
    h.stop_workers().await;
}

/// Fly deletes asynchronously: machines linger `destroying`, volumes `pending_destroy`, the app after
/// its 202. Cleanup waits for each to go (never deleting again what is already going) and ends with
/// nothing left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lingering_volumes_and_slow_app_deletion_complete_with_nothing_left() {
    use mgmt_fly_client::FlyMachines;
    let mock_cfg = mgmt_mock_fly::MockFlyConfig {
        destroy_delay: Duration::from_millis(1500),
        ..Default::default()
    };
    let mut h = Harness::build(mock_cfg, common::default_breaker(), |_| {}).await;
    h.start_workers();
    let t = running_tenant(&h).await;
    // A second volume already `pending_destroy` when cleanup starts (an earlier attempt's delete).
    let extra = h
        .fly
        .create_volume(
            &t.fly_app_name,
            &mgmt_fly_client::CreateVolumeRequest {
                name: "old_data".into(),
                region: t.region.clone(),
                size_gb: 1,
                encrypted: None,
            },
        )
        .await
        .unwrap();
    h.fly
        .delete_volume(&t.fly_app_name, &extra.id)
        .await
        .unwrap();
    let listed = h.fly.list_volumes(&t.fly_app_name).await.unwrap();
    assert!(
        listed
            .iter()
            .any(|v| v.id == extra.id && v.state.as_deref() == Some("pending_destroy"))
    );

    h.service.delete_tenant(h.customer.id, t.id).await.unwrap();
    let gone = h.wait_state(t.id, TenantState::Deleted, T).await;
    assert_eq!(h.fly_leftovers(&gone), Vec::<String>::new());
    let s = h.mock.state();
    assert!(s.app(&t.fly_app_name).is_none(), "the app is really gone");
    assert!(s.volumes_of(&t.fly_app_name).is_empty());
    assert!(s.machines_of(&t.fly_app_name).is_empty());
    let statuses = |op: &str| {
        h.mock
            .requests()
            .iter()
            .filter(|r| r.op.as_deref() == Some(op))
            .map(|r| r.status)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        statuses("delete_volume"),
        [200, 200],
        "each volume deleted once, the pending_destroy one never again"
    );
    assert_eq!(statuses("delete_app"), [202], "the app deleted once");
    h.stop_workers().await;
}
