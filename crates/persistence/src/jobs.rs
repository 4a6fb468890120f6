//! The durable job queue: claims with `FOR UPDATE SKIP LOCKED` so several API replicas work it side by
//! side, leases that expire when a worker dies, and at most one running job per tenant.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Double, Integer, Jsonb, Nullable, Text, Uuid as SqlUuid,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use mgmt_domain::{
    Fence, Job, JobKind, JobQueue, JobState, NewJob, QueueStats, RepoError, RepoResult, TenantId,
};
use uuid::Uuid;

use crate::error::db_error;
use crate::pool::{PgPool, get};
use crate::schema::jobs;
use crate::tx::TxError;

/// Longest `last_error` kept (errors of remote APIs can be whole HTML pages).
const MAX_ERROR_LEN: usize = 4000;
/// Candidates locked per claim attempt (jobs of busy tenants are skipped, so take a few).
const CLAIM_BATCH: i64 = 16;

#[derive(Queryable, Selectable, QueryableByName)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub(crate) struct JobRow {
    id: Uuid,
    kind: String,
    tenant_id: Option<Uuid>,
    payload: serde_json::Value,
    state: String,
    attempts: i32,
    max_attempts: Option<i32>,
    run_after: DateTime<Utc>,
    last_error: Option<String>,
    lease_owner: Option<String>,
    lease_expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    fence: i64,
}

impl TryFrom<JobRow> for Job {
    type Error = RepoError;
    fn try_from(r: JobRow) -> RepoResult<Self> {
        let kind: JobKind = r
            .kind
            .parse()
            .map_err(|_| RepoError::Other(format!("job {} has an unknown kind", r.id)))?;
        let state: JobState = r
            .state
            .parse()
            .map_err(|_| RepoError::Other(format!("job {} has an unknown state", r.id)))?;
        Ok(Job {
            id: r.id,
            kind,
            tenant_id: r.tenant_id.map(TenantId::from_uuid),
            payload: r.payload,
            state,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            run_after: r.run_after,
            last_error: r.last_error,
            lease_owner: r.lease_owner,
            lease_expires_at: r.lease_expires_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            fence: r.fence,
        })
    }
}

#[derive(QueryableByName)]
struct Candidate {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    tenant_id: Option<Uuid>,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

#[derive(QueryableByName)]
struct StatsRow {
    #[diesel(sql_type = BigInt)]
    queued: i64,
    #[diesel(sql_type = BigInt)]
    running: i64,
    #[diesel(sql_type = BigInt)]
    dead: i64,
    #[diesel(sql_type = BigInt)]
    retrying: i64,
}

/// Due queued jobs and running jobs whose lease expired, of tenants with no live running job, oldest
/// first. Rows another claimer holds are skipped, not waited for.
const CANDIDATES_SQL: &str = "
    SELECT j.id, j.tenant_id
    FROM management.jobs j
    WHERE j.kind = ANY($1)
      AND ((j.state = 'queued' AND j.run_after <= now())
           OR (j.state = 'running' AND j.lease_expires_at <= now()))
      AND NOT EXISTS (
          SELECT 1 FROM management.jobs r
          WHERE r.tenant_id = j.tenant_id AND r.id <> j.id
            AND r.state = 'running' AND r.lease_expires_at > now())
    ORDER BY j.run_after, j.seq
    LIMIT $2
    FOR UPDATE OF j SKIP LOCKED";

fn truncate(error: &str) -> String {
    match error.char_indices().nth(MAX_ERROR_LEN) {
        Some((cut, _)) => format!("{}…", &error[..cut]),
        None => error.to_owned(),
    }
}

fn lease_secs(lease: Duration) -> f64 {
    lease.as_secs_f64()
}

fn lost_lease() -> RepoError {
    RepoError::NotFound {
        entity: "job lease",
    }
}

/// How a lease ends: the job's next state, and the error and due time that come with it (`None` keeps
/// the stored value).
#[derive(AsChangeset)]
#[diesel(table_name = jobs)]
struct LeaseEnd<'a> {
    state: &'static str,
    last_error: Option<&'a str>,
    run_after: Option<DateTime<Utc>>,
}

impl LeaseEnd<'_> {
    fn to(state: JobState) -> Self {
        Self {
            state: state.as_str(),
            last_error: None,
            run_after: None,
        }
    }
}

