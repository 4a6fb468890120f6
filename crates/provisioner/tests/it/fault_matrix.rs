//! Fault matrix: fail each provisioning step in turn → nothing is left in mock-fly nor on the tenant
//! cluster and the tenant is `failed` with a readable reason; then `retry-provision` succeeds.
//! Also: an app of that name that is not the tenant's is never adopted nor deleted.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::Harness;
use async_trait::async_trait;
use mgmt_domain::{RepoError, RepoResult, TenantDatabaseAdmin, TenantState};
use mgmt_mock_fly::MockFlyConfig;
use mgmt_persistence::testing::{tenant_cluster_admin, test_database};
use secrecy::SecretString;

const T: Duration = Duration::from_secs(20);

/// The real admin, made to fail once *after* doing its work (the worst case: a half-made database).
struct FailOnceAfter {
    inner: Arc<dyn TenantDatabaseAdmin>,
    armed: AtomicBool,
}

#[async_trait]
impl TenantDatabaseAdmin for FailOnceAfter {
    async fn ensure_database(
        &self,
        database: &str,
        role: &str,
        password: &SecretString,
        limits: &mgmt_domain::TenantDbLimits,
    ) -> RepoResult<()> {
        self.inner
            .ensure_database(database, role, password, limits)
            .await?;
        if self.armed.swap(false, Ordering::SeqCst) {
            return Err(RepoError::Other(
                "injected: cluster refused the grant".into(),
            ));
        }
        Ok(())
    }
    async fn drop_database(&self, database: &str, role: &str) -> RepoResult<()> {
        self.inner.drop_database(database, role).await
    }
    async fn set_password(&self, role: &str, password: &SecretString) -> RepoResult<()> {
        self.inner.set_password(role, password).await
    }
    async fn database_exists(&self, database: &str) -> RepoResult<bool> {
        self.inner.database_exists(database).await
    }
    async fn role_exists(&self, role: &str) -> RepoResult<bool> {
        self.inner.role_exists(role).await
    }
}

/// Runs one case: `inject` breaks a step, provisioning fails and is compensated, a retry succeeds.
async fn case(h: &mut Harness, step_name: &str, inject: impl FnOnce(&Harness)) {
    let t = h.create("faulty", "basic").await;
    inject(h);
    h.start_workers();
    let failed = h.wait_state(t.id, TenantState::Failed, T).await;
    let msg = failed.status_message.clone().unwrap_or_default();
    assert!(msg.contains(&format!("step `{step_name}`")), "{msg}");
    assert!(!msg.contains("could not remove"), "{msg}");
    assert_eq!(
        h.fly_leftovers(&failed),
        Vec::<String>::new(),
        "Fly leftovers after failed {step_name}"
    );
    assert_eq!(
        h.db_leftovers(&failed).await,
        Vec::<String>::new(),
        "database leftovers after failed {step_name}"
    );
    assert!(
        h.event_types(t.id)
            .await
            .contains(&"provisioning_failed".to_owned())
    );

    h.mock.faults().clear();
    let retried = h
        .service
        .retry_provision(h.customer.id, t.id)
        .await
        .unwrap();
    assert_eq!(retried.state, TenantState::Provisioning);
    let ok = h.wait_state(t.id, TenantState::AwaitingDeploy, T).await;
    let s = h.mock.state();
    assert!(s.app(&ok.fly_app_name).is_some());
    assert_eq!(s.volumes_of(&ok.fly_app_name).len(), 1);
    assert_eq!(h.db_leftovers(&ok).await.len(), 2);
    h.stop_workers().await;
}

macro_rules! fly_step_fails {
    ($name:ident, $op:literal, $step:literal) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let mut h = Harness::start().await;
            case(&mut h, $step, |h| h.mock.faults().fail_next($op, 1, 400)).await;
        }
    };
}

fly_step_fails!(create_app_fails, "create_app", "app");
fly_step_fails!(app_visibility_check_fails, "get_app", "app");
fly_step_fails!(secrets_fail, "set_secrets", "secrets");
fly_step_fails!(volume_fails, "create_volume", "volume");
fly_step_fails!(ip_assignment_fails, "assign_ip", "ip addresses");
fly_step_fails!(certificate_fails, "create_certificate", "certificate");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_ip_fails_after_the_first_was_assigned() {
    let mut h = Harness::start().await;
    case(&mut h, "ip addresses", |h| {
        h.mock.faults().fail_nth("assign_ip", 2, 400)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_step_fails_half_way() {
    let db = test_database().await.unwrap();
    let mock = mgmt_mock_fly::MockFly::start(MockFlyConfig::default())
        .await
        .unwrap();
    let config = common::provisioner_config(&mock);
    let (fly, registry) = common::clients(&mock, common::default_breaker());
    let admin = Arc::new(FailOnceAfter {
        inner: Arc::new(tenant_cluster_admin()),
        armed: AtomicBool::new(true),
    });
    let mut h = Harness::assemble(db, mock, fly, registry, admin, config).await;
    case(&mut h, "database", |_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_of_a_failed_compensation_are_reused_by_the_retry() {
    let mut h = Harness::start().await;
    let t = h.create("sticky", "basic").await;
    // Secrets fail, and so does deleting the app: the app (ours) stays behind.
    h.mock.faults().fail_next("set_secrets", 1, 400);
    h.mock.faults().fail_next("delete_app", 1, 400);
    h.start_workers();
    let failed = h.wait_state(t.id, TenantState::Failed, T).await;
    let msg = failed.status_message.unwrap();
    assert!(msg.contains("could not remove yet: app"), "{msg}");
    assert!(h.mock.state().app(&t.fly_app_name).is_some());
    h.service
        .retry_provision(h.customer.id, t.id)
        .await
        .unwrap();
    let ok = h.wait_state(t.id, TenantState::AwaitingDeploy, T).await;
    let s = h.mock.state();
    assert_eq!(s.volumes_of(&ok.fly_app_name).len(), 1);
    let creates = h
        .mock
        .requests()
        .iter()
        .filter(|r| r.op.as_deref() == Some("create_app") && r.status < 300)
        .count();
    assert_eq!(creates, 1, "the retry reused the app it proved was its own");
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_is_not_the_tenants_is_never_adopted_nor_deleted() {
    let mut h = Harness::start().await;
    let t = h.create("squatted", "basic").await;
    // Someone else made an app of that name in the org before our worker ran.
    mgmt_fly_client::FlyMachines::create_app(&*h.fly, &t.fly_app_name, None)
        .await
        .unwrap();
    h.start_workers();
    let failed = h.wait_state(t.id, TenantState::Failed, T).await;
    let msg = failed.status_message.clone().unwrap();
    assert!(msg.contains("not created for this tenant"), "{msg}");
    assert!(
        h.mock.state().app(&t.fly_app_name).is_some(),
        "the foreign app is untouched"
    );
    assert_eq!(h.db_leftovers(&failed).await, Vec::<String>::new());

    h.service.delete_tenant(h.customer.id, t.id).await.unwrap();
    h.wait_state(t.id, TenantState::Deleted, T).await;
    assert!(
        h.mock.state().app(&t.fly_app_name).is_some(),
        "cleanup leaves a foreign app alone"
    );
    h.stop_workers().await;
}
