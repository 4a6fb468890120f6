//! The provisioning saga (phase 1): database and role, Fly app, secrets, volume, IPs, certificate.
//!
//! Dependencies decide the shape, not a list: the database and the app are made concurrently; volume,
//! IPs and certificate start as soon as the app is visible; secrets (which carry `DATABASE_URL`) wait for
//! both. On a fresh app nothing is listed first (there is nothing to reuse), so the Fly critical path
//! is `create_app → get_app → {secrets | volume | ip | certificate}`: three calls. A rerun (retry or
//! crash recovery) lists what exists and reuses what is ours. Any failure compensates in reverse order
//! and leaves the tenant `failed` with a readable reason.

use std::sync::Arc;

use futures::FutureExt;
use mgmt_domain::{EventType, Tenant, TenantState};
use secrecy::SecretString;

use super::{JobContext, JobError};
use crate::error::ServiceError;
use crate::service::TenantService;

/// A provisioning step that failed, named for the customer.
#[derive(Debug, Clone)]
pub(crate) struct StepFailure {
    pub step: &'static str,
    pub error: String,
    /// The step did not run because one it depends on failed (that one carries the reason).
    pub skipped: bool,
    /// An outage (Fly, the registry or the database unavailable, or an answer lost after Fly may
    /// have acted): the run is retried later, reusing what exists, rather than failed.
    pub transient: bool,
    /// A write of the step was refused by the run's fence: the run must stop at once.
    pub fenced: bool,
}

impl StepFailure {
    pub fn new(step: &'static str, error: impl std::fmt::Display) -> Self {
        Self {
            step,
            error: error.to_string(),
            skipped: false,
            transient: false,
            fenced: false,
        }
    }

    /// A failure worth riding out (retried by the job with backoff).
    pub fn transient(step: &'static str, error: impl std::fmt::Display) -> Self {
        Self {
            transient: true,
            ..Self::new(step, error)
        }
    }

    pub fn fly(step: &'static str, e: mgmt_fly_client::FlyError) -> Self {
        Self {
            transient: e.is_transient(),
            ..Self::new(step, e)
        }
    }

    pub fn service(step: &'static str, e: ServiceError) -> Self {
        Self {
            transient: e.is_transient(),
            fenced: matches!(e, ServiceError::Fenced),
            ..Self::new(step, e)
        }
    }

    fn skipped(step: &'static str) -> Self {
        Self {
            skipped: true,
            ..Self::new(step, "")
        }
    }
}

/// What exists (and is ours) after the steps ran: what compensation must remove.
#[derive(Debug, Default)]
pub(crate) struct Provisioned {
    pub app_ours: bool,
    /// The app was seen on Fly by this run (a lost create answer leaves it unseen: maybe not visible yet).
    pub app_seen: bool,
    pub volume_id: Option<String>,
    pub ips: Vec<String>,
    pub certificate: bool,
    /// This run created the tenant's public DNS record.
    pub dns_record: bool,
}

impl TenantService {
    pub(crate) async fn provision_job(
        &self,
        ctx: &JobContext,
        tenant: Tenant,
    ) -> Result<(), JobError> {
        let tenant = match tenant.state {
            TenantState::Pending => {
                let msg = Some("provisioning started".to_owned());
                self.update_tenant(
                    tenant.id,
                    Some((EventType::VmProvisioningStarted, msg.clone())),
                    |t| Ok(t.transition(TenantState::Provisioning, msg.clone())?),
                )
                .await?
            }
            // A retry, or the rerun of a job whose worker died: start again, reusing what is ours.
            TenantState::Provisioning => tenant,
            other => {
                tracing::info!(tenant_id = %tenant.id, state = %other, "provision job has nothing to do");
                return Ok(());
            }
        };
        ctx.checkpoint()?;
        let plan = self
            .repos
            .plans
            .get(&tenant.plan_id)
            .await
            .map_err(ServiceError::from)?;
        let (done, failures) = self.provision_steps(&tenant, &plan).await;
        if failures.iter().any(|f| f.fenced) {
            return Err(JobError::LeaseLost);
        }
        // Only outages: ride them out (nothing is compensated; the rerun reuses what is ours) while
        // the job is within its outage budget; after it the customer sees `failed`.
        let budget = self.config.worker.outage_budget;
        let since = (chrono::Utc::now() - ctx.job.created_at)
            .to_std()
            .unwrap_or_default();
        if !failures.is_empty() && failures.iter().all(|f| f.transient) && since < budget {
            let f = &failures[0];
            tracing::warn!(tenant_id = %tenant.id, step = f.step, error = %f.error, "provisioning step met an outage; retrying later");
            return Err(JobError::Outage(format!(
                "provisioning step `{}`: {}",
                f.step, f.error
            )));
        }
        match failures.into_iter().next() {
            None => self.provision_succeeded(&tenant, done).await,
            Some(f) => self.provision_failed(&tenant, done, f).await,
        }
    }

