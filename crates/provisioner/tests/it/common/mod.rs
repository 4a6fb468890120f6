//! Test harness: a migrated database of its own, a mock Fly (Machines API + registry), the real HTTP
//! clients pointed at it, the real tenant-database admin on the test server, and the service + workers.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod images;

use std::sync::Arc;
use std::time::Duration;

use mgmt_domain::{
    Customer, Plan, Repositories, Tenant, TenantDatabaseAdmin, TenantId, TenantState,
};
use mgmt_fly_client::{
    BreakerConfig, HttpFlyMachines, HttpRegistry, MachinesConfig, RegistryConfig, RetryPolicy,
};
use mgmt_mock_fly::{MockFly, MockFlyConfig};
use mgmt_persistence::testing::{TestDb, tenant_cluster_admin, test_database};
use mgmt_provisioner::{CreateTenant, ProvisionerConfig, TenantService, Workers};
use mgmt_test_support::wait::{Check, eventually};
use secrecy::SecretString;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const REPO: &str = "tenant-images";
pub const ORG: &str = "test-org";

/// Fast retries and a short breaker cool-down, so fault tests finish in seconds.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 4,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(2),
    }
}

pub fn provisioner_config(mock: &MockFly) -> ProvisionerConfig {
    let mut c = ProvisionerConfig::new(
        mgmt_domain::RegistryTarget::new(mock.registry_host(), REPO),
        mock.registry_host(),
        "sites.example.test",
        "tenants-db.internal:5432",
    );
    c.extra_secrets.insert(
        "SMTP_PASSWORD".into(),
        SecretString::from("extra-secret-value".to_owned()),
    );
    c.keyring = Some(test_keyring());
    c.machine.app_visible_timeout = Duration::from_secs(10);
    c.worker.workers = 2;
    c.worker.poll_interval = Duration::from_millis(20);
    c.worker.lease = Duration::from_secs(2);
    c.worker.backoff_base = Duration::from_millis(50);
    c.worker.backoff_cap = Duration::from_millis(400);
    // A resource that does not disappear is looked at again (and deleted again if need be) by the next
    // attempt soon, rather than after Fly's usual 30 s.
    c.machine.gone_timeout = Duration::from_secs(3);
    c
}

/// A keyring of one random key (`SECRETS_ENCRYPTION_KEYS` as an operator would set it).
pub fn test_keyring() -> mgmt_provisioner::vault::Keyring {
    use base64::Engine;
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let spec = format!(
        "test:{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    mgmt_provisioner::vault::Keyring::parse(&SecretString::from(spec)).expect("test keyring")
}

/// The real clients on `mock`, with `breaker` for the Machines API.
pub fn clients(
    mock: &MockFly,
    breaker: BreakerConfig,
) -> (Arc<HttpFlyMachines>, Arc<HttpRegistry>) {
    let mut mc = MachinesConfig::new(
        mock.machines_url(),
        SecretString::from(mock.token().to_owned()),
        ORG,
    );
    mc.retry = fast_retry();
    mc.breaker = breaker;
    mc.request_timeout = Duration::from_secs(10);
    let mut rc = RegistryConfig::new(
        mock.registry_url(),
        "x",
        SecretString::from(mock.token().to_owned()),
    );
    rc.retry = fast_retry();
    (
        Arc::new(HttpFlyMachines::new(mc).unwrap()),
        Arc::new(HttpRegistry::new(rc).unwrap()),
    )
}

pub fn default_breaker() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 50,
        cool_down: Duration::from_secs(1),
    }
}

