//! The reconciler against real PostgreSQL (a migrated database per test), an in-process mock-fly
//! through the real HTTP clients, and the real tenant-cluster admin on the test server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel_async::RunQueryDsl;
use mgmt_domain::{
    DriftKind, EventType, JobKind, JobState, NewTenantEvent, ReconcileStats, ReconcileStore,
    Repositories, Tenant, TenantDatabaseAdmin, TenantDbLimits, TenantState,
};
use mgmt_fly_client::{
    CreateVolumeRequest, FlyError, FlyMachines, HttpFlyMachines, HttpRegistry, MachinesConfig,
    RegistryConfig, RetryPolicy,
};
use mgmt_mock_fly::{MockFly, MockFlyConfig};
use mgmt_persistence::PgReconcileStore;
use mgmt_persistence::testing::{TestDb, tenant_cluster_admin, test_database};
use mgmt_reconciler::{ReconcileObserver, Reconciler, ReconcilerConfig, ReconcilerPorts};
use secrecy::SecretString;

const REPO: &str = "tenant-images";

#[derive(Default)]
struct Seen(Mutex<Vec<(DriftKind, String)>>);

impl ReconcileObserver for Seen {
    fn drift(&self, kind: DriftKind, outcome: &str) {
        self.0.lock().unwrap().push((kind, outcome.to_owned()));
    }
    fn stats(&self, _: &ReconcileStats) {}
}

struct H {
    rec: Reconciler,
    store: Arc<PgReconcileStore>,
    repos: Repositories,
    fly: Arc<HttpFlyMachines>,
    admin: Arc<dyn TenantDatabaseAdmin>,
    seen: Arc<Seen>,
    mock: MockFly,
    customer: mgmt_domain::Customer,
    db: TestDb,
}

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(1),
    }
}

async fn harness(tweak: impl FnOnce(&mut ReconcilerConfig)) -> H {
    let db = test_database().await.expect("database");
    let mock = MockFly::start(MockFlyConfig::default())
        .await
        .expect("mock-fly");
    let token = SecretString::from(mock.token().to_owned());
    let mut mc = MachinesConfig::new(mock.machines_url(), token.clone(), "test-org");
    mc.retry = retry();
    let fly = Arc::new(HttpFlyMachines::new(mc).unwrap());
    let mut rc = RegistryConfig::new(mock.registry_url(), "x", token);
    rc.retry = retry();
    let registry = Arc::new(HttpRegistry::new(rc).unwrap());
    let admin: Arc<dyn TenantDatabaseAdmin> = Arc::new(tenant_cluster_admin());
    let store = Arc::new(PgReconcileStore::new(db.pool.clone(), db.url()));
    let repos = db.repositories();
    let mut config = ReconcilerConfig::new(REPO);
    config.grace = Duration::from_millis(300);
    config.stranded_idle = Duration::ZERO;
    config.interval = Duration::from_millis(100);
    tweak(&mut config);
    let seen = Arc::new(Seen::default());
    let rec = Reconciler::new(
        ReconcilerPorts {
            store: store.clone(),
            jobs: repos.jobs.clone(),
            events: repos.events.clone(),
            fly: fly.clone(),
            registry,
            tenant_db: admin.clone(),
        },
        config,
        seen.clone(),
    );
    let customer = db.customer().await.unwrap();
    H {
        rec,
        store,
        repos,
        fly,
        admin,
        seen,
        mock,
        customer,
        db,
    }
}

impl H {
    async fn tenant(&self) -> Tenant {
        let name = format!("t-{}", mgmt_domain::TenantId::new_random().short_hex());
        self.db.tenant(self.customer.id, &name).await.unwrap()
    }

    async fn set_state(&self, t: &Tenant, state: TenantState) -> Tenant {
        let mut conn = self.db.pool.get().await.unwrap();
        diesel::sql_query(
            "UPDATE management.tenants SET state = $2,
               deleted_at = CASE WHEN $2 = 'deleted' THEN now() ELSE NULL END
             WHERE id = $1",
        )
        .bind::<diesel::sql_types::Uuid, _>(t.id.as_uuid())
        .bind::<diesel::sql_types::Text, _>(state.as_str())
        .execute(&mut conn)
        .await
        .unwrap();
        self.repos.tenants.get(t.id).await.unwrap()
    }

    async fn mark_app_requested(&self, t: &Tenant) {
        self.repos
            .events
            .append(NewTenantEvent::new(
                t.id,
                EventType::VmProvisioningStarted,
                t.state,
                Some(format!("Fly app {} requested", t.fly_app_name)),
            ))
            .await
            .unwrap();
    }

    async fn drift_events(&self, t: &Tenant) -> Vec<String> {
        let evs = self.repos.events.list_after(t.id, 0, 100).await.unwrap();
        evs.into_iter()
            .filter(|e| e.event_type == EventType::DriftRepaired)
            .filter_map(|e| e.message)
            .collect()
    }

