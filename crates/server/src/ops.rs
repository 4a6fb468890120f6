//! Operator commands (`management-api jobs list|show|retry|cancel`, `management-api tenants
//! show|reconcile|force-delete`) and the reconciler's wiring (built here for `serve` and for
//! `tenants reconcile`). The commands talk to the database directly, like `token revoke`: they work
//! with the API down. Output is plain text, one record per line, for humans and `grep`.

use std::sync::Arc;

use anyhow::Context;
use mgmt_domain::{DriftKind, Job, ReconcileStats, TenantId};
use mgmt_fly_client::{HttpFlyMachines, HttpRegistry, MachinesConfig, RegistryConfig};
use mgmt_http::metrics::Metrics;
use mgmt_persistence::{
    PgOperatorStore, PgPool, PgReconcileStore, PgRepositories, PgTenantDatabaseAdmin,
};
use mgmt_reconciler::{ReconcileObserver, Reconciler, ReconcilerConfig, ReconcilerPorts};
use uuid::Uuid;

use crate::settings::{FlySettings, Settings};

/// Feeds the reconciler's figures and actions to `/metrics`.
#[derive(Debug)]
pub struct MetricsReconcileObserver(pub Arc<Metrics>);

impl ReconcileObserver for MetricsReconcileObserver {
    fn drift(&self, kind: DriftKind, outcome: &str) {
        self.0.record_drift(kind.as_str(), outcome);
    }
    fn stats(&self, stats: &ReconcileStats) {
        self.0.set_reconcile_stats(stats);
    }
}

/// The reconciler over its own Fly and registry clients (its own breakers: a burst of its calls
/// failing must not open the workers' breaker).
pub fn build_reconciler(
    settings: &Settings,
    fly: &FlySettings,
    pool: PgPool,
    observer: Arc<dyn ReconcileObserver>,
) -> anyhow::Result<Reconciler> {
    let machines = HttpFlyMachines::new(MachinesConfig::new(
        &fly.machines_api_url,
        fly.api_token.clone(),
        &fly.org_slug,
    ))
    .context("FLY_MACHINES_API_URL / FLY_API_TOKEN")?;
    let registry = HttpRegistry::new(RegistryConfig::new(
        &fly.registry_url,
        &fly.registry_username,
        fly.registry_password.clone(),
    ))
    .context("FLY_REGISTRY_URL")?;
    let repos = PgRepositories::new(pool.clone());
    let mut config = ReconcilerConfig::new(&fly.shared_registry_app);
    config.interval = settings.reconcile_interval;
    config.grace = settings.reconcile_grace;
    config.dry_run = settings.reconcile_dry_run;
    let ports = ReconcilerPorts {
        store: Arc::new(PgReconcileStore::new(pool, settings.database_url.clone())),
        jobs: repos.jobs.clone(),
        events: repos.events.clone(),
        fly: Arc::new(machines),
        registry: Arc::new(registry),
        tenant_db: Arc::new(PgTenantDatabaseAdmin::new(fly.tenant_db_admin_url.clone())),
    };
    Ok(Reconciler::new(ports, config, observer))
}

fn job_line(j: &Job) -> String {
    format!(
        "{id}  {kind:<9} {state:<7} tenant={tenant} attempts={att}/{max} run_after={ra} updated={up}{err}",
        id = j.id,
        kind = j.kind.as_str(),
        state = j.state.as_str(),
        tenant = j
            .tenant_id
            .map(|t| t.to_string())
            .unwrap_or_else(|| "-".into()),
        att = j.attempts,
        max = j
            .max_attempts
            .map(|m| m.to_string())
            .unwrap_or_else(|| "∞".into()),
        ra = j.run_after.to_rfc3339(),
        up = j.updated_at.to_rfc3339(),
        err = j
            .last_error
            .as_deref()
            .map(|e| format!("\n    last_error: {e}"))
            .unwrap_or_default(),
    )
}