/// Ends the lease of running job `id`: it takes `end`'s state and no worker holds it any more. With a
/// `holder`, only while that worker still holds it. The updated row, or `None` when nothing matched (the
/// lease was lost).
async fn release_lease(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    holder: Option<&str>,
    end: LeaseEnd<'_>,
) -> QueryResult<Option<JobRow>> {
    let mut update = diesel::update(jobs::table.find(id))
        .filter(jobs::state.eq(JobState::Running.as_str()))
        .set((
            end,
            jobs::lease_owner.eq(None::<String>),
            jobs::lease_expires_at.eq(None::<DateTime<Utc>>),
            jobs::updated_at.eq(diesel::dsl::now),
        ))
        .into_boxed();
    if let Some(worker) = holder {
        update = update.filter(jobs::lease_owner.eq(worker));
    }
    update
        .returning(JobRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// [`JobQueue`] on PostgreSQL.
#[derive(Clone)]
pub struct PgJobQueue {
    pool: PgPool,
}

impl PgJobQueue {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// [`release_lease`] of a job `worker` holds; an error when it no longer does.
    async fn release_held(&self, id: Uuid, worker: &str, end: LeaseEnd<'_>) -> RepoResult<()> {
        let mut conn = get(&self.pool).await?;
        release_lease(&mut conn, id, Some(worker), end)
            .await
            .map_err(db_error("job"))?
            .map(drop)
            .ok_or_else(lost_lease)
    }
}

impl std::fmt::Debug for PgJobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgJobQueue").finish_non_exhaustive()
    }
}

/// Takes the claim of one candidate, or says why not (`None`).
async fn try_claim(
    conn: &mut AsyncPgConnection,
    c: &Candidate,
    worker: &str,
    lease: Duration,
) -> Result<Option<JobRow>, TxError> {
    if let Some(tenant) = c.tenant_id {
        // Two claimers could each pick a different job of the same tenant (neither sees the other's
        // uncommitted claim). A per-tenant transaction lock, then a re-check under a fresh snapshot,
        // lets only one of them through.
        let lock: Locked = diesel::sql_query(
            "SELECT pg_try_advisory_xact_lock(hashtextextended('jobs:' || $1, 0)) AS locked",
        )
        .bind::<Text, _>(tenant.to_string())
        .get_result(conn)
        .await?;
        if !lock.locked {
            return Ok(None);
        }
        let busy: Locked = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM management.jobs WHERE tenant_id = $1 AND id <> $2
                            AND state = 'running' AND lease_expires_at > clock_timestamp()) AS locked",
        )
        .bind::<SqlUuid, _>(tenant)
        .bind::<SqlUuid, _>(c.id)
        .get_result(conn)
        .await?;
        if busy.locked {
            return Ok(None);
        }
    }
    // A reclaim (the lease of a running job expired: its worker crashed or lost the database) does
    // not count an attempt: the run did not fail, it was cut off, and a job on its last attempt would
    // otherwise go dead with its tenant left half-way. Every claim takes a new fencing token, so the
    // cut-off run (if it still lives) can no longer write.
    let row = diesel::sql_query(
        "UPDATE management.jobs
         SET attempts = attempts + CASE WHEN state = 'queued' THEN 1 ELSE 0 END,
             state = 'running', lease_owner = $2, fence = fence + 1,
             lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
         WHERE id = $1
         RETURNING *",
    )
    .bind::<SqlUuid, _>(c.id)
    .bind::<Text, _>(worker)
    .bind::<Double, _>(lease_secs(lease))
    .get_result::<JobRow>(conn)
    .await?;
    Ok(Some(row))
}

#[async_trait]
impl JobQueue for PgJobQueue {
    async fn enqueue(&self, job: NewJob) -> RepoResult<Job> {
        let mut conn = get(&self.pool).await?;
        let tenant = job.tenant_id.map(|t| t.as_uuid());
        // The partial unique index makes the dedupe race-free; the loop covers the queued duplicate
        // being claimed between the insert and the read.
        for _ in 0..3 {
            let inserted = insert_job(&mut conn, &job).await.map_err(db_error("job"))?;
            if let Some(row) = inserted {
                return row.try_into();
            }
            let existing = jobs::table
                .filter(jobs::kind.eq(job.kind.as_str()))
                .filter(jobs::tenant_id.eq(tenant))
                .filter(jobs::state.eq(JobState::Queued.as_str()))
                .select(JobRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(db_error("job"))?;
            if let Some(row) = existing {
                return row.try_into();
            }
        }
        Err(RepoError::Unavailable(
            "job queue kept changing; retry".to_owned(),
        ))
    }

    async fn claim(
        &self,
        worker: &str,
        kinds: &[JobKind],
        lease: Duration,
    ) -> RepoResult<Option<Job>> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let kinds: Vec<&str> = kinds.iter().map(JobKind::as_str).collect();
        let mut conn = get(&self.pool).await?;
        let claimed = conn
            .transaction::<_, TxError, _>(async |conn| {
                let candidates: Vec<Candidate> = diesel::sql_query(CANDIDATES_SQL)
                    .bind::<Array<Text>, _>(&kinds)
                    .bind::<BigInt, _>(CLAIM_BATCH)
                    .load(conn)
                    .await?;
                for c in &candidates {
                    if let Some(row) = try_claim(conn, c, worker, lease).await? {
                        return Ok(Some(row));
                    }
                }
                Ok(None)
            })
            .await
            .map_err(|e| e.into_repo("job"))?;
        claimed.map(TryInto::try_into).transpose()
    }