    fn app_live(&self, app: &str) -> bool {
        self.mock
            .state()
            .apps
            .iter()
            .any(|a| a.name == app && !a.destroying)
    }
}

fn stat(stats: &[(DriftKind, i64)], kind: DriftKind) -> i64 {
    stats
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, n)| *n)
        .unwrap_or(0)
}

#[tokio::test]
async fn an_app_of_a_deleted_tenant_is_deleted_after_the_grace_period() {
    let h = harness(|_| {}).await;
    let t = h.tenant().await;
    h.mark_app_requested(&t).await;
    h.fly.create_app(&t.fly_app_name, None).await.unwrap();
    let t = h.set_state(&t, TenantState::Deleted).await;

    let first = h.rec.pass().await;
    assert_eq!(
        (first.found, first.waiting, first.repaired),
        (1, 1, 0),
        "{first:?}"
    );
    assert!(
        h.app_live(&t.fly_app_name),
        "within its grace period the app stays"
    );

    tokio::time::sleep(Duration::from_millis(350)).await;
    let second = h.rec.pass().await;
    assert_eq!(second.repaired, 1, "{second:?}");
    assert!(!h.app_live(&t.fly_app_name), "the app is being deleted");
    let evs = h.drift_events(&t).await;
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert!(evs[0].contains("orphan_app"), "{evs:?}");
    let stats = h.store.stats().await.unwrap();
    assert_eq!(stat(&stats.found, DriftKind::OrphanApp), 1);
    assert_eq!(stat(&stats.repaired, DriftKind::OrphanApp), 1);
    assert!(
        h.seen
            .0
            .lock()
            .unwrap()
            .contains(&(DriftKind::OrphanApp, "repaired".to_owned()))
    );
}

#[tokio::test]
async fn an_app_not_provably_ours_is_left_alone() {
    let h = harness(|c| c.grace = Duration::ZERO).await;
    let t = h.tenant().await;
    // No intent recorded and no machine or volume id: someone else's app with our naming.
    h.fly.create_app(&t.fly_app_name, None).await.unwrap();
    h.set_state(&t, TenantState::Deleted).await;
    let r = h.rec.pass().await;
    assert_eq!(r.found, 0, "{r:?}");
    assert!(h.app_live(&t.fly_app_name));
    // And an app we saw removed, then someone recreated, is not ours either.
    h.repos
        .events
        .append(NewTenantEvent::new(
            t.id,
            EventType::CleanupStepDone,
            TenantState::Deleted,
            Some(format!("Fly app {} removed", t.fly_app_name)),
        ))
        .await
        .unwrap();
    h.mark_app_requested(&t).await; // an older intent, then "removed", is what counts: latest wins
    h.repos
        .events
        .append(NewTenantEvent::new(
            t.id,
            EventType::CleanupStepDone,
            TenantState::Deleted,
            Some(format!("Fly app {} removed", t.fly_app_name)),
        ))
        .await
        .unwrap();
    let r = h.rec.pass().await;
    assert_eq!(r.found, 0, "{r:?}");
    assert!(h.app_live(&t.fly_app_name));
}

