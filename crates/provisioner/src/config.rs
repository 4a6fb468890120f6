//! Configuration of the tenant lifecycle engine: where images live, how tenant machines look, how
//! workers pace themselves.

use std::collections::BTreeMap;
use std::time::Duration;

use mgmt_domain::RegistryTarget;
use secrecy::SecretString;

use crate::vault::Keyring;

/// Everything the provisioner needs besides its ports. `Debug` is safe: secret values print redacted.
#[derive(Debug, Clone)]
pub struct ProvisionerConfig {
    /// Public registry host customers push to (the gateway) and the shared repository; the deploy rule
    /// checks images against it.
    pub deploy_target: RegistryTarget,
    /// Host Fly pulls from, e.g. `registry.fly.io`: machine image = `{upstream_registry_host}/{repo}@sha256:...`.
    pub upstream_registry_host: String,
    /// Public hostnames are `{12hex}.{subdomain_suffix}`.
    pub subdomain_suffix: String,
    /// Whether provisioning requests a per-app ACME certificate (off when a front proxy holds a wildcard).
    pub certificates_enabled: bool,
    /// `host:port` tenant apps use to reach the shared tenant cluster, e.g. `tenants-db.internal:5432`.
    pub tenant_db_host: String,
    /// App secrets every tenant gets besides `DATABASE_URL` and `JWT_SECRET`.
    pub extra_secrets: BTreeMap<String, SecretString>,
    /// Seals the tenant credentials the server keeps (database password, `JWT_SECRET`). Provisioning,
    /// rotation and the credentials endpoint refuse to run without it (`SECRETS_ENCRYPTION_KEYS`).
    pub keyring: Option<Keyring>,
    /// `host:port` of the tenant cluster's public endpoint, for owners who enable external database
    /// access; `None`: external access cannot be enabled.
    pub tenant_db_public_endpoint: Option<String>,
    /// How long accepting a deploy waits for the registry (tag resolution and provenance) before it
    /// records the deployment without a digest and leaves both to the deploy job.
    pub deploy_resolve_within: Duration,
    pub machine: MachineSettings,
    pub worker: WorkerSettings,
}

impl ProvisionerConfig {
    /// A configuration with default machine and worker settings, certificates on and no extra secrets.
    pub fn new(
        deploy_target: RegistryTarget,
        upstream_registry_host: impl Into<String>,
        subdomain_suffix: impl Into<String>,
        tenant_db_host: impl Into<String>,
    ) -> Self {
        Self {
            deploy_target,
            upstream_registry_host: upstream_registry_host.into(),
            subdomain_suffix: subdomain_suffix.into(),
            certificates_enabled: true,
            tenant_db_host: tenant_db_host.into(),
            extra_secrets: BTreeMap::new(),
            keyring: None,
            tenant_db_public_endpoint: None,
            deploy_resolve_within: Duration::from_secs(2),
            machine: MachineSettings::default(),
            worker: WorkerSettings::default(),
        }
    }
}

/// How a tenant's machine and its infrastructure are configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineSettings {
    /// Name of the tenant's volume (the original system's `services`).
    pub volume_name: String,
    /// Where the volume is mounted; a mount hides whatever the image has at that path.
    pub volume_mount_path: String,
    /// Port the tenant image listens on.
    pub internal_port: u16,
    /// Health endpoint the image answers (a Fly HTTP check); `None` disables the check.
    pub health_check_path: Option<String>,
    pub cpu_kind: String,
    pub rust_log: String,
    pub jwt_issuer: String,
    pub api_server_url: String,
    pub api_external_url: String,
    /// How long a restart (answered inline) waits for `started`.
    pub restart_timeout: Duration,
    /// How long one cleanup or compensation attempt waits for a deleted Fly resource to disappear before
    /// the job is retried (which looks again, and deletes again what is no longer being deleted).
    pub gone_timeout: Duration,
    /// How long a deploy waits for the new version to be started with its health checks passing
    /// before it rolls back.
    pub health_timeout: Duration,
    /// How often the health gate reads the machine.
    pub health_poll: Duration,
    /// Fly's `grace_period` of the health check: failures while the app boots do not count.
    pub health_grace_period: Duration,
    /// How long provisioning waits for a new app to become visible (Fly is eventually consistent).
    pub app_visible_timeout: Duration,
    /// Machine lease held while updating or restarting.
    pub lease_ttl: Duration,
}

