//! One reconciliation pass, and the per-tenant check `management-api tenants reconcile` runs.

use std::future::Future;

use chrono::Utc;
use mgmt_domain::{
    DriftKind, EventType, Finding, JobKind, NewJob, NewTenantEvent, Tenant, TenantState, naming,
};
use mgmt_fly_client::{FlyError, TagDeletion};

use crate::Reconciler;
use crate::ownership::app_is_ours;

/// What one pass (or one tenant's check) saw and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// Tenants looked at.
    pub tenants: u64,
    /// Drift seen (whatever was done about it).
    pub found: u64,
    /// Drift repaired.
    pub repaired: u64,
    /// Drift left alone for now: within its grace period, or dry run.
    pub waiting: u64,
    /// Repairs that failed (tried again next pass).
    pub failed: u64,
    /// Errors reading Fly, the registry, the cluster or the database.
    pub errors: Vec<String>,
}

/// Machine and volume states that already mean "going away".
fn going_away(state: Option<&str>) -> bool {
    matches!(
        state,
        Some("destroyed" | "destroying" | "pending_destroy" | "deleted")
    )
}

fn job_kind(state: TenantState) -> Option<JobKind> {
    match state {
        TenantState::Pending | TenantState::Provisioning => Some(JobKind::Provision),
        TenantState::Deploying => Some(JobKind::Deploy),
        TenantState::Deleting => Some(JobKind::Cleanup),
        _ => None,
    }
}

impl Reconciler {
    /// One pass over every category, each bounded by `batch` tenants.
    pub async fn pass(&self) -> PassReport {
        let started = Utc::now();
        let mut r = PassReport::default();
        let store = &self.ports.store;
        let batch = self.config.batch;
        match store
            .stranded_tenants(self.config.stranded_idle, batch)
            .await
        {
            Ok(ts) => {
                for t in ts {
                    r.tenants += 1;
                    self.stranded(&t, &mut r).await;
                }
            }
            Err(e) => r.errors.push(format!("stranded tenants: {e}")),
        }
        let since = started
            - chrono::Duration::from_std(self.config.deleted_lookback)
                .unwrap_or(chrono::Duration::days(7));
        match store.deleted_tenants(since, batch).await {
            Ok(ts) => {
                for t in ts {
                    r.tenants += 1;
                    self.deleted(&t, &mut r).await;
                }
            }
            Err(e) => r.errors.push(format!("deleted tenants: {e}")),
        }
        match store.settled_tenants(batch).await {
            Ok(ts) => {
                for t in ts {
                    r.tenants += 1;
                    self.settled(&t, &mut r).await;
                }
            }
            Err(e) => r.errors.push(format!("settled tenants: {e}")),
        }
        // A finding not seen for a while went away by itself; if it comes back its grace restarts.
        let forget_after = self.config.interval * 3 + self.config.grace;
        if let Ok(d) = chrono::Duration::from_std(forget_after)
            && let Err(e) = store.forget_unseen(started - d).await
        {
            r.errors.push(format!("forget findings: {e}"));
        }
        for e in &r.errors {
            tracing::warn!(error = %e, "reconciler: pass error");
        }
        r
    }

    /// The checks of one tenant, whatever its state (`tenants reconcile`): a transitional tenant with
    /// no queued or running job is re-enqueued, a deleted one's leftovers removed, a settled one's
    /// surplus machines and volumes removed (after the grace period, as in a pass).
    pub async fn reconcile_tenant(&self, tenant: &Tenant) -> PassReport {
        let mut r = PassReport {
            tenants: 1,
            ..PassReport::default()
        };
        match tenant.state {
            TenantState::Deleted => self.deleted(tenant, &mut r).await,
            TenantState::AwaitingDeploy | TenantState::Running | TenantState::Failed => {
                match self.has_active_job(tenant).await {
                    Ok(false) => self.settled(tenant, &mut r).await,
                    Ok(true) => {}
                    Err(e) => r.errors.push(e),
                }
            }
            _ => match self.has_active_job(tenant).await {
                Ok(false) => self.stranded(tenant, &mut r).await,
                Ok(true) => {}
                Err(e) => r.errors.push(e),
            },
        }
        r
    }

    async fn has_active_job(&self, tenant: &Tenant) -> Result<bool, String> {
        let jobs = self
            .ports
            .jobs
            .list_for_tenant(tenant.id)
            .await
            .map_err(|e| format!("jobs of {}: {e}", tenant.id))?;
        Ok(jobs.iter().any(|j| {
            matches!(
                j.state,
                mgmt_domain::JobState::Queued | mgmt_domain::JobState::Running
            )
        }))
    }