fn parse_tenant(id: &str) -> anyhow::Result<TenantId> {
    id.parse::<TenantId>()
        .map_err(|e| anyhow::anyhow!("not a tenant id: {id:?} ({e})"))
}

fn parse_job(id: &str) -> anyhow::Result<Uuid> {
    Uuid::parse_str(id).map_err(|e| anyhow::anyhow!("not a job id: {id:?} ({e})"))
}

fn pool_for(url: &secrecy::SecretString) -> anyhow::Result<PgPool> {
    let mut config = mgmt_persistence::PoolConfig::new(url.clone());
    config.max_size = 2;
    mgmt_persistence::build_pool(&config).context("DATABASE_URL: cannot build the connection pool")
}

/// `jobs list [--state S]... [--tenant ID] [--limit N]`
pub async fn jobs_list(
    url: &secrecy::SecretString,
    states: Vec<String>,
    tenant: Option<String>,
    limit: i64,
) -> anyhow::Result<String> {
    for s in &states {
        if !["queued", "running", "done", "dead"].contains(&s.as_str()) {
            anyhow::bail!("--state must be queued, running, done or dead, not {s:?}");
        }
    }
    let tenant = tenant.as_deref().map(parse_tenant).transpose()?;
    let ops = PgOperatorStore::new(pool_for(url)?);
    let jobs = ops
        .list_jobs(&states, tenant, limit.clamp(1, 10_000))
        .await?;
    let mut out: Vec<String> = jobs.iter().map(job_line).collect();
    out.push(format!("{} job(s)", jobs.len()));
    Ok(out.join("\n"))
}

/// `jobs show ID`
pub async fn jobs_show(url: &secrecy::SecretString, id: &str) -> anyhow::Result<String> {
    let ops = PgOperatorStore::new(pool_for(url)?);
    let j = ops.job(parse_job(id)?).await?;
    Ok(format!(
        "{}\n    payload: {}\n    lease_owner: {}\n    lease_expires_at: {}\n    created: {}",
        job_line(&j),
        j.payload,
        j.lease_owner.as_deref().unwrap_or("-"),
        j.lease_expires_at
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "-".into()),
        j.created_at.to_rfc3339()
    ))
}

/// `jobs retry ID`: a dead job runs again with a fresh attempt budget.
pub async fn jobs_retry(url: &secrecy::SecretString, id: &str) -> anyhow::Result<String> {
    let ops = PgOperatorStore::new(pool_for(url)?);
    let j = ops.retry_job(parse_job(id)?).await?;
    Ok(format!("retried: {}", job_line(&j)))
}

/// `jobs cancel ID --reason TEXT`
pub async fn jobs_cancel(
    url: &secrecy::SecretString,
    id: &str,
    reason: &str,
) -> anyhow::Result<String> {
    let ops = PgOperatorStore::new(pool_for(url)?);
    let j = ops.cancel_job(parse_job(id)?, reason).await?;
    Ok(format!("cancelled: {}", job_line(&j)))
}

