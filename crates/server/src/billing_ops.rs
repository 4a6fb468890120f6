//! The operator's `billing events list|replay`: every Paddle webhook event as stored (the audit log),
//! and re-running one. A replay acts through the same use case as a delivery, which is idempotent: an
//! event applied already changes nothing; one that failed (a storage outage, a tenant not creatable
//! then) is tried again.

use anyhow::Context;
use mgmt_persistence::PgRepositories;

use crate::settings::Settings;

fn pool_for(url: &secrecy::SecretString) -> anyhow::Result<mgmt_persistence::PgPool> {
    let mut config = mgmt_persistence::PoolConfig::new(url.clone());
    config.max_size = 2;
    mgmt_persistence::build_pool(&config).context("DATABASE_URL: cannot build the connection pool")
}

/// `billing events list [--limit N]`: newest first, one line each.
pub async fn events_list(url: &secrecy::SecretString, limit: i64) -> anyhow::Result<String> {
    let repos = PgRepositories::new(pool_for(url)?);
    let events = repos.billing_events.list(limit.clamp(1, 10_000)).await?;
    let mut out: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{}  {:<28} occurred {}  received {}  attempts {}  {}",
                e.id,
                e.event_type,
                e.occurred_at.to_rfc3339(),
                e.received_at.to_rfc3339(),
                e.attempts,
                e.outcome.as_deref().unwrap_or("(not processed)")
            )
        })
        .collect();
    out.push(format!("{} event(s)", events.len()));
    Ok(out.join("\n"))
}

/// `billing events replay ID`: acts on the stored event again (needs the cloud settings: a
/// checkout's event may create its tenant).
pub async fn events_replay(settings: &Settings, id: &str) -> anyhow::Result<String> {
    if !mgmt_domain::is_billing_event_id(id) {
        anyhow::bail!("not a Paddle event id: {id:?} (evt_…)");
    }
    let pool = crate::wiring::pool(settings)?;
    let wired = crate::wiring::wire(settings, pool)?;
    let service = wired
        .service
        .context("billing events replay needs the cloud settings (FLY_ENABLED=true)")?;
    let signup = crate::wiring::signup_service(settings, &wired.state.repos, None, &service);
    let outcome = signup
        .replay(id)
        .await
        .map_err(|e| anyhow::anyhow!("replay of {id} failed: {e}"))?;
    Ok(format!("{id}: {outcome}"))
}

/// One round of the billing sweep: the grace periods (stop, start again, delete) and checkouts stuck
/// in `creating`. Everything it decides comes from the database, so a restart loses nothing.
pub async fn billing_sweep_once(
    settings: &Settings,
    service: &mgmt_provisioner::TenantService,
    signup: &mgmt_billing::SignupService,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<mgmt_domain::BillingSweepReport> {
    let grace = mgmt_domain::BillingGrace {
        suspend_after: chrono::Duration::from_std(settings.signup.suspend_grace)?,
        delete_after: chrono::Duration::from_std(settings.signup.cancel_grace)?,
    };
    let resumed = signup
        .resume_stuck_checkouts(mgmt_billing::STUCK_CREATING_AFTER)
        .await?;
    if resumed > 0 {
        tracing::info!(resumed, "stuck checkouts resumed");
    }
    Ok(service.billing_sweep(&grace, now).await?)
}

/// Runs [`billing_sweep_once`] every `BILLING_SWEEP_INTERVAL_SECS` until shutdown (with the workers:
/// only a replica that runs jobs acts on tenants). Every replica may run it: each action is
/// idempotent (see `TenantService::billing_sweep`).
pub fn spawn_billing_sweep(
    settings: &Settings,
    service: Option<&std::sync::Arc<mgmt_provisioner::TenantService>>,
    repos: &mgmt_domain::Repositories,
    shutdown: tokio_util::sync::CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let service = service.filter(|_| settings.workers_enabled)?.clone();
    let signup = crate::wiring::signup_service(settings, repos, None, &service);
    let settings = settings.clone();
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(settings.signup.sweep_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match billing_sweep_once(&settings, &service, &signup, chrono::Utc::now()).await {
                Ok(r) if r != mgmt_domain::BillingSweepReport::default() => {
                    tracing::info!(?r, "billing sweep acted");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    error = format!("{e:#}"),
                    "billing sweep failed; next round retries"
                ),
            }
        }
    }))
}