    /// Records `finding`, then repairs it unless in dry-run mode or (with `grace`) seen too recently.
    async fn handle<F>(
        &self,
        r: &mut PassReport,
        tenant: Option<&Tenant>,
        finding: Finding,
        grace: bool,
        repair: F,
    ) where
        F: Future<Output = Result<(), String>>,
    {
        r.found += 1;
        let kind = finding.kind;
        let record = match self.ports.store.observe(&finding).await {
            Ok(rec) => rec,
            Err(e) => {
                r.errors
                    .push(format!("record {kind} {}: {e}", finding.resource));
                return;
            }
        };
        let seen_for = (Utc::now() - record.first_seen_at)
            .to_std()
            .unwrap_or_default();
        if self.config.dry_run || (grace && seen_for < self.config.grace) {
            tracing::info!(kind = %kind, resource = %finding.resource, detail = %finding.detail,
                dry_run = self.config.dry_run, ?seen_for, "reconciler: drift found, not acting yet");
            self.observer.drift(kind, "found");
            r.waiting += 1;
            return;
        }
        match repair.await {
            Ok(()) => {
                tracing::warn!(kind = %kind, resource = %finding.resource, detail = %finding.detail,
                    "reconciler: drift repaired");
                if let Err(e) = self
                    .ports
                    .store
                    .mark_repaired(kind, &finding.resource)
                    .await
                {
                    r.errors.push(format!("mark {kind} repaired: {e}"));
                }
                if let Some(t) = tenant {
                    let ev = NewTenantEvent::new(
                        t.id,
                        EventType::DriftRepaired,
                        t.state,
                        Some(format!(
                            "reconciler: {kind} {}: {}",
                            finding.resource, finding.detail
                        )),
                    );
                    if let Err(e) = self.ports.events.append(ev).await {
                        r.errors.push(format!("event for {}: {e}", t.id));
                    }
                }
                self.observer.drift(kind, "repaired");
                r.repaired += 1;
            }
            Err(e) => {
                tracing::warn!(kind = %kind, resource = %finding.resource, error = %e,
                    "reconciler: repair failed; retried next pass");
                self.observer.drift(kind, "failed");
                r.failed += 1;
            }
        }
    }

    async fn stranded(&self, t: &Tenant, r: &mut PassReport) {
        let Some(kind) = job_kind(t.state) else {
            return;
        };
        let finding = Finding {
            kind: DriftKind::StrandedTenant,
            resource: t.id.to_string(),
            tenant_id: Some(t.id),
            detail: format!(
                "{} with no queued or running job; {} job queued",
                t.state,
                kind.as_str()
            ),
        };
        let job = NewJob {
            kind,
            tenant_id: Some(t.id),
            payload: serde_json::json!({}),
            // Cleanup never gives up; the others get the engine's usual budget.
            max_attempts: (kind != JobKind::Cleanup).then_some(self.config.max_attempts),
        };
        let jobs = self.ports.jobs.clone();
        self.handle(r, Some(t), finding, false, async move {
            jobs.enqueue(job).await.map(drop).map_err(|e| e.to_string())
        })
        .await;
    }

