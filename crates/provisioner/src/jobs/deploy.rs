//! The `deploy` job: rolls the latest accepted deployment out to the tenant's one machine.
//!
//! Jobs of one tenant never run concurrently (the queue serializes them), so two deploys never create
//! two machines; each run deploys the newest accepted deployment and supersedes older pending ones, so
//! the last accepted wins. The machine is found by `tenant.machine_id`, else by our metadata (a crash
//! after create), else created. Updates hold the machine's lease until the new version is healthy:
//! started with its health checks passing (`health_gate`); otherwise the machine is rolled back to
//! the last good digest and the deployment fails with the reason (check output, exit code, OOM).
//! A deployment accepted while the registry was slow has no digest yet: the run resolves the tag and
//! verifies the image's provenance first (transient registry errors retry with the job's backoff; a
//! missing or foreign image fails the deployment with the reason). The machine request carries the
//! app's secrets version read at rollout time, so the machine boots with the secrets as they are then.

use mgmt_domain::{EventType, Plan, Tenant, TenantState};
use mgmt_fly_client::{FlyError, Machine};

use super::health_gate;
use super::machine_spec::{TENANT_METADATA_KEY, machine_request};
use super::{JobContext, JobError};
use crate::error::ServiceError;
use crate::service::TenantService;

/// Why a rollout stopped.
enum RollOut {
    /// Fly is unavailable, rate limiting or behind an open circuit breaker: an outage, ridden out by
    /// requeueing the job without counting the attempt (within the worker's outage budget).
    Outage(String),
    /// Worth another attempt of the job (the machine's lease held by another rollout).
    Retry(String),
    /// The deployment failed.
    Failed(String),
    /// The new version is on the machine but did not come up healthy (see `health_gate`).
    Unhealthy(String),
}

fn classify(e: FlyError) -> RollOut {
    if e.is_transient() {
        RollOut::Outage(e.to_string())
    } else if matches!(e, FlyError::Conflict(_)) {
        RollOut::Retry(e.to_string())
    } else {
        RollOut::Failed(e.to_string())
    }
}

impl TenantService {
    pub(crate) async fn deploy_job(
        &self,
        ctx: &JobContext,
        tenant: Tenant,
    ) -> Result<(), JobError> {
        if matches!(tenant.state, TenantState::Deleting | TenantState::Deleted) {
            return Ok(());
        }
        let latest = self
            .repos
            .deployments
            .latest_for_tenant(tenant.id)
            .await
            .map_err(ServiceError::from)?;
        let Some(latest) = latest else { return Ok(()) };
        if latest.status.is_finished() {
            return self.settle_without_work(&tenant, &latest).await;
        }
        let superseded = self
            .repos
            .deployments
            .supersede_older(tenant.id, latest.id)
            .await
            .map_err(ServiceError::from)?;
        if superseded > 0 {
            tracing::info!(tenant_id = %tenant.id, superseded, "older pending deployments superseded");
        }
        let Some(volume_id) = tenant.volume_id.clone() else {
            return self
                .deployment_failed(
                    &tenant,
                    &latest,
                    "the tenant's infrastructure is not provisioned".into(),
                )
                .await;
        };
        self.repos
            .deployments
            .mark_started(latest.id)
            .await
            .map_err(ServiceError::from)?;
        let msg = Some(match &latest.digest {
            Some(d) => format!("deploying {d}"),
            None => format!("deploying {} (resolving its digest)", latest.image),
        });
        let tenant = match self
            .update_tenant(
                tenant.id,
                Some((EventType::DeploymentStarted, msg.clone())),
                |t| Ok(t.transition(TenantState::Deploying, msg.clone())?),
            )
            .await
        {
            Ok(t) => t,
            Err(ServiceError::Conflict(_)) => return Ok(()), // deleted meanwhile
            Err(e) => return Err(e.into()),
        };
        let digest = match latest.digest.clone() {
            Some(d) => d,
            // Accepted while the registry was slow: resolve and verify here, as the accept would have.
            None => match self.resolve_verified(tenant.id, &latest.image).await {
                Ok(d) => {
                    self.repos
                        .deployments
                        .set_digest(latest.id, &d)
                        .await
                        .map_err(ServiceError::from)?;
                    d
                }
                // An outage of the registry does not count against the job (the worker's outage
                // budget bounds it), so a slow registry never fails the deployment by itself.
                Err(e) if e.is_transient() => {
                    return Err(JobError::Outage(format!(
                        "deploy: resolving the image: {e}"
                    )));
                }
                Err(e) => {
                    return self
                        .deployment_failed(&tenant, &latest, refusal_reason(e))
                        .await;
                }
            },
        };
        let plan = self
            .repos
            .plans
            .get(&tenant.plan_id)
            .await
            .map_err(ServiceError::from)?;
        match self.roll_out(&tenant, &plan, &volume_id, &digest).await {
            Ok(machine) => {
                self.deployment_succeeded(&tenant, &latest, &machine.id, &digest)
                    .await
            }
            // The deployment stays in progress; past the outage budget the worker counts the attempt
            // and, on the last one, `give_up` settles the deployment as failed.
            Err(RollOut::Outage(e)) => Err(JobError::Outage(format!("deploy: {e}"))),
            Err(RollOut::Retry(e)) if !is_last_attempt(ctx) => {
                Err(JobError::Retry(format!("deploy: {e}")))
            }
            Err(RollOut::Unhealthy(why)) => {
                let reason = self
                    .roll_back(&tenant, &plan, &volume_id, &digest, why)
                    .await;
                self.deployment_failed(&tenant, &latest, reason).await
            }
            Err(RollOut::Retry(e) | RollOut::Failed(e)) => {
                self.deployment_failed(&tenant, &latest, e).await
            }
        }
    }

