//! Fly Machines API: the [`FlyMachines`] port and its reqwest implementation.

pub mod http;
pub mod models;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::error::FlyResult;
use models::*;

/// Everything the control plane does on Fly, one method per Machines API call (plus safe composites).
/// Implementations retry idempotent calls and fail fast when the upstream's breaker is open.
#[async_trait]
pub trait FlyMachines: Send + Sync {
    // Apps
    /// Creates the app in the configured org. A 422 `name_taken` is checked with a GET: if the app is
    /// visible in our org it is returned with `created: false`, otherwise `NameTaken`.
    /// `network`: the app's own private network (Fly's `network` field); `None` puts the app in the
    /// organisation's default network, shared with every other app of the organisation.
    async fn create_app(&self, name: &str, network: Option<&str>) -> FlyResult<AppCreated>;
    /// Gets an app; waits out Fly's eventual consistency only when asked through `wait_for_app`.
    async fn get_app(&self, name: &str) -> FlyResult<App>;
    /// Polls `GET /apps/{name}` until it is visible or `timeout` passes (a new app is eventually consistent).
    async fn wait_for_app(&self, name: &str, timeout: Duration) -> FlyResult<App>;
    async fn delete_app(&self, name: &str) -> FlyResult<()>;

    // Secrets (values go in, only names come out)
    async fn list_secret_names(&self, app: &str) -> FlyResult<SecretsListing>;
    /// Sets secrets; returns the new secrets version.
    async fn set_secrets(
        &self,
        app: &str,
        secrets: BTreeMap<String, SecretString>,
    ) -> FlyResult<u64>;
    /// Unsets secrets; returns the new secrets version. Unknown names count as done.
    async fn unset_secrets(&self, app: &str, names: &[String]) -> FlyResult<u64>;

    // Volumes
    async fn create_volume(&self, app: &str, req: &CreateVolumeRequest) -> FlyResult<Volume>;
    async fn list_volumes(&self, app: &str) -> FlyResult<Vec<Volume>>;
    async fn delete_volume(&self, app: &str, volume_id: &str) -> FlyResult<()>;

    // IP assignments
    async fn assign_ip(&self, app: &str, kind: IpKind) -> FlyResult<IpAssignment>;
    async fn list_ips(&self, app: &str) -> FlyResult<Vec<IpAssignment>>;
    async fn delete_ip(&self, app: &str, ip: &str) -> FlyResult<()>;

    // ACME certificates
    /// Idempotent: an existing certificate for `hostname` on `app` is returned (Fly itself answers a
    /// repeated add with 422).
    async fn add_certificate(&self, app: &str, hostname: &str) -> FlyResult<Certificate>;
    async fn get_certificate(&self, app: &str, hostname: &str) -> FlyResult<Certificate>;
    async fn delete_certificate(&self, app: &str, hostname: &str) -> FlyResult<()>;

    // Machines
    /// Creates a machine. A 408 (ambiguous: it may exist) is resolved by listing machines by
    /// `req.config.metadata` before retrying, so a retry never creates a second machine.
    async fn create_machine(
        &self,
        app: &str,
        req: &CreateMachineRequest,
        lease: Option<&str>,
    ) -> FlyResult<Machine>;
    async fn get_machine(&self, app: &str, id: &str) -> FlyResult<Machine>;
    /// Machines of the app whose metadata has `key=value`.
    async fn list_machines(
        &self,
        app: &str,
        metadata: Option<(&str, &str)>,
    ) -> FlyResult<Vec<Machine>>;
    async fn update_machine(
        &self,
        app: &str,
        id: &str,
        req: &CreateMachineRequest,
        lease: Option<&str>,
    ) -> FlyResult<Machine>;
    async fn start_machine(&self, app: &str, id: &str, lease: Option<&str>) -> FlyResult<()>;
    async fn stop_machine(&self, app: &str, id: &str, lease: Option<&str>) -> FlyResult<()>;
    async fn restart_machine(&self, app: &str, id: &str, lease: Option<&str>) -> FlyResult<()>;
    async fn delete_machine(
        &self,
        app: &str,
        id: &str,
        force: bool,
        lease: Option<&str>,
    ) -> FlyResult<()>;
    /// Waits for `state` (and `instance_id` when given) for at most `timeout` (Fly caps it at 60 s; longer
    /// waits are split into several calls). A timeout is `Transient`.
    async fn wait_machine(
        &self,
        app: &str,
        id: &str,
        state: MachineState,
        instance_id: Option<&str>,
        timeout: Duration,
    ) -> FlyResult<()>;
    async fn acquire_lease(
        &self,
        app: &str,
        id: &str,
        ttl: Duration,
        description: &str,
    ) -> FlyResult<Lease>;
    async fn release_lease(&self, app: &str, id: &str, nonce: &str) -> FlyResult<()>;
    /// The machine's current lease (`None`: no lease held). After a lost `acquire_lease` answer this
    /// tells whether the lease is ours (by the description we gave it) and hands back its nonce.
    async fn get_lease(&self, app: &str, id: &str) -> FlyResult<Option<Lease>>;

    /// The state of this client's circuit breaker, for metrics (`None` when it has none).
    fn circuit_state(&self) -> Option<crate::resilience::BreakerState> {
        None
    }
}