#[tokio::test]
async fn dry_run_reports_and_changes_nothing() {
    let h = harness(|c| {
        c.dry_run = true;
        c.grace = Duration::ZERO;
    })
    .await;
    let t = h.tenant().await;
    h.mark_app_requested(&t).await;
    h.fly.create_app(&t.fly_app_name, None).await.unwrap();
    h.set_state(&t, TenantState::Deleted).await;
    let stranded = h
        .set_state(&h.tenant().await, TenantState::Provisioning)
        .await;
    for _ in 0..2 {
        let r = h.rec.pass().await;
        assert_eq!((r.found, r.waiting, r.repaired), (2, 2, 0), "{r:?}");
    }
    assert!(h.app_live(&t.fly_app_name));
    assert!(
        h.repos
            .jobs
            .list_for_tenant(stranded.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(h.drift_events(&t).await.is_empty());
    let stats = h.store.stats().await.unwrap();
    assert_eq!(stats.stuck_tenants, 1);
    assert_eq!(stat(&stats.found, DriftKind::StrandedTenant), 1);
    assert_eq!(stat(&stats.repaired, DriftKind::StrandedTenant), 0);
}

#[tokio::test]
async fn a_tenant_stranded_without_a_job_gets_its_job_back() {
    let h = harness(|_| {}).await;
    let cases = [
        (TenantState::Provisioning, JobKind::Provision),
        (TenantState::Deploying, JobKind::Deploy),
        (TenantState::Deleting, JobKind::Cleanup),
    ];
    let mut tenants = Vec::new();
    for (state, kind) in cases {
        tenants.push((h.set_state(&h.tenant().await, state).await, kind));
    }
    assert_eq!(h.store.stats().await.unwrap().stuck_tenants, 3);
    let r = h.rec.pass().await;
    assert_eq!(r.repaired, 3, "{r:?}");
    for (t, kind) in &tenants {
        let jobs = h.repos.jobs.list_for_tenant(t.id).await.unwrap();
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        assert_eq!(jobs[0].kind, *kind);
        assert_eq!(jobs[0].state, JobState::Queued);
        assert_eq!(h.drift_events(t).await.len(), 1);
    }
    assert_eq!(h.store.stats().await.unwrap().stuck_tenants, 0);
    // A tenant with its job is not stranded: the next pass finds nothing.
    let r = h.rec.pass().await;
    assert_eq!(r.found, 0, "{r:?}");
}

#[tokio::test]
async fn a_deleted_tenants_database_and_role_are_dropped() {
    let h = harness(|_| {}).await;
    let t = h.tenant().await;
    let limits = TenantDbLimits {
        connection_limit: 2,
        statement_timeout_ms: 1000,
        idle_in_transaction_timeout_ms: 1000,
    };
    h.admin
        .ensure_database(
            &t.database_name,
            &t.database_role,
            &SecretString::from("pw-for-the-test".to_owned()),
            &limits,
        )
        .await
        .unwrap();
    h.set_state(&t, TenantState::Deleted).await;
    let r = h.rec.pass().await;
    assert_eq!(r.repaired, 1, "{r:?}");
    assert!(!h.admin.database_exists(&t.database_name).await.unwrap());
    assert!(!h.admin.role_exists(&t.database_role).await.unwrap());
    assert_eq!(h.rec.pass().await.found, 0);
}

#[tokio::test]
async fn a_volume_a_settled_tenant_does_not_record_is_removed() {
    let h = harness(|_| {}).await;
    let t = h.tenant().await;
    h.fly.create_app(&t.fly_app_name, None).await.unwrap();
    let req = CreateVolumeRequest {
        name: "services".into(),
        region: "iad".into(),
        size_gb: 1,
        encrypted: None,
    };
    let kept = h.fly.create_volume(&t.fly_app_name, &req).await.unwrap();
    let surplus = h.fly.create_volume(&t.fly_app_name, &req).await.unwrap();
    let mut conn = h.db.pool.get().await.unwrap();
    diesel::sql_query(
        "UPDATE management.tenants SET state = 'awaiting_deploy', volume_id = $2 WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(t.id.as_uuid())
    .bind::<diesel::sql_types::Text, _>(&kept.id)
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let r = h.rec.pass().await;
    assert_eq!((r.found, r.waiting), (1, 1), "{r:?}");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let r = h.rec.pass().await;
    assert_eq!(r.repaired, 1, "{r:?}");
    let live: Vec<String> = h
        .fly
        .list_volumes(&t.fly_app_name)
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.state.as_deref() != Some("pending_destroy"))
        .map(|v| v.id)
        .collect();
    assert_eq!(
        live,
        vec![kept.id.clone()],
        "surplus {} removed",
        surplus.id
    );
    // With a job queued the tenant is not settled: nothing is looked at.
    assert!(
        h.rec
            .reconcile_tenant(&h.repos.tenants.get(t.id).await.unwrap())
            .await
            .errors
            .is_empty()
    );
}

#[tokio::test]
async fn a_fly_outage_is_an_error_not_a_repair() {
    let h = harness(|c| c.grace = Duration::ZERO).await;
    let t = h.tenant().await;
    h.mark_app_requested(&t).await;
    h.fly.create_app(&t.fly_app_name, None).await.unwrap();
    h.set_state(&t, TenantState::Deleted).await;
    h.mock.faults().fail_next("delete_app", 100, 503);
    let r = h.rec.pass().await;
    assert_eq!((r.found, r.failed, r.repaired), (1, 1, 0), "{r:?}");
    assert!(h.app_live(&t.fly_app_name));
    h.mock.faults().clear();
    let r = h.rec.pass().await;
    assert_eq!(r.repaired, 1, "{r:?}");
    match h.fly.get_app(&t.fly_app_name).await {
        Ok(a) => assert_eq!(a.status.as_deref(), Some("suspended")),
        Err(FlyError::NotFound(_)) => {}
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn one_leader_at_a_time() {
    let h = harness(|_| {}).await;
    let other = PgReconcileStore::new(h.db.pool.clone(), h.db.url());
    let lead = h.store.try_lead().await.unwrap().expect("first leads");
    assert!(lead.still_leading().await);
    assert!(
        other.try_lead().await.unwrap().is_none(),
        "second must not lead"
    );
    drop(lead);
    let mut got = None;
    for _ in 0..50 {
        if let Some(l) = other.try_lead().await.unwrap() {
            got = Some(l);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(got.is_some(), "the lock is released when the leader goes");
}
