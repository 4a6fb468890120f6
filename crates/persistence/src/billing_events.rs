//! Paddle's webhook events, stored by their event id before anything acts on them: the primary key is
//! what makes a redelivery a no-op.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use mgmt_domain::{BillingEvent, BillingEventRepository, NewBillingEvent, RepoResult};

use crate::error::db_error;
use crate::pool::{PgPool, get};
use crate::schema::billing_events;

#[derive(Queryable, Selectable)]
#[diesel(table_name = billing_events, check_for_backend(diesel::pg::Pg))]
struct EventRow {
    id: String,
    event_type: String,
    occurred_at: DateTime<Utc>,
    payload: serde_json::Value,
    received_at: DateTime<Utc>,
    processed_at: Option<DateTime<Utc>>,
    outcome: Option<String>,
    attempts: i32,
}

impl From<EventRow> for BillingEvent {
    fn from(r: EventRow) -> Self {
        BillingEvent {
            id: r.id,
            event_type: r.event_type,
            occurred_at: r.occurred_at,
            payload: r.payload,
            received_at: r.received_at,
            processed_at: r.processed_at,
            outcome: r.outcome,
            attempts: r.attempts,
        }
    }
}

/// [`BillingEventRepository`] on PostgreSQL.
#[derive(Clone)]
pub struct PgBillingEventRepository {
    pool: PgPool,
}

impl PgBillingEventRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgBillingEventRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBillingEventRepository")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl BillingEventRepository for PgBillingEventRepository {
    async fn insert(&self, new: NewBillingEvent) -> RepoResult<bool> {
        let mut conn = get(&self.pool).await?;
        let inserted = diesel::insert_into(billing_events::table)
            .values((
                billing_events::id.eq(&new.id),
                billing_events::event_type.eq(&new.event_type),
                billing_events::occurred_at.eq(new.occurred_at),
                billing_events::payload.eq(&new.payload),
            ))
            .on_conflict(billing_events::id)
            .do_nothing()
            .execute(&mut conn)
            .await
            .map_err(db_error("billing event"))?;
        Ok(inserted == 1)
    }

    async fn get(&self, id: &str) -> RepoResult<BillingEvent> {
        let mut conn = get(&self.pool).await?;
        billing_events::table
            .find(id)
            .select(EventRow::as_select())
            .first(&mut conn)
            .await
            .map(BillingEvent::from)
            .map_err(db_error("billing event"))
    }

    async fn list(&self, limit: i64) -> RepoResult<Vec<BillingEvent>> {
        let mut conn = get(&self.pool).await?;
        let rows = billing_events::table
            .order((
                billing_events::received_at.desc(),
                billing_events::id.desc(),
            ))
            .limit(limit)
            .select(EventRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error("billing event"))?;
        Ok(rows.into_iter().map(BillingEvent::from).collect())
    }

    async fn record_outcome(&self, id: &str, outcome: &str) -> RepoResult<()> {
        let mut conn = get(&self.pool).await?;
        diesel::update(billing_events::table.find(id))
            .set((
                billing_events::outcome.eq(outcome),
                billing_events::processed_at.eq(diesel::dsl::now),
                billing_events::attempts.eq(billing_events::attempts + 1),
            ))
            .execute(&mut conn)
            .await
            .map_err(db_error("billing event"))?;
        Ok(())
    }
}