    async fn provision_succeeded(
        &self,
        tenant: &Tenant,
        done: Provisioned,
    ) -> Result<(), JobError> {
        // `infrastructure_ready` first, then the state change carries `tenant_ready` in the same
        // transaction: a stream that sees the new state has every event up to it, and the CLI's wait (which
        // ends on `tenant_ready`) ends exactly when `/status` starts to say `ready`.
        self.event(
            tenant,
            EventType::InfrastructureReady,
            "app, database, secrets, volume, IP addresses and certificate are in place",
        )
        .await;
        let msg =
            Some("ready; awaiting the first deploy: push your image and deploy it".to_owned());
        let result = self
            .update_tenant(
                tenant.id,
                Some((EventType::TenantReady, msg.clone())),
                |t| {
                    t.volume_id = done.volume_id.clone();
                    Ok(t.transition(TenantState::AwaitingDeploy, msg.clone())?)
                },
            )
            .await;
        match result {
            Ok(_) => {
                tracing::info!(tenant_id = %tenant.id, app = %tenant.fly_app_name, "tenant provisioned");
                Ok(())
            }
            // Deleted while provisioning: the cleanup job (queued behind this one) removes everything.
            Err(ServiceError::Conflict(m)) => {
                tracing::info!(tenant_id = %tenant.id, reason = %m, "provisioning finished for a tenant no longer provisioning");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn provision_failed(
        &self,
        tenant: &Tenant,
        done: Provisioned,
        failure: StepFailure,
    ) -> Result<(), JobError> {
        tracing::warn!(tenant_id = %tenant.id, step = failure.step, error = %failure.error, "provisioning failed; compensating");
        let leftovers = self.compensate(tenant, &done).await;
        let mut reason = format!(
            "provisioning failed at step `{}`: {}",
            failure.step, failure.error
        );
        if !leftovers.is_empty() {
            reason.push_str(&format!(
                " (could not remove yet: {}; retry-provision reuses them, delete removes them)",
                leftovers.join(", ")
            ));
        }
        let result = self
            .update_tenant(
                tenant.id,
                Some((EventType::ProvisioningFailed, Some(reason.clone()))),
                |t| {
                    t.volume_id = None;
                    Ok(t.transition(TenantState::Failed, Some(reason.clone()))?)
                },
            )
            .await;
        match result {
            Ok(_) | Err(ServiceError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs every step with as much concurrency as the dependencies allow; returns what exists and the
    /// first real failure.
    async fn provision_steps(
        &self,
        tenant: &Tenant,
        plan: &mgmt_domain::Plan,
    ) -> (Provisioned, Vec<StepFailure>) {
        // The credentials are sealed and stored before anything uses them, and a rerun (retry, crash
        // recovery) gets the stored ones back: it never changes the password behind an app that has it.
        let creds = match self.provisioning_credentials(tenant).await {
            Ok(c) => Arc::new(c),
            Err(e) => {
                return (
                    Provisioned::default(),
                    vec![StepFailure::service("credentials", e)],
                );
            }
        };
        // The database runs as its own task: the cluster's DDL (and the password hashing before it) must
        // not hold up the Fly chain, which is the critical path.
        let db = {
            let (admin, creds) = (self.db_admin.clone(), creds.clone());
            let (database, role) = (tenant.database_name.clone(), tenant.database_role.clone());
            let limits = plan.db_limits;
            // The detached task carries the run's fence and checks it before touching the cluster: a
            // run that lost its lease does not create (or re-password) a database behind the new run.
            let fence = super::current_fence();
            let jobs = self.repos.jobs.clone();
            let task = tokio::spawn(super::fenced(fence, async move {
                if let Some(f) = fence {
                    jobs.check_fence(f).await?;
                }
                admin
                    .ensure_database(&database, &role, &creds.database_password, &limits)
                    .await
            }));
            async move {
                match task.await {
                    Ok(Ok(())) => {
                        let msg = format!(
                            "database {} and role {} ready",
                            tenant.database_name, tenant.database_role
                        );
                        self.event(tenant, EventType::DatabaseCreated, msg).await;
                        Ok(())
                    }
                    Ok(Err(e)) => Err(StepFailure::service("database", e.into())),
                    Err(e) => Err(StepFailure::new(
                        "database",
                        format!("database task failed: {e}"),
                    )),
                }
            }
        };
        let app = self.step_app(tenant).shared();
        let app_ready = |step: &'static str| {
            let app = app.clone();
            async move { app.await.1.map_err(|_| StepFailure::skipped(step)) }
        };
        // Secrets need only the password, not the database itself: `DATABASE_URL` is set while the
        // database is still being created (no machine reads it before provisioning ends).
        let secrets = {
            let ready = app_ready("secrets");
            let creds = creds.clone();
            async move {
                ready.await?;
                self.step_secrets(tenant, &creds).await
            }
        };
        let volume = {
            let ready = app_ready("volume");
            async move { self.step_volume(tenant, plan, ready.await?).await }
        };
        let ips = {
            let ready = app_ready("ip addresses");
            async move {
                match ready.await {
                    Ok(fresh) => self.step_ips(tenant, fresh).await,
                    Err(e) => (Vec::new(), Err(e)),
                }
            }
        };
        let cert = {
            let ready = app_ready("certificate");
            async move { self.step_certificate(tenant, ready.await?).await }
        };
        let dns = self.step_dns(tenant);
        let (db_r, app_r, secrets_r, volume_r, (ips_v, ips_r), cert_r, dns_r) =
            futures::join!(db, app.clone(), secrets, volume, ips, cert, dns);
        let done = Provisioned {
            app_ours: app_r.0,
            app_seen: app_r.1.is_ok(),
            volume_id: volume_r.as_ref().ok().cloned(),
            ips: ips_v,
            certificate: matches!(cert_r, Ok(true)),
            dns_record: matches!(dns_r, Ok(true)),
        };
        let failures = [
            db_r.err(),
            app_r.1.err(),
            secrets_r.err(),
            volume_r.err(),
            ips_r.err(),
            cert_r.err(),
            dns_r.err(),
        ]
        .into_iter()
        .flatten()
        .filter(|f| !f.skipped)
        .collect();
        (done, failures)
    }
}

/// A random alphanumeric secret of `len` characters from the thread's CSPRNG.
pub(crate) fn random_secret(len: usize) -> SecretString {
    use rand::Rng;
    let s: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    SecretString::from(s)
}
