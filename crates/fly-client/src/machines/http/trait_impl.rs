//! `FlyMachines` for [`HttpFlyMachines`]: one Machines API call per method; the composite ones
//! (app create, machine create, wait, secrets) live in `apps.rs` and `machine_ops.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use http::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::HttpFlyMachines;
use super::transport::Req;
use crate::error::{FlyError, FlyResult};
use crate::machines::FlyMachines;
use crate::machines::models::*;
use crate::resilience::BreakerState;
use crate::resilience::guard::RetryMode::{Idempotent, NotActedOn};

#[derive(Debug, Deserialize)]
struct IpList {
    #[serde(default)]
    ips: Vec<IpAssignment>,
}

#[async_trait]
impl FlyMachines for HttpFlyMachines {
    async fn create_app(&self, name: &str, network: Option<&str>) -> FlyResult<AppCreated> {
        self.do_create_app(name, network).await
    }
    async fn get_app(&self, name: &str) -> FlyResult<App> {
        self.do_get_app(name).await
    }
    async fn wait_for_app(&self, name: &str, timeout: Duration) -> FlyResult<App> {
        self.do_wait_for_app(name, timeout).await
    }
    async fn delete_app(&self, name: &str) -> FlyResult<()> {
        self.api
            .unit("delete_app", Idempotent, &Req::delete(&["apps", name]))
            .await
    }

    async fn list_secret_names(&self, app: &str) -> FlyResult<SecretsListing> {
        self.do_list_secret_names(app).await
    }
    async fn set_secrets(
        &self,
        app: &str,
        secrets: BTreeMap<String, SecretString>,
    ) -> FlyResult<u64> {
        self.do_set_secrets(app, secrets).await
    }
    async fn unset_secrets(&self, app: &str, names: &[String]) -> FlyResult<u64> {
        self.do_unset_secrets(app, names).await
    }

    async fn create_volume(&self, app: &str, req: &CreateVolumeRequest) -> FlyResult<Volume> {
        // Volume names are not unique on Fly, so a repeated create could make a second volume.
        self.api
            .json(
                "create_volume",
                NotActedOn,
                &Req::post(&["apps", app, "volumes"], json!(req)),
            )
            .await
    }
    async fn list_volumes(&self, app: &str) -> FlyResult<Vec<Volume>> {
        self.api
            .json(
                "list_volumes",
                Idempotent,
                &Req::get(&["apps", app, "volumes"]),
            )
            .await
    }
    async fn delete_volume(&self, app: &str, volume_id: &str) -> FlyResult<()> {
        self.api
            .unit(
                "delete_volume",
                Idempotent,
                &Req::delete(&["apps", app, "volumes", volume_id]),
            )
            .await
    }

    async fn assign_ip(&self, app: &str, kind: IpKind) -> FlyResult<IpAssignment> {
        let req = Req::post(&["apps", app, "ip_assignments"], json!({ "type": kind }));
        self.api.json("assign_ip", NotActedOn, &req).await
    }
    async fn list_ips(&self, app: &str) -> FlyResult<Vec<IpAssignment>> {
        let list: IpList = self
            .api
            .json(
                "list_ips",
                Idempotent,
                &Req::get(&["apps", app, "ip_assignments"]),
            )
            .await?;
        Ok(list.ips)
    }
    async fn delete_ip(&self, app: &str, ip: &str) -> FlyResult<()> {
        self.api
            .unit(
                "delete_ip",
                Idempotent,
                &Req::delete(&["apps", app, "ip_assignments", ip]),
            )
            .await
    }

