//! The registry gateway's live bookkeeping: which tenant may push right now, its open upload sessions
//! (ownership, concurrency, bytes) and its manifest pushes in flight. Raw SQL where a statement must
//! lock and check in one step.

use std::time::Duration;

use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, RunQueryDsl};
use mgmt_domain::{PushAccess, RepoResult, TenantId, TenantState, UploadSession};
use uuid::Uuid;

use crate::error::db_error;
use crate::pool::{PgPool, get};
use crate::tx::TxError;

#[derive(QueryableByName)]
struct AccessRow {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Text)]
    status: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct SessionRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    tenant_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    upload_id: Option<String>,
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

/// Seconds as a PostgreSQL interval literal bound as text (`'900 seconds'`).
fn interval(d: Duration) -> String {
    format!("{} seconds", d.as_secs().max(1))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// States whose credentials no longer act: a push racing the cleanup of the tag would recreate it.
const GONE: [TenantState; 2] = [TenantState::Deleting, TenantState::Deleted];

pub(crate) async fn push_access(pool: &PgPool, tenant: TenantId) -> RepoResult<PushAccess> {
    let mut conn = get(pool).await?;
    let row: Option<AccessRow> = sql_query(
        "SELECT t.state, c.status FROM management.tenants t
         JOIN management.customers c ON c.id = t.customer_id WHERE t.id = $1",
    )
    .bind::<SqlUuid, _>(tenant.as_uuid())
    .get_result(&mut conn)
    .await
    .map(Some)
    .or_else(|e| match e {
        diesel::result::Error::NotFound => Ok(None),
        e => Err(e),
    })
    .map_err(db_error("tenant"))?;
    Ok(match row {
        None => PushAccess::TenantGone,
        Some(r) if GONE.iter().any(|s| s.as_str() == r.state) => PushAccess::TenantGone,
        Some(r) if r.status != "active" => PushAccess::Suspended,
        Some(_) => PushAccess::Allowed,
    })
}

pub(crate) async fn reserve_upload(
    pool: &PgPool,
    tenant: TenantId,
    max_open: u32,
    idle: Duration,
) -> RepoResult<Option<Uuid>> {
    let mut conn = get(pool).await?;
    let tenant = tenant.as_uuid();
    let idle = interval(idle);
    conn.transaction::<_, TxError, _>(async |conn| {
        // One reservation at a time per tenant, so the count below cannot be raced past the limit.
        sql_query(
            "SELECT pg_advisory_xact_lock(hashtextextended('registry-uploads:' || $1::text, 0))",
        )
        .bind::<SqlUuid, _>(tenant)
        .execute(conn)
        .await?;
        sql_query(
            "DELETE FROM management.registry_uploads
             WHERE tenant_id = $1 AND last_active_at < now() - $2::interval",
        )
        .bind::<SqlUuid, _>(tenant)
        .bind::<Text, _>(&idle)
        .execute(conn)
        .await?;
        let open: Count =
            sql_query("SELECT count(*) AS n FROM management.registry_uploads WHERE tenant_id = $1")
                .bind::<SqlUuid, _>(tenant)
                .get_result(conn)
                .await?;
        if open.n >= i64::from(max_open) {
            return Ok(None);
        }
        let id = Uuid::new_v4();
        sql_query("INSERT INTO management.registry_uploads (id, tenant_id) VALUES ($1, $2)")
            .bind::<SqlUuid, _>(id)
            .bind::<SqlUuid, _>(tenant)
            .execute(conn)
            .await?;
        Ok(Some(id))
    })
    .await
    .map_err(|e| e.into_repo("registry upload"))
}

pub(crate) async fn bind_upload(pool: &PgPool, session: Uuid, upload_id: &str) -> RepoResult<()> {
    let mut conn = get(pool).await?;
    sql_query(
        "UPDATE management.registry_uploads SET upload_id = $2, last_active_at = now() WHERE id = $1",
    )
    .bind::<SqlUuid, _>(session)
    .bind::<Text, _>(upload_id)
    .execute(&mut conn)
    .await
    .map_err(db_error("registry upload"))?;
    Ok(())
}

pub(crate) async fn upload_session(
    pool: &PgPool,
    upload_id: &str,
) -> RepoResult<Option<UploadSession>> {
    let mut conn = get(pool).await?;
    let rows: Vec<SessionRow> = sql_query(
        "SELECT id, tenant_id, upload_id, bytes FROM management.registry_uploads WHERE upload_id = $1",
    )
    .bind::<Text, _>(upload_id)
    .load(&mut conn)
    .await
    .map_err(db_error("registry upload"))?;
    Ok(rows.into_iter().next().map(|r| UploadSession {
        id: r.id,
        tenant_id: TenantId::from_uuid(r.tenant_id),
        upload_id: r.upload_id,
        bytes: u64::try_from(r.bytes).unwrap_or(0),
    }))
}

pub(crate) async fn add_upload_bytes(pool: &PgPool, session: Uuid, bytes: u64) -> RepoResult<()> {
    let mut conn = get(pool).await?;
    sql_query(
        "UPDATE management.registry_uploads SET bytes = bytes + $2, last_active_at = now() WHERE id = $1",
    )
    .bind::<SqlUuid, _>(session)
    .bind::<BigInt, _>(to_i64(bytes))
    .execute(&mut conn)
    .await
    .map_err(db_error("registry upload"))?;
    Ok(())
}

pub(crate) async fn release_upload(pool: &PgPool, session: Uuid) -> RepoResult<()> {
    let mut conn = get(pool).await?;
    sql_query("DELETE FROM management.registry_uploads WHERE id = $1")
        .bind::<SqlUuid, _>(session)
        .execute(&mut conn)
        .await
        .map_err(db_error("registry upload"))?;
    Ok(())
}

pub(crate) async fn finish_upload(
    pool: &PgPool,
    tenant: TenantId,
    session: Option<Uuid>,
    digest: &str,
    size: u64,
) -> RepoResult<()> {
    let mut conn = get(pool).await?;
    let tenant = tenant.as_uuid();
    conn.transaction::<_, TxError, _>(async |conn| {
        // A blob known before only as a reference (or from before sizes were kept) gets its size now.
        sql_query(
            "INSERT INTO management.registry_tenant_digests (tenant_id, digest, size) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, digest) DO UPDATE
             SET size = COALESCE(management.registry_tenant_digests.size, EXCLUDED.size)",
        )
        .bind::<SqlUuid, _>(tenant)
        .bind::<Text, _>(digest)
        .bind::<BigInt, _>(to_i64(size))
        .execute(conn)
        .await?;
        if let Some(session) = session {
            sql_query("DELETE FROM management.registry_uploads WHERE id = $1")
                .bind::<SqlUuid, _>(session)
                .execute(conn)
                .await?;
        }
        Ok(())
    })
    .await
    .map_err(|e| e.into_repo("registry blob"))
}

pub(crate) async fn tenant_usage(
    pool: &PgPool,
    tenant: TenantId,
    window: Duration,
    idle: Duration,
) -> RepoResult<u64> {
    let mut conn = get(pool).await?;
    let n: Count = sql_query(
        "SELECT (COALESCE((SELECT sum(size) FROM management.registry_tenant_digests
                           WHERE tenant_id = $1 AND first_seen_at >= now() - $2::interval), 0)
               + COALESCE((SELECT sum(bytes) FROM management.registry_uploads
                           WHERE tenant_id = $1 AND last_active_at >= now() - $3::interval), 0))::bigint AS n",
    )
    .bind::<SqlUuid, _>(tenant.as_uuid())
    .bind::<Text, _>(interval(window))
    .bind::<Text, _>(interval(idle))
    .get_result(&mut conn)
    .await
    .map_err(db_error("registry usage"))?;
    Ok(u64::try_from(n.n).unwrap_or(0))
}

