//! The reconciler's storage ([`ReconcileStore`]): leadership by a session advisory lock on a
//! dedicated connection, the tenant queries it compares with Fly, its findings; and the operator
//! commands' queries ([`PgOperatorStore`]: jobs list/retry/cancel, tenant force-delete).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Double, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use mgmt_domain::{
    DriftKind, EventType, Finding, FindingRecord, Job, JobQueue, Leadership, NewTenantEvent,
    ReconcileStats, ReconcileStore, RepoError, RepoResult, Tenant, TenantId, TenantRepository,
    TenantState,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::error::db_error;
use crate::events::insert_event_in_tx;
use crate::pool::{PgPool, get};
use crate::tx::TxError;
use crate::{PgJobQueue, PgTenantRepository};

/// The advisory lock key of the reconciler's leader ("mgmtreco" in ASCII), one per database.
pub const RECONCILER_LOCK_KEY: i64 = 0x6d67_6d74_7265_636f;

const TRANSITIONAL: &str = "('pending', 'provisioning', 'deploying', 'deleting')";

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct FindingRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    resource: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    tenant_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    detail: String,
    #[diesel(sql_type = Timestamptz)]
    first_seen_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    last_seen_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    repaired_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = BigInt)]
    times_seen: i64,
}

impl TryFrom<FindingRow> for FindingRecord {
    type Error = RepoError;
    fn try_from(r: FindingRow) -> RepoResult<Self> {
        Ok(FindingRecord {
            kind: r
                .kind
                .parse()
                .map_err(|_| RepoError::Other(format!("unknown finding kind {:?}", r.kind)))?,
            resource: r.resource,
            tenant_id: r.tenant_id.map(TenantId::from_uuid),
            detail: r.detail,
            first_seen_at: r.first_seen_at,
            last_seen_at: r.last_seen_at,
            repaired_at: r.repaired_at,
            times_seen: r.times_seen,
        })
    }
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct KindCountRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    found: i64,
    #[diesel(sql_type = BigInt)]
    repaired: i64,
}

const FINDING_COLUMNS: &str =
    "kind, resource, tenant_id, detail, first_seen_at, last_seen_at, repaired_at, times_seen";

/// [`ReconcileStore`] on PostgreSQL.
#[derive(Clone)]
pub struct PgReconcileStore {
    pool: PgPool,
    tenants: PgTenantRepository,
    /// Leadership needs its own session (a pooled connection may be recycled or closed, which would
    /// drop the lock without anyone noticing), so the store keeps the URL to open one.
    url: SecretString,
}

impl std::fmt::Debug for PgReconcileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgReconcileStore").finish_non_exhaustive()
    }
}

impl PgReconcileStore {
    pub fn new(pool: PgPool, url: SecretString) -> Self {
        Self {
            tenants: PgTenantRepository::new(pool.clone()),
            pool,
            url,
        }
    }