    async fn add_certificate(&self, app: &str, hostname: &str) -> FlyResult<Certificate> {
        // Fly answers a repeated add with 422, not the certificate: look first, and read a 422 (a
        // retried add whose first attempt landed, or a concurrent one) as success when the
        // certificate is then found on this app. One held by another app stays an error.
        match self.get_certificate(app, hostname).await {
            Ok(c) => return Ok(c),
            Err(FlyError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let req = Req::post(
            &["apps", app, "certificates", "acme"],
            json!({ "hostname": hostname }),
        );
        match self.api.json("add_certificate", Idempotent, &req).await {
            Err(e @ (FlyError::NameTaken(_) | FlyError::Api { status: 422, .. })) => {
                match self.get_certificate(app, hostname).await {
                    Ok(c) => Ok(c),
                    Err(FlyError::NotFound(_)) => Err(e),
                    Err(other) => Err(other),
                }
            }
            other => other,
        }
    }
    async fn get_certificate(&self, app: &str, hostname: &str) -> FlyResult<Certificate> {
        self.api
            .json(
                "get_certificate",
                Idempotent,
                &Req::get(&["apps", app, "certificates", hostname]),
            )
            .await
    }
    async fn delete_certificate(&self, app: &str, hostname: &str) -> FlyResult<()> {
        let req = Req::delete(&["apps", app, "certificates", hostname]);
        self.api.unit("delete_certificate", Idempotent, &req).await
    }

    async fn create_machine(
        &self,
        app: &str,
        req: &CreateMachineRequest,
        lease: Option<&str>,
    ) -> FlyResult<Machine> {
        self.do_create_machine(app, req, lease).await
    }
    async fn get_machine(&self, app: &str, id: &str) -> FlyResult<Machine> {
        self.api
            .json(
                "get_machine",
                Idempotent,
                &Req::get(&["apps", app, "machines", id]),
            )
            .await
    }
    async fn list_machines(
        &self,
        app: &str,
        metadata: Option<(&str, &str)>,
    ) -> FlyResult<Vec<Machine>> {
        self.do_list_machines(app, metadata).await
    }
    async fn update_machine(
        &self,
        app: &str,
        id: &str,
        req: &CreateMachineRequest,
        lease: Option<&str>,
    ) -> FlyResult<Machine> {
        // The full desired config: applying it twice leaves the same machine config.
        let http_req = Req::post(&["apps", app, "machines", id], json!(req)).lease(lease);
        self.api.json("update_machine", Idempotent, &http_req).await
    }
    async fn start_machine(&self, app: &str, id: &str, lease: Option<&str>) -> FlyResult<()> {
        let req = Req::new(Method::POST, &["apps", app, "machines", id, "start"]).lease(lease);
        self.api.unit("start_machine", Idempotent, &req).await
    }
    async fn stop_machine(&self, app: &str, id: &str, lease: Option<&str>) -> FlyResult<()> {
        let req = Req::new(Method::POST, &["apps", app, "machines", id, "stop"]).lease(lease);
        self.api.unit("stop_machine", Idempotent, &req).await
    }
    async fn restart_machine(&self, app: &str, id: &str, lease: Option<&str>) -> FlyResult<()> {
        let req = Req::new(Method::POST, &["apps", app, "machines", id, "restart"]).lease(lease);
        self.api.unit("restart_machine", Idempotent, &req).await
    }
    async fn delete_machine(
        &self,
        app: &str,
        id: &str,
        force: bool,
        lease: Option<&str>,
    ) -> FlyResult<()> {
        let mut req = Req::delete(&["apps", app, "machines", id]).lease(lease);
        if force {
            req = req.query("force", "true");
        }
        self.api.unit("delete_machine", Idempotent, &req).await
    }
    async fn wait_machine(
        &self,
        app: &str,
        id: &str,
        state: MachineState,
        instance_id: Option<&str>,
        timeout: Duration,
    ) -> FlyResult<()> {
        self.do_wait_machine(app, id, state, instance_id, timeout)
            .await
    }
    async fn acquire_lease(
        &self,
        app: &str,
        id: &str,
        ttl: Duration,
        description: &str,
    ) -> FlyResult<Lease> {
        self.do_acquire_lease(app, id, ttl, description).await
    }
    async fn release_lease(&self, app: &str, id: &str, nonce: &str) -> FlyResult<()> {
        let req = Req::delete(&["apps", app, "machines", id, "lease"]).lease(Some(nonce));
        self.api.unit("release_lease", Idempotent, &req).await
    }

    async fn get_lease(&self, app: &str, id: &str) -> FlyResult<Option<Lease>> {
        self.do_get_lease(app, id).await
    }

    fn circuit_state(&self) -> Option<BreakerState> {
        Some(self.breaker_state())
    }
}
