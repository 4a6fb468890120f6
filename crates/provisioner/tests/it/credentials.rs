//! Tenant credentials: provisioning keeps them sealed and a rerun reuses them; the owner reads them;
//! rotation changes the role's password (checked by logging in to a cluster that really checks
//! passwords), updates `DATABASE_URL` on the app and the machine, and converges when retried after
//! dying half-way; external access; cleanup forgets them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mgmt_domain::{RepoError, RepoResult, Tenant, TenantDatabaseAdmin, TenantState};
use mgmt_mock_fly::{MockFly, MockFlyConfig};
use mgmt_persistence::PgTenantDatabaseAdmin;
use mgmt_persistence::testing::{ScratchCluster, test_database};
use mgmt_provisioner::{
    DATABASE_PASSWORD, DATABASE_PASSWORD_PENDING, JWT_SECRET, ProvisionerConfig, ServiceError,
};
use mgmt_test_support::wait::{Check, eventually};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::common::{Harness, clients, default_breaker, images, provisioner_config};

const T: Duration = Duration::from_secs(20);

/// The real admin on `cluster`; `set_password` can be made to fail once *after* it changed the
/// password: the process dying between `ALTER ROLE` and storing the new value as current.
struct DiesAfterSetPassword {
    inner: PgTenantDatabaseAdmin,
    armed: AtomicBool,
}

#[async_trait]
impl TenantDatabaseAdmin for DiesAfterSetPassword {
    async fn ensure_database(
        &self,
        database: &str,
        role: &str,
        password: &SecretString,
        limits: &mgmt_domain::TenantDbLimits,
    ) -> RepoResult<()> {
        self.inner
            .ensure_database(database, role, password, limits)
            .await
    }
    async fn drop_database(&self, database: &str, role: &str) -> RepoResult<()> {
        self.inner.drop_database(database, role).await
    }
    async fn set_password(&self, role: &str, password: &SecretString) -> RepoResult<()> {
        self.inner.set_password(role, password).await?;
        if self.armed.swap(false, Ordering::SeqCst) {
            return Err(RepoError::Unavailable(
                "injected: connection lost after ALTER ROLE".into(),
            ));
        }
        Ok(())
    }
    async fn database_exists(&self, database: &str) -> RepoResult<bool> {
        self.inner.database_exists(database).await
    }
    async fn role_exists(&self, role: &str) -> RepoResult<bool> {
        self.inner.role_exists(role).await
    }
}

/// A harness whose tenant cluster is a private server that checks passwords, reachable at the
/// `tenant_db_host` the URLs carry, so the URLs the service hands out can be tried for real.
struct Scratch {
    h: Harness,
    admin: Arc<DiesAfterSetPassword>,
    // Last: the server outlives the harness that uses it.
    _cluster: ScratchCluster,
}

async fn scratch(tweak: impl FnOnce(&mut ProvisionerConfig)) -> Scratch {
    let cluster = ScratchCluster::start().expect("scratch cluster");
    let admin_url = cluster.admin_url();
    let host = admin_url
        .strip_prefix("postgres://postgres@")
        .and_then(|rest| rest.strip_suffix("/postgres"))
        .expect("host:port in the scratch cluster's URL")
        .to_owned();
    let db = test_database().await.expect("test database");
    let mock = MockFly::start(MockFlyConfig::default())
        .await
        .expect("mock-fly");
    let mut config = provisioner_config(&mock);
    config.tenant_db_host = host;
    tweak(&mut config);
    let (fly, registry) = clients(&mock, default_breaker());
    let admin = Arc::new(DiesAfterSetPassword {
        inner: PgTenantDatabaseAdmin::new(SecretString::from(admin_url)),
        armed: AtomicBool::new(false),
    });
    let h = Harness::assemble(db, mock, fly, registry, admin.clone(), config).await;
    Scratch {
        h,
        admin,
        _cluster: cluster,
    }
}

/// Whether `url` logs in (the scratch cluster refuses a wrong password).
async fn logs_in(url: &SecretString) -> bool {
    mgmt_test_support::db::connect(url.expose_secret())
        .await
        .is_ok()
}

/// The digest mock-fly keeps of a secret value (it never keeps values).
fn fly_digest(value: &SecretString) -> String {
    hex::encode(&Sha256::digest(value.expose_secret().as_bytes())[..8])
}

