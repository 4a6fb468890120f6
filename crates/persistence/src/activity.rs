//! The CLI's login/logout reports, per customer.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use mgmt_domain::{Activity, ActivityRepository, CustomerId, NewActivity, RepoError, RepoResult};
use uuid::Uuid;

use crate::error::db_error;
use crate::pool::{PgPool, get};
use crate::schema::activity_events;

/// Most activities one `list_for_customer` returns.
pub const MAX_ACTIVITIES_PER_PAGE: i64 = 1000;

#[derive(Queryable, Selectable)]
#[diesel(table_name = activity_events, check_for_backend(diesel::pg::Pg))]
struct ActivityRow {
    id: i64,
    customer_id: Uuid,
    event: String,
    client_timestamp: DateTime<Utc>,
    received_at: DateTime<Utc>,
    user_id: String,
}

impl TryFrom<ActivityRow> for Activity {
    type Error = RepoError;
    fn try_from(r: ActivityRow) -> RepoResult<Self> {
        let event = r
            .event
            .parse()
            .map_err(|_| RepoError::Other(format!("activity {} has an unknown event", r.id)))?;
        Ok(Activity {
            id: r.id,
            customer_id: CustomerId::from_uuid(r.customer_id),
            event,
            client_timestamp: r.client_timestamp,
            received_at: r.received_at,
            user_id: r.user_id,
        })
    }
}

/// [`ActivityRepository`] on PostgreSQL.
#[derive(Clone)]
pub struct PgActivityRepository {
    pool: PgPool,
}

impl PgActivityRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgActivityRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgActivityRepository")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ActivityRepository for PgActivityRepository {
    async fn record(&self, new: NewActivity) -> RepoResult<Activity> {
        let mut conn = get(&self.pool).await?;
        diesel::insert_into(activity_events::table)
            .values((
                activity_events::customer_id.eq(new.customer_id.as_uuid()),
                activity_events::event.eq(new.event.as_str()),
                activity_events::client_timestamp.eq(new.client_timestamp),
                activity_events::user_id.eq(&new.user_id),
            ))
            .returning(ActivityRow::as_returning())
            .get_result(&mut conn)
            .await
            .map_err(db_error("customer"))?
            .try_into()
    }

    /// `limit` is clamped to 1..=[`MAX_ACTIVITIES_PER_PAGE`].
    async fn list_for_customer(
        &self,
        customer: CustomerId,
        limit: i64,
    ) -> RepoResult<Vec<Activity>> {
        let mut conn = get(&self.pool).await?;
        activity_events::table
            .filter(activity_events::customer_id.eq(customer.as_uuid()))
            .order(activity_events::id.desc())
            .limit(limit.clamp(1, MAX_ACTIVITIES_PER_PAGE))
            .select(ActivityRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error("activity"))?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }
}
