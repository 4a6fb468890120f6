//! Tenants' Paddle subscriptions (one per tenant) and the cancellations Paddle confirmed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::RunQueryDsl;
use mgmt_domain::{
    CancellationRecord, CustomerId, NewSubscription, RepoError, RepoResult, Subscription,
    SubscriptionEventUpdate, SubscriptionGrace, SubscriptionRepository, TenantId,
};
use uuid::Uuid;

use crate::error::db_error;
use crate::pool::{PgPool, get};
use crate::schema::subscriptions;

#[derive(Queryable, Selectable)]
#[diesel(table_name = subscriptions, check_for_backend(diesel::pg::Pg))]
struct SubscriptionRow {
    id: String,
    tenant_id: Uuid,
    customer_id: Uuid,
    paddle_customer_id: Option<String>,
    status: String,
    scheduled_cancel_at: Option<DateTime<Utc>>,
    canceled_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    plan_id: Option<String>,
    last_event_at: Option<DateTime<Utc>>,
}

/// What the billing sweep reads of a subscription.
#[derive(Queryable, Selectable)]
#[diesel(table_name = subscriptions, check_for_backend(diesel::pg::Pg))]
struct GraceRow {
    id: String,
    tenant_id: Uuid,
    status: String,
    status_since: DateTime<Utc>,
    canceled_at: Option<DateTime<Utc>>,
    machine_stopped_at: Option<DateTime<Utc>>,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = RepoError;
    fn try_from(r: SubscriptionRow) -> RepoResult<Self> {
        let status = r.status.parse().map_err(|_| {
            RepoError::Other(format!("subscription {} has an unknown status", r.id))
        })?;
        Ok(Subscription {
            id: r.id,
            tenant_id: TenantId::from_uuid(r.tenant_id),
            customer_id: CustomerId::from_uuid(r.customer_id),
            paddle_customer_id: r.paddle_customer_id,
            status,
            scheduled_cancel_at: r.scheduled_cancel_at,
            canceled_at: r.canceled_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            plan_id: r.plan_id,
            last_event_at: r.last_event_at,
        })
    }
}

fn insert_error(e: DieselError) -> RepoError {
    if let DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = &e {
        let what = match info.constraint_name() {
            Some("subscriptions_pkey") => "the subscription is recorded already",
            Some("subscriptions_tenant_id_key") => "the tenant has a subscription already",
            _ => "a unique value is already taken",
        };
        return RepoError::Conflict {
            what: what.to_owned(),
        };
    }
    db_error("subscription")(e)
}

/// [`SubscriptionRepository`] on PostgreSQL.
#[derive(Clone)]
pub struct PgSubscriptionRepository {
    pool: PgPool,
}