/// `tenants show ID`: the tenant, its jobs, its latest events and the reconciler's findings.
pub async fn tenants_show(url: &secrecy::SecretString, id: &str) -> anyhow::Result<String> {
    let id = parse_tenant(id)?;
    let pool = pool_for(url)?;
    let repos = PgRepositories::new(pool.clone());
    let t = repos.tenants.get(id).await?;
    let mut out = vec![
        format!("tenant {}  state={}  name={:?}", t.id, t.state, t.name),
        format!(
            "  app={} machine={} volume={} digest={}",
            t.fly_app_name,
            t.machine_id.as_deref().unwrap_or("-"),
            t.volume_id.as_deref().unwrap_or("-"),
            t.deployed_digest.as_deref().unwrap_or("-")
        ),
        format!(
            "  database={} role={} updated={} deleted={}",
            t.database_name,
            t.database_role,
            t.updated_at.to_rfc3339(),
            t.deleted_at
                .map(|d| d.to_rfc3339())
                .unwrap_or_else(|| "-".into())
        ),
        format!("  message: {}", t.status_message.as_deref().unwrap_or("-")),
        "jobs:".into(),
    ];
    for j in repos.jobs.list_for_tenant(id).await?.iter().take(20) {
        out.push(format!("  {}", job_line(j)));
    }
    out.push("events (latest 20):".into());
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = repos.events.list_after(id, after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let full = page.len() == 500;
        events.extend(page);
        if !full {
            break;
        }
    }
    for e in events.iter().rev().take(20).rev() {
        out.push(format!(
            "  {} {:<22} {}",
            e.created_at.to_rfc3339(),
            e.event_type.as_str(),
            e.message.as_deref().unwrap_or("")
        ));
    }
    out.push("reconciler findings:".into());
    let store = PgReconcileStore::new(pool, url.clone());
    for f in mgmt_domain::ReconcileStore::findings(&store, Some(id), 50).await? {
        out.push(format!(
            "  {} {} seen {}x since {} repaired={} ({})",
            f.kind.as_str(),
            f.resource,
            f.times_seen,
            f.first_seen_at.to_rfc3339(),
            f.repaired_at
                .map(|d| d.to_rfc3339())
                .unwrap_or_else(|| "no".into()),
            f.detail
        ));
    }
    Ok(out.join("\n"))
}

/// `tenants reconcile ID`: the reconciler's checks of one tenant, now (grace periods still apply;
/// `RECONCILE_DRY_RUN` is honoured).
pub async fn tenants_reconcile(settings: &Settings, id: &str) -> anyhow::Result<String> {
    let id = parse_tenant(id)?;
    let fly = settings
        .fly
        .as_ref()
        .context("tenants reconcile needs the cloud settings (FLY_ENABLED=true)")?;
    let pool = pool_for(&settings.database_url)?;
    let tenant = PgRepositories::new(pool.clone()).tenants.get(id).await?;
    let rec = build_reconciler(settings, fly, pool, Arc::new(mgmt_reconciler::NoObserver))?;
    let r = rec.reconcile_tenant(&tenant).await;
    let mut out = format!(
        "tenant {} ({}): found {} repaired {} waiting {} failed {}",
        tenant.id, tenant.state, r.found, r.repaired, r.waiting, r.failed
    );
    for e in &r.errors {
        out.push_str(&format!("\nerror: {e}"));
    }
    if !r.errors.is_empty() {
        anyhow::bail!(out);
    }
    Ok(out)
}

/// `tenants force-delete ID --reason TEXT`
pub async fn tenants_force_delete(
    url: &secrecy::SecretString,
    id: &str,
    reason: &str,
) -> anyhow::Result<String> {
    let id = parse_tenant(id)?;
    let ops = PgOperatorStore::new(pool_for(url)?);
    let d = ops.force_delete(id, reason).await?;
    Ok(format!(
        "tenant {id}: {} -> deleting; {} job(s) cancelled; cleanup job {}",
        d.from, d.cancelled_jobs, d.cleanup_job
    ))
}

/// Spawns the reconciler of `serve` (when the cloud and the workers are enabled).
pub fn spawn_reconciler(
    settings: &Settings,
    pool: PgPool,
    metrics: Arc<Metrics>,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let (Some(fly), true) = (&settings.fly, settings.workers_enabled) else {
        return Ok(None);
    };
    let rec = build_reconciler(
        settings,
        fly,
        pool,
        Arc::new(MetricsReconcileObserver(metrics)),
    )?;
    tracing::info!(interval = ?settings.reconcile_interval, grace = ?settings.reconcile_grace,
        dry_run = settings.reconcile_dry_run, "reconciler started");
    Ok(Some(tokio::spawn(rec.run(shutdown))))
}
