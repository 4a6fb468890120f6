//! The ordered event log of each tenant (what `/status` and the events stream show).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use mgmt_domain::{
    EventRepository, EventType, Fence, NewTenantEvent, RepoError, RepoResult, TenantEvent, TenantId,
};
use uuid::Uuid;

use crate::error::db_error;
use crate::jobs::require_fence;
use crate::pool::{PgPool, get};
use crate::schema::tenant_events;
use crate::tx::TxError;

/// Most events one `list_after` returns.
pub const MAX_EVENTS_PER_PAGE: i64 = 1000;

#[derive(Queryable, Selectable)]
#[diesel(table_name = tenant_events, check_for_backend(diesel::pg::Pg))]
pub(crate) struct EventRow {
    id: i64,
    tenant_id: Uuid,
    event_type: String,
    status: String,
    message: Option<String>,
    created_at: DateTime<Utc>,
}

impl TryFrom<EventRow> for TenantEvent {
    type Error = RepoError;
    fn try_from(r: EventRow) -> RepoResult<Self> {
        let event_type: EventType = r
            .event_type
            .parse()
            .map_err(|_| RepoError::Other(format!("event {} has an unknown type", r.id)))?;
        Ok(TenantEvent {
            id: r.id,
            tenant_id: TenantId::from_uuid(r.tenant_id),
            event_type,
            status: r.status,
            message: r.message,
            created_at: r.created_at,
        })
    }
}

/// Appends an event inside the caller's transaction.
///
/// The per-tenant advisory lock, held until commit, serializes the inserts of one tenant's events, so
/// their ids commit in increasing order: a stream reading `id > last_seen` never misses an event that
/// committed late with a smaller id.
pub(crate) async fn insert_event_in_tx(
    conn: &mut AsyncPgConnection,
    event: &NewTenantEvent,
) -> Result<EventRow, TxError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended('tenant_events:' || $1, 0))")
        .bind::<Text, _>(event.tenant_id.to_string())
        .execute(conn)
        .await?;
    let row = diesel::insert_into(tenant_events::table)
        .values((
            tenant_events::tenant_id.eq(event.tenant_id.as_uuid()),
            tenant_events::event_type.eq(event.event_type.as_str()),
            tenant_events::status.eq(&event.status),
            tenant_events::message.eq(&event.message),
        ))
        .returning(EventRow::as_returning())
        .get_result(conn)
        .await?;
    Ok(row)
}

/// [`EventRepository`] on PostgreSQL.
#[derive(Clone)]
pub struct PgEventRepository {
    pool: PgPool,
}

impl PgEventRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgEventRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEventRepository").finish_non_exhaustive()
    }
}

#[async_trait]
impl EventRepository for PgEventRepository {
    async fn append(&self, event: NewTenantEvent) -> RepoResult<TenantEvent> {
        let mut conn = get(&self.pool).await?;
        let row = conn
            .transaction::<_, TxError, _>(async |conn| insert_event_in_tx(conn, &event).await)
            .await
            .map_err(|e| e.into_repo("tenant"))?;
        row.try_into()
    }

    /// `limit` is clamped to 1..=[`MAX_EVENTS_PER_PAGE`].
    async fn list_after(
        &self,
        tenant: TenantId,
        after: i64,
        limit: i64,
    ) -> RepoResult<Vec<TenantEvent>> {
        let mut conn = get(&self.pool).await?;
        tenant_events::table
            .filter(tenant_events::tenant_id.eq(tenant.as_uuid()))
            .filter(tenant_events::id.gt(after))
            .order(tenant_events::id.asc())
            .limit(limit.clamp(1, MAX_EVENTS_PER_PAGE))
            .select(EventRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error("event"))?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    async fn append_fenced(
        &self,
        event: NewTenantEvent,
        fence: Option<Fence>,
    ) -> RepoResult<TenantEvent> {
        let mut conn = get(&self.pool).await?;
        let row = conn
            .transaction::<_, TxError, _>(async |conn| {
                require_fence(conn, fence).await?;
                insert_event_in_tx(conn, &event).await
            })
            .await
            .map_err(|e| e.into_repo("tenant"))?;
        row.try_into()
    }

    async fn latest(&self, tenant: TenantId) -> RepoResult<Option<TenantEvent>> {
        let mut conn = get(&self.pool).await?;
        tenant_events::table
            .filter(tenant_events::tenant_id.eq(tenant.as_uuid()))
            .order(tenant_events::id.desc())
            .select(EventRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error("event"))?
            .map(TryInto::try_into)
            .transpose()
    }
}