impl PgSubscriptionRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgSubscriptionRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSubscriptionRepository")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SubscriptionRepository for PgSubscriptionRepository {
    async fn insert(&self, new: NewSubscription) -> RepoResult<Subscription> {
        let mut conn = get(&self.pool).await?;
        diesel::insert_into(subscriptions::table)
            .values((
                subscriptions::id.eq(&new.id),
                subscriptions::tenant_id.eq(new.tenant_id.as_uuid()),
                subscriptions::customer_id.eq(new.customer_id.as_uuid()),
                subscriptions::paddle_customer_id.eq(&new.paddle_customer_id),
                subscriptions::status.eq(new.status.as_str()),
            ))
            .returning(SubscriptionRow::as_returning())
            .get_result(&mut conn)
            .await
            .map_err(insert_error)?
            .try_into()
    }

    async fn get_for_tenant(&self, tenant: TenantId) -> RepoResult<Option<Subscription>> {
        let mut conn = get(&self.pool).await?;
        subscriptions::table
            .filter(subscriptions::tenant_id.eq(tenant.as_uuid()))
            .select(SubscriptionRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error("subscription"))?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn list_for_customer(&self, customer: CustomerId) -> RepoResult<Vec<Subscription>> {
        let mut conn = get(&self.pool).await?;
        subscriptions::table
            .filter(subscriptions::customer_id.eq(customer.as_uuid()))
            .order(subscriptions::created_at.asc())
            .select(SubscriptionRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error("subscription"))?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    async fn record_cancellation(
        &self,
        id: &str,
        record: CancellationRecord,
    ) -> RepoResult<Subscription> {
        let mut conn = get(&self.pool).await?;
        diesel::update(subscriptions::table.find(id))
            .set((
                subscriptions::status.eq(record.status.as_str()),
                subscriptions::scheduled_cancel_at.eq(record.scheduled_cancel_at),
                subscriptions::canceled_at.eq(record.canceled_at),
                subscriptions::updated_at.eq(diesel::dsl::now),
            ))
            .returning(SubscriptionRow::as_returning())
            .get_result(&mut conn)
            .await
            .map_err(db_error("subscription"))?
            .try_into()
    }

    async fn get(&self, id: &str) -> RepoResult<Option<Subscription>> {
        let mut conn = get(&self.pool).await?;
        subscriptions::table
            .find(id)
            .select(SubscriptionRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error("subscription"))?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn apply_event(&self, u: SubscriptionEventUpdate) -> RepoResult<Option<Subscription>> {
        let mut conn = get(&self.pool).await?;
        // One statement: insert, or update only when this event is newer than the newest applied
        // (`last_event_at`), so two deliveries racing cannot let the older one win.
        let upsert = diesel::insert_into(subscriptions::table)
            .values((
                subscriptions::id.eq(&u.id),
                subscriptions::tenant_id.eq(u.tenant_id.as_uuid()),
                subscriptions::customer_id.eq(u.customer_id.as_uuid()),
                subscriptions::paddle_customer_id.eq(&u.paddle_customer_id),
                subscriptions::status.eq(u.status.as_str()),
                subscriptions::scheduled_cancel_at.eq(u.scheduled_cancel_at),
                subscriptions::canceled_at.eq(u.canceled_at),
                subscriptions::plan_id.eq(&u.plan_id),
                subscriptions::last_event_at.eq(u.occurred_at),
            ))
            .on_conflict(subscriptions::id)
            .do_update()
            .set((
                subscriptions::status.eq(u.status.as_str()),
                subscriptions::scheduled_cancel_at.eq(u.scheduled_cancel_at),
                subscriptions::canceled_at.eq(u.canceled_at),
                subscriptions::last_event_at.eq(u.occurred_at),
                subscriptions::updated_at.eq(diesel::dsl::now),
            ));
        // `ON CONFLICT … DO UPDATE … WHERE`: diesel's `FilterDsl` on the upsert (not `QueryDsl`).
        let guarded = diesel::query_dsl::methods::FilterDsl::filter(
            upsert,
            subscriptions::last_event_at
                .is_null()
                .or(subscriptions::last_event_at.lt(u.occurred_at)),
        );
        guarded
            .returning(SubscriptionRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(insert_error)?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn grace_candidates(&self) -> RepoResult<Vec<SubscriptionGrace>> {
        let mut conn = get(&self.pool).await?;
        let rows: Vec<GraceRow> = subscriptions::table
            .filter(
                subscriptions::status
                    .eq_any(["past_due", "paused", "canceled"])
                    .or(subscriptions::machine_stopped_at.is_not_null()),
            )
            .order(subscriptions::status_since.asc())
            .select(GraceRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error("subscription"))?;
        rows.into_iter()
            .map(|r| {
                Ok(SubscriptionGrace {
                    status: r.status.parse().map_err(|_| {
                        RepoError::Other(format!("subscription {} has an unknown status", r.id))
                    })?,
                    id: r.id,
                    tenant_id: TenantId::from_uuid(r.tenant_id),
                    status_since: r.status_since,
                    canceled_at: r.canceled_at,
                    machine_stopped_at: r.machine_stopped_at,
                })
            })
            .collect()
    }

    async fn set_machine_stopped(&self, id: &str, at: Option<DateTime<Utc>>) -> RepoResult<()> {
        let mut conn = get(&self.pool).await?;
        let n = diesel::update(subscriptions::table.find(id))
            .set(subscriptions::machine_stopped_at.eq(at))
            .execute(&mut conn)
            .await
            .map_err(db_error("subscription"))?;
        if n == 0 {
            return Err(RepoError::NotFound {
                entity: "subscription",
            });
        }
        Ok(())
    }
}