impl Default for MachineSettings {
    fn default() -> Self {
        Self {
            volume_name: "services".to_owned(),
            volume_mount_path: mgmt_domain::DEFAULT_VOLUME_MOUNT_PATH.to_owned(),
            internal_port: 8080,
            health_check_path: Some("/api/v1/health".to_owned()),
            cpu_kind: "shared".to_owned(),
            rust_log: "info".to_owned(),
            jwt_issuer: "systemprompt".to_owned(),
            api_server_url: "http://localhost:8080".to_owned(),
            api_external_url: "http://localhost:8080".to_owned(),
            restart_timeout: Duration::from_secs(20),
            gone_timeout: Duration::from_secs(30),
            health_timeout: Duration::from_secs(120),
            health_poll: Duration::from_millis(500),
            health_grace_period: Duration::from_secs(10),
            app_visible_timeout: Duration::from_secs(30),
            lease_ttl: Duration::from_secs(60),
        }
    }
}

/// Background workers: how many, how often they poll, how long they hold a job, how they back off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    pub workers: usize,
    pub poll_interval: Duration,
    /// Job lease; a heartbeat extends it every third of it. A crashed worker's job is claimable after it.
    pub lease: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Claims of a provision job before it is dead (a crash loop); the saga itself never retries.
    pub provision_max_attempts: i32,
    pub deploy_max_attempts: i32,
    /// Prefix of worker ids (lease owners), e.g. the host name.
    pub worker_id_prefix: String,
    /// How long after a job was enqueued an upstream outage (Fly or the database unavailable, rate
    /// limited, circuit open) is ridden out: until then such a failure requeues the job with backoff
    /// without counting an attempt, and only then does it fail the tenant's provisioning or deploy.
    pub outage_budget: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            workers: 2,
            poll_interval: Duration::from_millis(500),
            lease: Duration::from_secs(60),
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(300),
            provision_max_attempts: 5,
            deploy_max_attempts: 5,
            worker_id_prefix: "worker".to_owned(),
            outage_budget: Duration::from_secs(15 * 60),
        }
    }
}

impl WorkerSettings {
    /// Capped exponential backoff after the `attempt`-th failure (1-based).
    pub fn backoff(&self, attempt: i32) -> Duration {
        let exp = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(20);
        self.backoff_base
            .saturating_mul(1u32 << exp)
            .min(self.backoff_cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let w = WorkerSettings {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_millis(1000),
            ..WorkerSettings::default()
        };
        assert_eq!(w.backoff(1), Duration::from_millis(100));
        assert_eq!(w.backoff(2), Duration::from_millis(200));
        assert_eq!(w.backoff(4), Duration::from_millis(800));
        assert_eq!(w.backoff(5), Duration::from_millis(1000));
        assert_eq!(w.backoff(500), Duration::from_millis(1000));
        assert_eq!(w.backoff(0), Duration::from_millis(100));
    }

    #[test]
    fn debug_redacts_extra_secrets() {
        let mut c = ProvisionerConfig::new(
            RegistryTarget::new("r.example", "imgs"),
            "registry.fly.io",
            "s.example",
            "db:5432",
        );
        c.extra_secrets.insert(
            "SMTP_PASSWORD".into(),
            SecretString::from("hunter2-very-secret".to_owned()),
        );
        let dbg = format!("{c:?}");
        assert!(dbg.contains("SMTP_PASSWORD"));
        assert!(!dbg.contains("hunter2"));
    }
}