    /// After `digest` failed its health gate: put the last good digest (the tenant's
    /// `deployed_digest`, written only by a successful deploy) back on the machine, so the tenant keeps
    /// serving the old image. With none (a first deploy, or a redeploy of the same digest) the machine
    /// is stopped instead: a crash-looping or unhealthy process should not burn restarts or answer
    /// errors, and the next deploy's update starts it again. Returns the deployment's failure reason.
    async fn roll_back(
        &self,
        tenant: &Tenant,
        plan: &Plan,
        volume_id: &str,
        digest: &str,
        why: String,
    ) -> String {
        let reason = format!("{digest} did not become healthy: {why}");
        let previous = tenant
            .deployed_digest
            .clone()
            .filter(|d| d.as_str() != digest);
        let Some(previous) = previous else {
            // The machine id is recorded by `roll_out` as soon as it exists.
            let machine = self
                .repos
                .tenants
                .get(tenant.id)
                .await
                .ok()
                .and_then(|t| t.machine_id);
            if let Some(id) = machine
                && let Err(e) = self.fly.stop_machine(&tenant.fly_app_name, &id, None).await
            {
                tracing::warn!(tenant_id = %tenant.id, error = %e, "could not stop the unhealthy machine");
            }
            return format!("{reason}; no earlier good image to roll back to, machine stopped");
        };
        tracing::warn!(tenant_id = %tenant.id, digest, previous = %previous, "rolling back");
        match self.roll_out(tenant, plan, volume_id, &previous).await {
            Ok(_) => format!("{reason}; rolled back to {previous}"),
            Err(
                RollOut::Outage(e) | RollOut::Retry(e) | RollOut::Failed(e) | RollOut::Unhealthy(e),
            ) => {
                format!("{reason}; rolling back to {previous} failed too: {e}")
            }
        }
    }

    async fn roll_out(
        &self,
        tenant: &Tenant,
        plan: &Plan,
        volume_id: &str,
        digest: &str,
    ) -> Result<Machine, RollOut> {
        let app = &tenant.fly_app_name;
        // Fly's list answer carries no version (the real API's list has none); the versions our own
        // set/unset calls got back are recorded on the tenant, so the machine boots with at least those.
        let listed = self
            .fly
            .list_secret_names(app)
            .await
            .map_err(classify)?
            .version;
        let secrets_version = listed.max(tenant.secrets_version);
        let req = machine_request(
            &self.config,
            tenant,
            plan,
            volume_id,
            digest,
            secrets_version,
        );
        let existing = match &tenant.machine_id {
            Some(id) => Some(id.clone()),
            None => {
                let tid = tenant.id.to_string();
                let found = self
                    .fly
                    .list_machines(app, Some((TENANT_METADATA_KEY, &tid)))
                    .await
                    .map_err(classify)?;
                found
                    .into_iter()
                    .find(|m| m.state != "destroyed")
                    .map(|m| m.id)
            }
        };
        let Some(machine_id) = existing else {
            let machine = self
                .fly
                .create_machine(app, &req, None)
                .await
                .map_err(classify)?;
            self.remember_machine(tenant, &machine.id).await;
            self.gate(app, &machine).await?;
            return Ok(machine);
        };
        let lease = match self.acquire_deploy_lease(tenant, &machine_id).await {
            Ok(l) => l,
            // The machine vanished behind our back (destroyed by hand): start over with a new one.
            Err(e) if e.is_not_found() => {
                let machine = self
                    .fly
                    .create_machine(app, &req, None)
                    .await
                    .map_err(classify)?;
                self.remember_machine(tenant, &machine.id).await;
                self.gate(app, &machine).await?;
                return Ok(machine);
            }
            Err(e) => return Err(classify(e)),
        };
        let result = async {
            let machine = self
                .fly
                .update_machine(app, &machine_id, &req, Some(&lease.nonce))
                .await
                .map_err(classify)?;
            self.gate(app, &machine).await?;
            Ok(machine)
        }
        .await;
        if let Err(e) = self.fly.release_lease(app, &machine_id, &lease.nonce).await {
            tracing::warn!(tenant_id = %tenant.id, error = %e, "could not release machine lease (it expires on its own)");
        }
        result
    }