fn app_secret_digest(h: &Harness, t: &Tenant, name: &str) -> Option<String> {
    h.mock
        .state()
        .app(&t.fly_app_name)
        .and_then(|a| a.secrets.get(name).map(|s| s.digest.clone()))
}

async fn names(h: &Harness, t: &Tenant) -> Vec<String> {
    h.repos
        .tenant_credentials
        .list(t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_keeps_the_credentials_sealed_and_a_rerun_reuses_them() {
    let mut s = scratch(|_| {}).await;
    let h = &mut s.h;
    // The first run fails after the database and the app secrets were made (and is compensated).
    h.mock.faults().fail_next("create_volume", 1, 400);
    let t = h.create("kept", "basic").await;
    h.start_workers();
    let failed = h.wait_state(t.id, TenantState::Failed, T).await;
    assert!(
        failed
            .status_message
            .as_deref()
            .unwrap_or_default()
            .contains("step `volume`"),
        "{:?}",
        failed.status_message
    );
    let sealed_first = h.repos.tenant_credentials.list(t.id).await.unwrap();
    assert_eq!(names(h, &t).await, [DATABASE_PASSWORD, JWT_SECRET]);

    h.service
        .retry_provision(h.customer.id, t.id)
        .await
        .unwrap();
    let t = h.wait_state(t.id, TenantState::AwaitingDeploy, T).await;
    // The rerun reused the stored values: the rows are untouched (same nonces and ciphertexts).
    assert_eq!(
        h.repos.tenant_credentials.list(t.id).await.unwrap(),
        sealed_first
    );

    let creds = h.service.credentials(h.customer.id, t.id).await.unwrap();
    let password = {
        let url = creds.internal_database_url.expose_secret();
        let after_role = url
            .strip_prefix(&format!("postgres://{}:", t.database_role))
            .unwrap();
        after_role.split('@').next().unwrap().to_owned()
    };
    assert_eq!(password.len(), 32);
    assert_eq!(creds.jwt_secret.expose_secret().len(), 64);
    assert_eq!(
        creds.internal_database_url.expose_secret(),
        &format!(
            "postgres://{}:{password}@{}/{}",
            t.database_role,
            h.service.config().tenant_db_host,
            t.database_name
        )
    );
    // No external access: both URLs are the internal one.
    assert_eq!(
        creds.database_url.expose_secret(),
        creds.internal_database_url.expose_secret()
    );
    assert_eq!(creds.app_url, t.app_url());
    // The role has exactly the kept password, and the app carries exactly the kept values.
    assert!(logs_in(&creds.internal_database_url).await);
    assert_eq!(
        app_secret_digest(h, &t, "DATABASE_URL"),
        Some(fly_digest(&creds.internal_database_url))
    );
    assert_eq!(
        app_secret_digest(h, &t, "JWT_SECRET"),
        Some(fly_digest(&creds.jwt_secret))
    );
    // Only ciphertext is stored.
    for sealed in &sealed_first {
        let text = String::from_utf8_lossy(&sealed.ciphertext);
        assert!(!text.contains(&password), "plaintext stored");
        assert!(!text.contains(creds.jwt_secret.expose_secret()));
        assert_eq!(sealed.key_id, "test");
    }
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_changes_the_roles_password_and_the_running_machines_database_url() {
    let mut s = scratch(|_| {}).await;
    let h = &mut s.h;
    h.start_workers();
    let t = h.provisioned("rotating", "basic").await;
    let digest = images::push(h, &t.id, "rotating").await;
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    let t = h.wait_deployed(t.id, &digest, T).await;
    let before = h.service.credentials(h.customer.id, t.id).await.unwrap();
    assert!(logs_in(&before.internal_database_url).await);
    let deployments = h
        .repos
        .deployments
        .list_for_tenant(t.id)
        .await
        .unwrap()
        .len();

    let rotated = h
        .service
        .rotate_credentials(h.customer.id, t.id)
        .await
        .unwrap();
    assert_ne!(
        rotated.internal_database_url.expose_secret(),
        before.internal_database_url.expose_secret()
    );
    // No public endpoint configured: the external URL is the internal one.
    assert_eq!(
        rotated.external_database_url.expose_secret(),
        rotated.internal_database_url.expose_secret()
    );
    assert!(
        !logs_in(&before.internal_database_url).await,
        "the old password still works"
    );
    assert!(logs_in(&rotated.internal_database_url).await);

    // Kept: the credentials endpoint answers the new URL; the JWT secret did not change.
    let after = h.service.credentials(h.customer.id, t.id).await.unwrap();
    assert_eq!(
        after.internal_database_url.expose_secret(),
        rotated.internal_database_url.expose_secret()
    );
    assert_eq!(
        after.jwt_secret.expose_secret(),
        before.jwt_secret.expose_secret()
    );
    assert_eq!(names(h, &t).await, [DATABASE_PASSWORD, JWT_SECRET]);

    // The app's DATABASE_URL changed on Fly, and the running machine is rolled onto it, same image.
    let new_digest = fly_digest(&rotated.internal_database_url);
    assert_eq!(
        app_secret_digest(h, &t, "DATABASE_URL"),
        Some(new_digest.clone())
    );
    eventually(T, || async {
        let s = h.mock.state();
        let machines = s.machines_of(&t.fly_app_name);
        let m = &machines[0];
        if m.secrets.get("DATABASE_URL") == Some(&new_digest) && m.state == "started" {
            Check::Done(())
        } else {
            Check::not_yet(format!(
                "machine {} ({}) has the old DATABASE_URL",
                m.id, m.state
            ))
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let t = h.wait_deployed(t.id, &digest, T).await;
    assert_eq!(t.state, TenantState::Running);
    assert!(
        h.repos
            .deployments
            .list_for_tenant(t.id)
            .await
            .unwrap()
            .len()
            > deployments,
        "a rollout was recorded"
    );
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_that_died_after_the_role_changed_converges_when_retried() {
    let mut s = scratch(|_| {}).await;
    let h = &mut s.h;
    h.start_workers();
    let t = h.provisioned("half-rotated", "basic").await;
    let before = h.service.credentials(h.customer.id, t.id).await.unwrap();

    s.admin.armed.store(true, Ordering::SeqCst);
    let e = h
        .service
        .rotate_credentials(h.customer.id, t.id)
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    // The role has the new password already, which is kept (pending), not lost.
    assert!(!logs_in(&before.internal_database_url).await);
    assert_eq!(
        names(h, &t).await,
        [DATABASE_PASSWORD, DATABASE_PASSWORD_PENDING, JWT_SECRET]
    );
    let pending = h
        .repos
        .tenant_credentials
        .get(t.id, DATABASE_PASSWORD_PENDING)
        .await
        .unwrap()
        .unwrap();

    // The retry reuses the pending password: the role, the store and the app agree again.
    let rotated = h
        .service
        .rotate_credentials(h.customer.id, t.id)
        .await
        .unwrap();
    assert!(logs_in(&rotated.internal_database_url).await);
    assert_eq!(names(h, &t).await, [DATABASE_PASSWORD, JWT_SECRET]);
    let kept = h
        .repos
        .tenant_credentials
        .get(t.id, DATABASE_PASSWORD)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(kept.nonce, pending.nonce, "re-sealed under its own name");
    let after = h.service.credentials(h.customer.id, t.id).await.unwrap();
    assert_eq!(
        after.internal_database_url.expose_secret(),
        rotated.internal_database_url.expose_secret()
    );
    assert_eq!(
        app_secret_digest(h, &t, "DATABASE_URL"),
        Some(fly_digest(&rotated.internal_database_url))
    );
    // A further rotation starts from a clean slate.
    let again = h
        .service
        .rotate_credentials(h.customer.id, t.id)
        .await
        .unwrap();
    assert_ne!(
        again.internal_database_url.expose_secret(),
        rotated.internal_database_url.expose_secret()
    );
    assert!(logs_in(&again.internal_database_url).await);
    assert!(!logs_in(&rotated.internal_database_url).await);
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_access_uses_the_public_endpoint_when_the_server_has_one() {
    let mut h = Harness::build(MockFlyConfig::default(), default_breaker(), |c| {
        c.tenant_db_public_endpoint = Some("db.public.example:6432".into());
    })
    .await;
    h.start_workers();
    let t = h.provisioned("outside", "basic").await;
    let internal = h
        .service
        .credentials(h.customer.id, t.id)
        .await
        .unwrap()
        .internal_database_url;
    let password = internal
        .expose_secret()
        .split_once(&format!("{}:", t.database_role))
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(p, _)| p.to_owned())
        .unwrap();
    let external = format!(
        "postgres://{}:{password}@db.public.example:6432/{}?sslmode=require",
        t.database_role, t.database_name
    );

    let on = h
        .service
        .set_external_db_access(h.customer.id, t.id, true)
        .await
        .unwrap();
    assert!(on.enabled);
    assert_eq!(on.tenant_id, t.id);
    assert_eq!(on.database_url.expose_secret(), &external);
    assert!(h.repos.tenants.get(t.id).await.unwrap().external_db_access);
    let creds = h.service.credentials(h.customer.id, t.id).await.unwrap();
    assert_eq!(creds.database_url.expose_secret(), &external);
    assert_eq!(
        creds.internal_database_url.expose_secret(),
        internal.expose_secret()
    );
    // Enabling twice is fine.
    h.service
        .set_external_db_access(h.customer.id, t.id, true)
        .await
        .unwrap();

    let off = h
        .service
        .set_external_db_access(h.customer.id, t.id, false)
        .await
        .unwrap();
    assert!(!off.enabled);
    assert_eq!(off.database_url.expose_secret(), internal.expose_secret());
    let creds = h.service.credentials(h.customer.id, t.id).await.unwrap();
    assert_eq!(creds.database_url.expose_secret(), internal.expose_secret());

    // Rotation answers the public URL as the external one.
    let rotated = h
        .service
        .rotate_credentials(h.customer.id, t.id)
        .await
        .unwrap();
    let ext = rotated.external_database_url.expose_secret();
    assert!(
        ext.contains("@db.public.example:6432/") && ext.ends_with("?sslmode=require"),
        "{ext}"
    );
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_before_provisioning_for_strangers_and_without_an_endpoint() {
    let mut h = Harness::start().await;
    let t = h.create("early", "basic").await;
    // Before provisioning has run: nothing to hand out yet.
    for r in [
        h.service.credentials(h.customer.id, t.id).await.err(),
        h.service
            .rotate_credentials(h.customer.id, t.id)
            .await
            .err(),
    ] {
        let e = r.expect("refused");
        assert!(
            matches!(&e, ServiceError::NotReady(m) if m.contains("pending")),
            "{e:?}"
        );
    }
    h.start_workers();
    let t = h.wait_state(t.id, TenantState::AwaitingDeploy, T).await;

    // Another customer's tenant is not found, like a missing one.
    let stranger = h.db.customer().await.unwrap();
    assert!(matches!(
        h.service.credentials(stranger.id, t.id).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        h.service.rotate_credentials(stranger.id, t.id).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        h.service
            .set_external_db_access(stranger.id, t.id, false)
            .await,
        Err(ServiceError::NotFound)
    ));

    // No public endpoint on this server: enabling is refused and nothing is recorded; disabling works.
    let e = h
        .service
        .set_external_db_access(h.customer.id, t.id, true)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ServiceError::NotConfigured(m) if m.contains("public database endpoint")),
        "{e:?}"
    );
    assert!(!h.repos.tenants.get(t.id).await.unwrap().external_db_access);
    let off = h
        .service
        .set_external_db_access(h.customer.id, t.id, false)
        .await
        .unwrap();
    assert!(!off.enabled);
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_forgets_the_credentials() {
    let mut h = Harness::start().await;
    h.start_workers();
    let t = h.provisioned("forgotten", "basic").await;
    assert_eq!(names(&h, &t).await, [DATABASE_PASSWORD, JWT_SECRET]);
    h.service.delete_tenant(h.customer.id, t.id).await.unwrap();
    let t = h.wait_state(t.id, TenantState::Deleted, T).await;
    assert!(names(&h, &t).await.is_empty());
    let events = h.event_types(t.id).await;
    assert!(
        events.iter().any(|e| e == "cleanup_step_done"),
        "{events:?}"
    );
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_keyring_provisioning_fails_naming_the_setting() {
    let mut h = Harness::build(MockFlyConfig::default(), default_breaker(), |c| {
        c.keyring = None;
    })
    .await;
    let t = h.create("keyless", "basic").await;
    h.start_workers();
    let failed = h.wait_state(t.id, TenantState::Failed, T).await;
    let msg = failed.status_message.unwrap_or_default();
    assert!(
        msg.contains("step `credentials`") && msg.contains("SECRETS_ENCRYPTION_KEYS"),
        "{msg}"
    );
    assert!(names(&h, &t).await.is_empty());
    assert_eq!(h.fly_leftovers(&t), Vec::<String>::new());
    assert_eq!(h.db_leftovers(&t).await, Vec::<String>::new());
    h.stop_workers().await;
}