/// These tests are about the engine, not billing: every plan is made an operator's own plan that
/// needs no subscription (as a plan without a paid price is), so `basic` tenants are created directly.
async fn sell_every_plan_without_payment(db: &TestDb) {
    use secrecy::ExposeSecret as _;
    let out = tokio::process::Command::new("psql")
        .arg("-qAt")
        .arg("-d")
        .arg(db.url().expose_secret())
        .arg("-c")
        .arg(
            "DO $$ BEGIN IF to_regclass('management.plan_prices') IS NOT NULL THEN \
              UPDATE management.plan_prices SET requires_payment = false; END IF; END $$",
        )
        .output()
        .await
        .expect("psql");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct Harness {
    pub service: Arc<TenantService>,
    pub repos: Repositories,
    pub admin: Arc<dyn TenantDatabaseAdmin>,
    pub customer: Customer,
    pub fly: Arc<HttpFlyMachines>,
    pub registry: Arc<HttpRegistry>,
    pub mock: MockFly,
    workers: Option<(CancellationToken, JoinHandle<()>)>,
    // Last: the database outlives the pool users above.
    pub db: TestDb,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::build(MockFlyConfig::default(), default_breaker(), |_| {}).await
    }

    pub async fn build(
        mock_cfg: MockFlyConfig,
        breaker: BreakerConfig,
        tweak: impl FnOnce(&mut ProvisionerConfig),
    ) -> Harness {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_test_writer()
            .try_init();
        let db = test_database().await.expect("test database");
        let mock = MockFly::start(mock_cfg).await.expect("mock-fly");
        let mut config = provisioner_config(&mock);
        tweak(&mut config);
        let (fly, registry) = clients(&mock, breaker);
        let admin: Arc<dyn TenantDatabaseAdmin> = Arc::new(tenant_cluster_admin());
        Self::assemble(db, mock, fly, registry, admin, config).await
    }

    pub async fn assemble(
        db: TestDb,
        mock: MockFly,
        fly: Arc<HttpFlyMachines>,
        registry: Arc<HttpRegistry>,
        admin: Arc<dyn TenantDatabaseAdmin>,
        config: ProvisionerConfig,
    ) -> Harness {
        let repos = db.repositories();
        let customer = db.customer().await.expect("customer");
        sell_every_plan_without_payment(&db).await;
        let service = Arc::new(TenantService::new(
            repos.clone(),
            fly.clone(),
            registry.clone(),
            admin.clone(),
            config,
        ));
        Harness {
            service,
            repos,
            admin,
            customer,
            fly,
            registry,
            mock,
            workers: None,
            db,
        }
    }

    pub fn start_workers(&mut self) {
        let token = CancellationToken::new();
        let handle = Workers::spawn(self.service.clone(), token.clone());
        self.workers = Some((token, handle));
    }

    /// Graceful stop: waits until every worker has stopped.
    pub async fn stop_workers(&mut self) {
        if let Some((token, handle)) = self.workers.take() {
            token.cancel();
            handle.await.unwrap();
        }
    }

    pub async fn create(&self, name: &str, plan: &str) -> Tenant {
        let req = CreateTenant {
            name: name.into(),
            plan_id: Some(plan.into()),
            region: Some("fra".into()),
        };
        self.service
            .create_tenant(&self.customer, req)
            .await
            .expect("create tenant")
    }

    /// Waits until the tenant is in `state` (panics with the last state and message otherwise).
    pub async fn wait_state(&self, id: TenantId, state: TenantState, timeout: Duration) -> Tenant {
        self.wait_tenant(id, timeout, &format!("tenant {id} in state {state}"), |t| {
            t.state == state
        })
        .await
    }

    /// Waits until the tenant is `running` the image `digest`.
    pub async fn wait_deployed(&self, id: TenantId, digest: &str, timeout: Duration) -> Tenant {
        self.wait_tenant(id, timeout, &format!("tenant {id} running {digest}"), |t| {
            t.state == TenantState::Running && t.deployed_digest.as_deref() == Some(digest)
        })
        .await
    }

    /// Waits until `done` holds for the tenant's row; panics naming `what` and the last row seen.
    pub async fn wait_tenant(
        &self,
        id: TenantId,
        timeout: Duration,
        what: &str,
        done: impl Fn(&Tenant) -> bool,
    ) -> Tenant {
        eventually(timeout, || async {
            let t = self.repos.tenants.get(id).await.unwrap();
            if done(&t) {
                Check::Done(t)
            } else {
                Check::not_yet(format!(
                    "{} ({:?}), deployed {:?}",
                    t.state, t.status_message, t.deployed_digest
                ))
            }
        })
        .await
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}"))
    }

    /// Creates a tenant and waits until it is `awaiting_deploy` (workers must run).
    pub async fn provisioned(&self, name: &str, plan: &str) -> Tenant {
        let t = self.create(name, plan).await;
        self.wait_state(t.id, TenantState::AwaitingDeploy, Duration::from_secs(20))
            .await
    }

    pub fn image(&self, id: &TenantId) -> String {
        self.service.config().deploy_target.expected_image(id)
    }

    pub async fn plan(&self, id: &str) -> Plan {
        self.repos.plans.get(id).await.unwrap()
    }

    /// Whether anything of the tenant's database remains on the cluster.
    pub async fn db_leftovers(&self, t: &Tenant) -> Vec<String> {
        let mut out = Vec::new();
        if self.admin.database_exists(&t.database_name).await.unwrap() {
            out.push(format!("database {}", t.database_name));
        }
        if self.admin.role_exists(&t.database_role).await.unwrap() {
            out.push(format!("role {}", t.database_role));
        }
        out
    }

    /// Everything of the tenant still in mock-fly (app, machines, volumes, its tag).
    pub fn fly_leftovers(&self, t: &Tenant) -> Vec<String> {
        let tag = mgmt_domain::naming::image_tag(&t.id);
        self.mock.state().leftovers(&t.fly_app_name, REPO, &[&tag])
    }

    pub async fn event_types(&self, id: TenantId) -> Vec<String> {
        let events = self.repos.events.list_after(id, 0, 1000).await.unwrap();
        events
            .iter()
            .map(|e| e.event_type.as_str().to_owned())
            .collect()
    }
}