pub(crate) async fn begin_manifest_push(
    pool: &PgPool,
    tenant: TenantId,
) -> RepoResult<Option<i64>> {
    let mut conn = get(pool).await?;
    // FOR SHARE on the tenant row: a concurrent move to `deleting` either commits first (and this
    // inserts nothing) or waits until this row is committed (and cleanup then sees it).
    let rows: Vec<Id> = sql_query(
        "INSERT INTO management.registry_manifest_pushes (tenant_id)
         SELECT t.id FROM management.tenants t
         JOIN management.customers c ON c.id = t.customer_id
         WHERE t.id = $1 AND t.state NOT IN ('deleting', 'deleted') AND c.status = 'active'
         FOR SHARE OF t
         RETURNING id",
    )
    .bind::<SqlUuid, _>(tenant.as_uuid())
    .load(&mut conn)
    .await
    .map_err(db_error("registry manifest push"))?;
    Ok(rows.into_iter().next().map(|r| r.id))
}

pub(crate) async fn end_manifest_push(pool: &PgPool, id: i64) -> RepoResult<()> {
    let mut conn = get(pool).await?;
    sql_query("DELETE FROM management.registry_manifest_pushes WHERE id = $1")
        .bind::<BigInt, _>(id)
        .execute(&mut conn)
        .await
        .map_err(db_error("registry manifest push"))?;
    Ok(())
}

pub(crate) async fn manifest_pushes_in_flight(
    pool: &PgPool,
    tenant: TenantId,
    window: Duration,
) -> RepoResult<u64> {
    let mut conn = get(pool).await?;
    let n: Count = sql_query(
        "SELECT count(*) AS n FROM management.registry_manifest_pushes
         WHERE tenant_id = $1 AND started_at >= now() - $2::interval",
    )
    .bind::<SqlUuid, _>(tenant.as_uuid())
    .bind::<Text, _>(interval(window))
    .get_result(&mut conn)
    .await
    .map_err(db_error("registry manifest push"))?;
    Ok(u64::try_from(n.n).unwrap_or(0))
}