    /// The machine's lease for a rollout, identifiable as ours: its description carries the tenant
    /// and a nonce of this run, chosen before the call. A lost answer (or a 5xx after Fly acted) is
    /// resolved by looking at the machine's lease: ours is adopted (its nonce read back), so it is
    /// used and released rather than orphaned for its TTL. A lease left by an earlier rollout run of
    /// this tenant (a crash, a lost answer before this fix) is adopted too: deploy jobs of one tenant
    /// never run at the same time (the queue and the fence see to it), so such a lease is stale.
    async fn acquire_deploy_lease(
        &self,
        tenant: &Tenant,
        machine_id: &str,
    ) -> Result<mgmt_fly_client::Lease, FlyError> {
        let app = &tenant.fly_app_name;
        let ttl = self.config.machine.lease_ttl;
        let prefix = deploy_lease_prefix(tenant);
        let description = format!("{prefix}{}", uuid::Uuid::new_v4().simple());
        let ours = |l: &mgmt_fly_client::Lease| {
            l.description
                .as_deref()
                .is_some_and(|d| d.starts_with(&prefix))
        };
        match self
            .fly
            .acquire_lease(app, machine_id, ttl, &description)
            .await
        {
            Ok(l) => Ok(l),
            Err(e) if e.is_transient() || matches!(e, FlyError::Conflict(_)) => {
                match self.fly.get_lease(app, machine_id).await {
                    Ok(Some(l)) if ours(&l) => {
                        tracing::info!(tenant_id = %tenant.id, machine_id, "adopted our own machine lease");
                        Ok(l)
                    }
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The new version (the instance id of the create/update answer) started with passing checks.
    async fn gate(&self, app: &str, machine: &Machine) -> Result<(), RollOut> {
        let m = &self.config.machine;
        health_gate::wait_healthy(
            self.fly.as_ref(),
            app,
            &machine.id,
            machine.instance_id.as_deref(),
            m.health_timeout,
            m.health_poll,
        )
        .await
        .map_err(|e| RollOut::Unhealthy(e.0))
    }

    /// Writes the machine id at once, so a crash before the end still finds (and never duplicates) it.
    async fn remember_machine(&self, tenant: &Tenant, machine_id: &str) {
        let id = machine_id.to_owned();
        if let Err(e) = self
            .update_tenant(tenant.id, None, |t| {
                t.machine_id = Some(id.clone());
                Ok(())
            })
            .await
        {
            tracing::warn!(tenant_id = %tenant.id, error = %e, "could not record machine id (found again by metadata)");
        }
    }
}

/// A refused image in the customer's words (the kind prefix of the error's display adds nothing).
fn refusal_reason(e: ServiceError) -> String {
    match e {
        ServiceError::ImageNotFound(m)
        | ServiceError::Conflict(m)
        | ServiceError::InvalidInput(m) => m,
        other => other.to_string(),
    }
}

/// What every rollout lease of the tenant's machine is described as (before the run's nonce).
fn deploy_lease_prefix(tenant: &Tenant) -> String {
    format!("deploy {} ", tenant.id)
}

fn is_last_attempt(ctx: &JobContext) -> bool {
    ctx.job
        .max_attempts
        .is_some_and(|max| ctx.job.attempts >= max)
}