    async fn heartbeat(&self, id: Uuid, worker: &str, lease: Duration) -> RepoResult<()> {
        let mut conn = get(&self.pool).await?;
        let n = diesel::sql_query(
            "UPDATE management.jobs
             SET lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Text, _>(worker)
        .bind::<Double, _>(lease_secs(lease))
        .execute(&mut conn)
        .await
        .map_err(db_error("job"))?;
        if n == 0 { Err(lost_lease()) } else { Ok(()) }
    }

    async fn complete(&self, id: Uuid, worker: &str) -> RepoResult<()> {
        self.release_held(id, worker, LeaseEnd::to(JobState::Done))
            .await
    }

    /// Requeues the job for `run_after` with `error` recorded, or marks it dead when its attempts are
    /// used up. If another job of the same kind and tenant was enqueued while this one ran, that one
    /// carries the work on: this one is closed as done, its error noting the successor.
    async fn retry_later(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        run_after: DateTime<Utc>,
    ) -> RepoResult<Job> {
        let error = truncate(error);
        let mut conn = get(&self.pool).await?;
        let row = conn
            .transaction::<_, TxError, _>(async |conn| {
                let job: JobRow = jobs::table
                    .find(id)
                    .filter(jobs::lease_owner.eq(worker))
                    .filter(jobs::state.eq(JobState::Running.as_str()))
                    .select(JobRow::as_select())
                    .for_update()
                    .first(conn)
                    .await
                    .optional()?
                    .ok_or_else(lost_lease)?;
                let out_of_attempts = job.max_attempts.is_some_and(|max| job.attempts >= max);
                let successor: Option<Uuid> = match (out_of_attempts, job.tenant_id) {
                    (false, Some(tenant)) => jobs::table
                        .filter(jobs::kind.eq(&job.kind))
                        .filter(jobs::tenant_id.eq(tenant))
                        .filter(jobs::state.eq(JobState::Queued.as_str()))
                        .select(jobs::id)
                        .first(conn)
                        .await
                        .optional()?,
                    _ => None,
                };
                let (state, last_error) = match (out_of_attempts, successor) {
                    (true, _) => (JobState::Dead, error.clone()),
                    (false, Some(next)) => (
                        JobState::Done,
                        format!("{error} (superseded by queued job {next})"),
                    ),
                    (false, None) => (JobState::Queued, error.clone()),
                };
                let end = LeaseEnd {
                    last_error: Some(&last_error),
                    run_after: Some(run_after),
                    ..LeaseEnd::to(state)
                };
                let row = release_lease(conn, id, Some(worker), end)
                    .await?
                    .ok_or_else(lost_lease)?;
                Ok(row)
            })
            .await
            .map_err(|e| e.into_repo("job"))?;
        row.try_into()
    }

    async fn fail_permanently(&self, id: Uuid, worker: &str, error: &str) -> RepoResult<()> {
        let error = truncate(error);
        let end = LeaseEnd {
            last_error: Some(&error),
            ..LeaseEnd::to(JobState::Dead)
        };
        self.release_held(id, worker, end).await
    }

    async fn get(&self, id: Uuid) -> RepoResult<Job> {
        let mut conn = get(&self.pool).await?;
        jobs::table
            .find(id)
            .select(JobRow::as_select())
            .first(&mut conn)
            .await
            .map_err(db_error("job"))?
            .try_into()
    }

    async fn list_for_tenant(&self, tenant: TenantId) -> RepoResult<Vec<Job>> {
        let mut conn = get(&self.pool).await?;
        jobs::table
            .filter(jobs::tenant_id.eq(tenant.as_uuid()))
            .order(jobs::seq.desc())
            .select(JobRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error("job"))?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    async fn check_fence(&self, fence: Fence) -> RepoResult<()> {
        let mut conn = get(&self.pool).await?;
        if fence_holds(&mut conn, fence)
            .await
            .map_err(db_error("job"))?
        {
            Ok(())
        } else {
            Err(RepoError::fenced())
        }
    }

    async fn requeue_unburned(
        &self,
        id: Uuid,
        worker: &str,
        reason: &str,
        run_after: DateTime<Utc>,
    ) -> RepoResult<Job> {
        let reason = truncate(reason);
        let mut conn = get(&self.pool).await?;
        let row = conn
            .transaction::<_, TxError, _>(async |conn| {
                // A queued job of the same kind and tenant (enqueued while this one ran) carries the
                // work on, as in `retry_later`: this one closes as done instead of a second queued one.
                let successor: Option<Uuid> = diesel::sql_query(
                    "SELECT q.id FROM management.jobs j JOIN management.jobs q
                       ON q.kind = j.kind AND q.tenant_id = j.tenant_id AND q.state = 'queued'
                     WHERE j.id = $1",
                )
                .bind::<SqlUuid, _>(id)
                .get_result::<IdRow>(conn)
                .await
                .optional()?
                .map(|c| c.id);
                let (state, note) = match successor {
                    Some(next) => ("done", format!("{reason} (superseded by queued job {next})")),
                    None => ("queued", reason.clone()),
                };
                let row: Option<JobRow> = diesel::sql_query(
                    "UPDATE management.jobs
                     SET state = $5, attempts = GREATEST(attempts - 1, 0), last_error = $3,
                         run_after = $4, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
                     WHERE id = $1 AND lease_owner = $2 AND state = 'running'
                     RETURNING *",
                )
                .bind::<SqlUuid, _>(id)
                .bind::<Text, _>(worker)
                .bind::<Text, _>(&note)
                .bind::<diesel::sql_types::Timestamptz, _>(run_after)
                .bind::<Text, _>(state)
                .get_result(conn)
                .await
                .optional()?;
                Ok(row.ok_or_else(lost_lease)?)
            })
            .await
            .map_err(|e| e.into_repo("job"))?;
        row.try_into()
    }

    async fn stats(&self) -> RepoResult<QueueStats> {
        let mut conn = get(&self.pool).await?;
        let s: StatsRow = diesel::sql_query(
            "SELECT count(*) FILTER (WHERE state = 'queued') AS queued,
                    count(*) FILTER (WHERE state = 'running') AS running,
                    count(*) FILTER (WHERE state = 'dead') AS dead,
                    count(*) FILTER (WHERE state = 'queued' AND attempts > 0) AS retrying
             FROM management.jobs",
        )
        .get_result(&mut conn)
        .await
        .map_err(db_error("job"))?;
        Ok(QueueStats {
            queued: s.queued,
            running: s.running,
            dead: s.dead,
            retrying: s.retrying,
        })
    }
}

/// Inserts `job` unless a job of its kind and tenant is already queued (`None` then: that one will
/// do the work). Usable inside a caller's transaction (the transactional outbox).
pub(crate) async fn insert_job(
    conn: &mut AsyncPgConnection,
    job: &NewJob,
) -> QueryResult<Option<JobRow>> {
    diesel::sql_query(
        "INSERT INTO management.jobs (kind, tenant_id, payload, max_attempts)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (kind, tenant_id) WHERE state = 'queued' DO NOTHING
         RETURNING *",
    )
    .bind::<Text, _>(job.kind.as_str())
    .bind::<Nullable<SqlUuid>, _>(job.tenant_id.map(|t| t.as_uuid()))
    .bind::<Jsonb, _>(&job.payload)
    .bind::<Nullable<Integer>, _>(job.max_attempts)
    .get_result(conn)
    .await
    .optional()
}

/// Whether `fence` still holds, checked inside the caller's transaction: the job row is locked
/// `FOR SHARE`, so a claim (which updates it) cannot slip between this check and the caller's write.
pub(crate) async fn fence_holds(conn: &mut AsyncPgConnection, fence: Fence) -> QueryResult<bool> {
    let held: Locked = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM management.jobs
                        WHERE id = $1 AND fence = $2 AND state = 'running'
                          AND lease_expires_at > clock_timestamp()
                        FOR SHARE) AS locked",
    )
    .bind::<SqlUuid, _>(fence.job_id)
    .bind::<BigInt, _>(fence.token)
    .get_result(conn)
    .await?;
    Ok(held.locked)
}

/// Fails the caller's transaction with [`RepoError::fenced`] unless `fence` (when given) holds.
pub(crate) async fn require_fence(
    conn: &mut AsyncPgConnection,
    fence: Option<Fence>,
) -> Result<(), TxError> {
    match fence {
        Some(f) if !fence_holds(conn, f).await? => Err(RepoError::fenced().into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_errors_are_truncated_on_a_char_boundary() {
        let long = "é".repeat(MAX_ERROR_LEN + 10);
        let t = truncate(&long);
        assert_eq!(t.chars().count(), MAX_ERROR_LEN + 1);
        assert_eq!(truncate("short"), "short");
    }
}