    async fn tenants_by_ids(&self, rows: Vec<IdRow>) -> RepoResult<Vec<Tenant>> {
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            match self.tenants.get(TenantId::from_uuid(r.id)).await {
                Ok(t) => out.push(t),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// The leader's lock, held by the session of `conn`.
struct PgLeadership {
    conn: Mutex<AsyncPgConnection>,
}

#[async_trait]
impl Leadership for PgLeadership {
    async fn still_leading(&self) -> bool {
        // A session lock lives as long as its session: a connection that still answers still holds it.
        let mut conn = self.conn.lock().await;
        tokio::time::timeout(Duration::from_secs(5), conn.batch_execute("SELECT 1"))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

#[derive(QueryableByName)]
struct LockedRow {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

#[async_trait]
impl ReconcileStore for PgReconcileStore {
    async fn try_lead(&self) -> RepoResult<Option<Box<dyn Leadership>>> {
        let mut conn = AsyncPgConnection::establish(self.url.expose_secret())
            .await
            .map_err(|e| RepoError::Unavailable(format!("cannot connect for leadership: {e}")))?;
        let row: LockedRow = sql_query("SELECT pg_try_advisory_lock($1) AS locked")
            .bind::<BigInt, _>(RECONCILER_LOCK_KEY)
            .get_result(&mut conn)
            .await
            .map_err(db_error("reconciler lock"))?;
        Ok(row.locked.then(|| {
            Box::new(PgLeadership {
                conn: Mutex::new(conn),
            }) as Box<dyn Leadership>
        }))
    }

    async fn stranded_tenants(&self, idle: Duration, limit: i64) -> RepoResult<Vec<Tenant>> {
        let mut conn = get(&self.pool).await?;
        let rows: Vec<IdRow> = sql_query(format!(
            "SELECT t.id FROM management.tenants t
             WHERE t.state IN {TRANSITIONAL}
               AND t.updated_at < now() - make_interval(secs => $1)
               AND NOT EXISTS (SELECT 1 FROM management.jobs j
                               WHERE j.tenant_id = t.id AND j.state IN ('queued', 'running'))
             ORDER BY t.updated_at LIMIT $2"
        ))
        .bind::<Double, _>(idle.as_secs_f64())
        .bind::<BigInt, _>(limit)
        .load(&mut conn)
        .await
        .map_err(db_error("tenant"))?;
        drop(conn);
        self.tenants_by_ids(rows).await
    }

    async fn deleted_tenants(&self, since: DateTime<Utc>, limit: i64) -> RepoResult<Vec<Tenant>> {
        let mut conn = get(&self.pool).await?;
        let rows: Vec<IdRow> = sql_query(
            "SELECT id FROM management.tenants
             WHERE state = 'deleted' AND deleted_at > $1
             ORDER BY deleted_at DESC LIMIT $2",
        )
        .bind::<Timestamptz, _>(since)
        .bind::<BigInt, _>(limit)
        .load(&mut conn)
        .await
        .map_err(db_error("tenant"))?;
        drop(conn);
        self.tenants_by_ids(rows).await
    }

    async fn settled_tenants(&self, limit: i64) -> RepoResult<Vec<Tenant>> {
        let mut conn = get(&self.pool).await?;
        // Random order: with more settled tenants than `limit`, every one is looked at within a few
        // passes, without keeping a cursor.
        let rows: Vec<IdRow> = sql_query(
            "SELECT t.id FROM management.tenants t
             WHERE t.state IN ('awaiting_deploy', 'running', 'failed')
               AND NOT EXISTS (SELECT 1 FROM management.jobs j
                               WHERE j.tenant_id = t.id AND j.state IN ('queued', 'running'))
             ORDER BY random() LIMIT $1",
        )
        .bind::<BigInt, _>(limit)
        .load(&mut conn)
        .await
        .map_err(db_error("tenant"))?;
        drop(conn);
        self.tenants_by_ids(rows).await
    }

    async fn observe(&self, f: &Finding) -> RepoResult<FindingRecord> {
        let mut conn = get(&self.pool).await?;
        let row: FindingRow = sql_query(format!(
            "INSERT INTO management.reconcile_findings AS rf (kind, resource, tenant_id, detail)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (kind, resource) DO UPDATE SET
               last_seen_at = now(),
               times_seen = rf.times_seen + 1,
               detail = EXCLUDED.detail,
               tenant_id = EXCLUDED.tenant_id,
               first_seen_at = CASE WHEN rf.repaired_at IS NULL THEN rf.first_seen_at ELSE now() END,
               repaired_at = NULL
             RETURNING {FINDING_COLUMNS}"
        ))
        .bind::<Text, _>(f.kind.as_str())
        .bind::<Text, _>(&f.resource)
        .bind::<Nullable<SqlUuid>, _>(f.tenant_id.map(|t| t.as_uuid()))
        .bind::<Text, _>(&f.detail)
        .get_result(&mut conn)
        .await
        .map_err(db_error("reconcile finding"))?;
        row.try_into()
    }

    async fn mark_repaired(&self, kind: DriftKind, resource: &str) -> RepoResult<()> {
        let mut conn = get(&self.pool).await?;
        sql_query(
            "UPDATE management.reconcile_findings SET repaired_at = now()
             WHERE kind = $1 AND resource = $2 AND repaired_at IS NULL",
        )
        .bind::<Text, _>(kind.as_str())
        .bind::<Text, _>(resource)
        .execute(&mut conn)
        .await
        .map_err(db_error("reconcile finding"))?;
        Ok(())
    }

    async fn forget_unseen(&self, unseen_since: DateTime<Utc>) -> RepoResult<u64> {
        let mut conn = get(&self.pool).await?;
        let n = sql_query(
            "DELETE FROM management.reconcile_findings
             WHERE repaired_at IS NULL AND last_seen_at < $1",
        )
        .bind::<Timestamptz, _>(unseen_since)
        .execute(&mut conn)
        .await
        .map_err(db_error("reconcile finding"))?;
        Ok(n as u64)
    }

    async fn stats(&self) -> RepoResult<ReconcileStats> {
        let mut conn = get(&self.pool).await?;
        let stuck: CountRow = sql_query(format!(
            "SELECT count(*) AS n FROM management.tenants t
             WHERE t.state IN {TRANSITIONAL}
               AND NOT EXISTS (SELECT 1 FROM management.jobs j
                               WHERE j.tenant_id = t.id AND j.state IN ('queued', 'running'))"
        ))
        .get_result(&mut conn)
        .await
        .map_err(db_error("tenant"))?;
        let dead: CountRow =
            sql_query("SELECT count(*) AS n FROM management.jobs WHERE state = 'dead'")
                .get_result(&mut conn)
                .await
                .map_err(db_error("job"))?;
        let kinds: Vec<KindCountRow> = sql_query(
            "SELECT kind, count(*) AS found, count(repaired_at) AS repaired
             FROM management.reconcile_findings GROUP BY kind ORDER BY kind",
        )
        .load(&mut conn)
        .await
        .map_err(db_error("reconcile finding"))?;
        let mut stats = ReconcileStats {
            stuck_tenants: stuck.n,
            dead_jobs: dead.n,
            ..ReconcileStats::default()
        };
        for k in kinds {
            let Ok(kind) = k.kind.parse::<DriftKind>() else {
                continue;
            };
            stats.found.push((kind, k.found));
            stats.repaired.push((kind, k.repaired));
        }
        Ok(stats)
    }

    async fn findings(
        &self,
        tenant: Option<TenantId>,
        limit: i64,
    ) -> RepoResult<Vec<FindingRecord>> {
        let mut conn = get(&self.pool).await?;
        let rows: Vec<FindingRow> = sql_query(format!(
            "SELECT {FINDING_COLUMNS} FROM management.reconcile_findings
             WHERE $1::uuid IS NULL OR tenant_id = $1
             ORDER BY last_seen_at DESC LIMIT $2"
        ))
        .bind::<Nullable<SqlUuid>, _>(tenant.map(|t| t.as_uuid()))
        .bind::<BigInt, _>(limit)
        .load(&mut conn)
        .await
        .map_err(db_error("reconcile finding"))?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}

/// What `tenants force-delete` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForceDeleted {
    /// The state the tenant was in.
    pub from: String,
    /// Jobs of the tenant that were queued or running and are now cancelled.
    pub cancelled_jobs: u64,
    /// The cleanup job that will remove its resources.
    pub cleanup_job: Uuid,
}

/// The operator commands' queries (`management-api jobs ...`, `tenants force-delete`): they act on
/// the queue directly, outside any worker, so each one is a single guarded statement or transaction.
#[derive(Clone)]
pub struct PgOperatorStore {
    pool: PgPool,
    jobs: PgJobQueue,
}

impl std::fmt::Debug for PgOperatorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOperatorStore").finish_non_exhaustive()
    }
}

impl PgOperatorStore {
    pub fn new(pool: PgPool) -> Self {
        Self {
            jobs: PgJobQueue::new(pool.clone()),
            pool,
        }
    }

    /// Jobs, newest first, optionally only in `states` and of one tenant.
    pub async fn list_jobs(
        &self,
        states: &[String],
        tenant: Option<TenantId>,
        limit: i64,
    ) -> RepoResult<Vec<Job>> {
        let mut conn = get(&self.pool).await?;
        let rows: Vec<IdRow> = sql_query(
            "SELECT id FROM management.jobs
             WHERE (cardinality($1::text[]) = 0 OR state = ANY($1))
               AND ($2::uuid IS NULL OR tenant_id = $2)
             ORDER BY seq DESC LIMIT $3",
        )
        .bind::<Array<Text>, _>(states)
        .bind::<Nullable<SqlUuid>, _>(tenant.map(|t| t.as_uuid()))
        .bind::<BigInt, _>(limit)
        .load(&mut conn)
        .await
        .map_err(db_error("job"))?;
        drop(conn);
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(self.jobs.get(r.id).await?);
        }
        Ok(out)
    }

    pub async fn job(&self, id: Uuid) -> RepoResult<Job> {
        self.jobs.get(id).await
    }

    /// Runs a `dead` job again now with a fresh attempt budget. `NotFound` unless it is dead;
    /// `Conflict` when the same kind of job of the tenant is already queued.
    pub async fn retry_job(&self, id: Uuid) -> RepoResult<Job> {
        let mut conn = get(&self.pool).await?;
        let rows: Vec<IdRow> = sql_query(
            "UPDATE management.jobs
             SET state = 'queued', attempts = 0, run_after = now(), updated_at = now(),
                 last_error = 'retried by an operator; before: ' || coalesce(last_error, '')
             WHERE id = $1 AND state = 'dead' RETURNING id",
        )
        .bind::<SqlUuid, _>(id)
        .load(&mut conn)
        .await
        .map_err(db_error("job"))?;
        drop(conn);
        if rows.is_empty() {
            return Err(RepoError::NotFound { entity: "dead job" });
        }
        self.jobs.get(id).await
    }

    /// Cancels a queued or running job: it becomes `done` with the reason, and its fence moves on
    /// so a worker still running it has every further write refused. `NotFound` otherwise.
    pub async fn cancel_job(&self, id: Uuid, reason: &str) -> RepoResult<Job> {
        let mut conn = get(&self.pool).await?;
        let rows: Vec<IdRow> = sql_query(
            "UPDATE management.jobs
             SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, fence = fence + 1,
                 updated_at = now(), last_error = 'cancelled by an operator: ' || $2
             WHERE id = $1 AND state IN ('queued', 'running') RETURNING id",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Text, _>(reason)
        .load(&mut conn)
        .await
        .map_err(db_error("job"))?;
        drop(conn);
        if rows.is_empty() {
            return Err(RepoError::NotFound {
                entity: "queued or running job",
            });
        }
        self.jobs.get(id).await
    }

    /// Moves any tenant not yet `deleted` to `deleting`, cancels (and fences) its queued and running
    /// jobs, records `cleanup_started` and queues the cleanup, in one transaction.
    pub async fn force_delete(&self, tenant: TenantId, reason: &str) -> RepoResult<ForceDeleted> {
        #[derive(QueryableByName)]
        struct StateRow {
            #[diesel(sql_type = Text)]
            state: String,
        }
        let mut conn = get(&self.pool).await?;
        let reason = reason.to_owned();
        conn.transaction::<ForceDeleted, TxError, _>(async |conn| {
            let from: Vec<StateRow> =
                sql_query("SELECT state FROM management.tenants WHERE id = $1 FOR UPDATE")
                    .bind::<SqlUuid, _>(tenant.as_uuid())
                    .load(conn)
                    .await?;
            let Some(from) = from.into_iter().next() else {
                return Err(RepoError::NotFound { entity: "tenant" }.into());
            };
            if from.state == TenantState::Deleted.as_str() {
                return Err(RepoError::Conflict {
                    what: "the tenant is already deleted".to_owned(),
                }
                .into());
            }
            let cancelled = sql_query(
                "UPDATE management.jobs
                 SET state = 'done', lease_owner = NULL, lease_expires_at = NULL,
                     fence = fence + 1, updated_at = now(),
                     last_error = 'cancelled by an operator (force-delete): ' || $2
                 WHERE tenant_id = $1 AND state IN ('queued', 'running')",
            )
            .bind::<SqlUuid, _>(tenant.as_uuid())
            .bind::<Text, _>(&reason)
            .execute(conn)
            .await?;
            sql_query(
                "UPDATE management.tenants
                 SET state = 'deleting', status_message = 'deletion forced by an operator',
                     row_version = row_version + 1, updated_at = now()
                 WHERE id = $1",
            )
            .bind::<SqlUuid, _>(tenant.as_uuid())
            .execute(conn)
            .await?;
            let event = NewTenantEvent::new(
                tenant,
                EventType::CleanupStarted,
                TenantState::Deleting,
                Some(format!("deletion forced by an operator: {reason}")),
            );
            insert_event_in_tx(conn, &event).await?;
            let job: IdRow = sql_query(
                "INSERT INTO management.jobs (kind, tenant_id, payload, state, run_after)
                 VALUES ('cleanup', $1, '{}'::jsonb, 'queued', now())
                 RETURNING id",
            )
            .bind::<SqlUuid, _>(tenant.as_uuid())
            .get_result(conn)
            .await?;
            Ok(ForceDeleted {
                from: from.state,
                cancelled_jobs: cancelled as u64,
                cleanup_job: job.id,
            })
        })
        .await
        .map_err(|e| e.into_repo("tenant"))
    }
}