    async fn deleted(&self, t: &Tenant, r: &mut PassReport) {
        let app = t.fly_app_name.clone();
        let fly = self.ports.fly.clone();
        match fly.get_app(&app).await {
            Ok(a) if a.status.as_deref() == Some("suspended") => {
                // A delete is in flight on Fly's side (deletes are asynchronous).
            }
            Ok(_) => match app_is_ours(self.ports.events.as_ref(), t).await {
                Ok(true) => {
                    let finding = Finding {
                        kind: DriftKind::OrphanApp,
                        resource: app.clone(),
                        tenant_id: Some(t.id),
                        detail: "Fly app of a deleted tenant".to_owned(),
                    };
                    let fly2 = fly.clone();
                    let name = app.clone();
                    self.handle(r, Some(t), finding, true, async move {
                        match fly2.delete_app(&name).await {
                            Ok(()) | Err(FlyError::NotFound(_)) => Ok(()),
                            Err(e) => Err(e.to_string()),
                        }
                    })
                    .await;
                }
                Ok(false) => {
                    tracing::info!(app = %app, tenant_id = %t.id,
                        "reconciler: an app has a deleted tenant's name but is not provably ours; left alone");
                }
                Err(e) => r.errors.push(format!("events of {}: {e}", t.id)),
            },
            Err(FlyError::NotFound(_)) => {}
            Err(e) => r.errors.push(format!("get app {app}: {e}")),
        }
        let tag = naming::image_tag(&t.id);
        let repo = self.config.repository.clone();
        match self.ports.registry.resolve(&repo, &tag).await {
            Ok(Some(found)) => {
                let finding = Finding {
                    kind: DriftKind::LeftoverTag,
                    resource: format!("{repo}:{tag}"),
                    tenant_id: Some(t.id),
                    detail: format!("tag of a deleted tenant still resolves to {}", found.digest),
                };
                let registry = self.ports.registry.clone();
                self.handle(r, Some(t), finding, false, async move {
                    match registry.delete_tag_safely(&repo, &tag).await {
                        Ok(TagDeletion::PlaceholderLeft { placeholder_digest }) => Err(format!(
                            "the registry refuses manifest deletion; placeholder {placeholder_digest} stays on the tag"
                        )),
                        Ok(_) => Ok(()),
                        Err(e) => Err(e.to_string()),
                    }
                })
                .await;
            }
            Ok(None) => {}
            Err(e) => r.errors.push(format!("resolve {repo}:{tag}: {e}")),
        }
        let db = self.ports.tenant_db.clone();
        let exists = async {
            Ok::<_, mgmt_domain::RepoError>(
                db.database_exists(&t.database_name).await?
                    || db.role_exists(&t.database_role).await?,
            )
        };
        match exists.await {
            Ok(true) => {
                let finding = Finding {
                    kind: DriftKind::LeftoverDatabase,
                    resource: t.database_name.clone(),
                    tenant_id: Some(t.id),
                    detail: format!(
                        "database {} or role {} of a deleted tenant",
                        t.database_name, t.database_role
                    ),
                };
                let (name, role) = (t.database_name.clone(), t.database_role.clone());
                self.handle(r, Some(t), finding, false, async move {
                    db.drop_database(&name, &role)
                        .await
                        .map_err(|e| e.to_string())
                })
                .await;
            }
            Ok(false) => {}
            Err(e) => r
                .errors
                .push(format!("tenant cluster, {}: {e}", t.database_name)),
        }
    }

    async fn settled(&self, t: &Tenant, r: &mut PassReport) {
        let app = t.fly_app_name.clone();
        let fly = self.ports.fly.clone();
        match fly.list_machines(&app, None).await {
            Ok(machines) => {
                for m in machines {
                    if going_away(Some(m.state.as_str()))
                        || t.machine_id.as_deref() == Some(m.id.as_str())
                    {
                        continue;
                    }
                    let finding = Finding {
                        kind: DriftKind::OrphanMachine,
                        resource: format!("{app}/{}", m.id),
                        tenant_id: Some(t.id),
                        detail: format!(
                            "machine the tenant does not record (it records {:?})",
                            t.machine_id
                        ),
                    };
                    let (fly2, app2, id) = (fly.clone(), app.clone(), m.id.clone());
                    self.handle(r, Some(t), finding, true, async move {
                        match fly2.delete_machine(&app2, &id, true, None).await {
                            Ok(()) | Err(FlyError::NotFound(_)) => Ok(()),
                            Err(e) => Err(e.to_string()),
                        }
                    })
                    .await;
                }
            }
            Err(FlyError::NotFound(_)) => {}
            Err(e) => r.errors.push(format!("machines of {app}: {e}")),
        }
        match fly.list_volumes(&app).await {
            Ok(volumes) => {
                for v in volumes {
                    if going_away(v.state.as_deref())
                        || t.volume_id.as_deref() == Some(v.id.as_str())
                    {
                        continue;
                    }
                    let finding = Finding {
                        kind: DriftKind::OrphanVolume,
                        resource: format!("{app}/{}", v.id),
                        tenant_id: Some(t.id),
                        detail: format!(
                            "volume the tenant does not record (it records {:?})",
                            t.volume_id
                        ),
                    };
                    let (fly2, app2, id) = (fly.clone(), app.clone(), v.id.clone());
                    self.handle(r, Some(t), finding, true, async move {
                        match fly2.delete_volume(&app2, &id).await {
                            Ok(()) | Err(FlyError::NotFound(_)) => Ok(()),
                            Err(e) => Err(e.to_string()),
                        }
                    })
                    .await;
                }
            }
            Err(FlyError::NotFound(_)) => {}
            Err(e) => r.errors.push(format!("volumes of {app}: {e}")),
        }
    }
}
