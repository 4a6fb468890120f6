//! Plans as sold (`plan_prices`) and checkout sessions, with the single claim that makes a checkout's
//! tenant exactly once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::RunQueryDsl;
use mgmt_domain::{
    CheckoutPayment, CheckoutRepository, CheckoutSession, CheckoutStatus, CustomerId,
    NewCheckoutSession, PlanOffer, PlanRepository, RepoError, RepoResult, TenantId,
};
use uuid::Uuid;

use crate::customers::PgPlanRepository;
use crate::error::db_error;
use crate::pool::{PgPool, get};
use crate::schema::{checkout_sessions, plan_prices};

#[derive(Queryable, Selectable)]
#[diesel(table_name = plan_prices, check_for_backend(diesel::pg::Pg))]
struct PriceRow {
    plan_id: String,
    paddle_price_id: String,
    requires_payment: bool,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = checkout_sessions, check_for_backend(diesel::pg::Pg))]
struct SessionRow {
    id: String,
    customer_id: Uuid,
    plan_id: String,
    paddle_price_id: String,
    region: String,
    redirect_uri: String,
    tenant_name: String,
    status: String,
    paddle_transaction_id: Option<String>,
    paddle_subscription_id: Option<String>,
    paddle_customer_id: Option<String>,
    tenant_id: Option<Uuid>,
    failure: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl TryFrom<SessionRow> for CheckoutSession {
    type Error = RepoError;
    fn try_from(r: SessionRow) -> RepoResult<Self> {
        let status = r.status.parse().map_err(|_| {
            RepoError::Other(format!("checkout session {} has an unknown status", r.id))
        })?;
        Ok(CheckoutSession {
            id: r.id,
            customer_id: CustomerId::from_uuid(r.customer_id),
            plan_id: r.plan_id,
            paddle_price_id: r.paddle_price_id,
            region: r.region,
            redirect_uri: r.redirect_uri,
            tenant_name: r.tenant_name,
            status,
            paddle_transaction_id: r.paddle_transaction_id,
            paddle_subscription_id: r.paddle_subscription_id,
            paddle_customer_id: r.paddle_customer_id,
            tenant_id: r.tenant_id.map(TenantId::from_uuid),
            failure: r.failure,
            created_at: r.created_at,
            updated_at: r.updated_at,
            expires_at: r.expires_at,
        })
    }
}

/// [`CheckoutRepository`] on PostgreSQL.
#[derive(Clone)]
pub struct PgCheckoutRepository {
    pool: PgPool,
    plans: PgPlanRepository,
}

impl PgCheckoutRepository {
    pub fn new(pool: PgPool) -> Self {
        Self {
            plans: PgPlanRepository::new(pool.clone()),
            pool,
        }
    }

    async fn prices(&self) -> RepoResult<Vec<PriceRow>> {
        let mut conn = get(&self.pool).await?;
        plan_prices::table
            .select(PriceRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error("plan price"))
    }

    async fn offer(&self, row: Option<PriceRow>) -> RepoResult<Option<PlanOffer>> {
        let Some(row) = row else { return Ok(None) };
        let plan = self.plans.get(&row.plan_id).await?;
        Ok(Some(PlanOffer {
            plan,
            paddle_price_id: row.paddle_price_id,
            requires_payment: row.requires_payment,
        }))
    }

    async fn update(
        &self,
        id: &str,
        to: CheckoutStatus,
        failure: Option<&str>,
        tenant: Option<TenantId>,
    ) -> RepoResult<CheckoutSession> {
        let mut conn = get(&self.pool).await?;
        diesel::update(checkout_sessions::table.find(id))
            .set((
                checkout_sessions::status.eq(to.as_str()),
                checkout_sessions::failure.eq(failure),
                checkout_sessions::tenant_id.eq(tenant.map(|t| t.as_uuid())),
                checkout_sessions::updated_at.eq(diesel::dsl::now),
            ))
            .returning(SessionRow::as_returning())
            .get_result(&mut conn)
            .await
            .map_err(db_error("checkout session"))?
            .try_into()
    }
}

impl std::fmt::Debug for PgCheckoutRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCheckoutRepository")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl CheckoutRepository for PgCheckoutRepository {
    async fn offers(&self) -> RepoResult<Vec<PlanOffer>> {
        let prices = self.prices().await?;
        let mut offers = Vec::new();
        for plan in self.plans.list().await? {
            if let Some(p) = prices.iter().find(|p| p.plan_id == plan.id) {
                offers.push(PlanOffer {
                    paddle_price_id: p.paddle_price_id.clone(),
                    requires_payment: p.requires_payment,
                    plan,
                });
            }
        }
        Ok(offers)
    }

    async fn offer_by_price(&self, price_id: &str) -> RepoResult<Option<PlanOffer>> {
        let row = {
            let mut conn = get(&self.pool).await?;
            plan_prices::table
                .filter(plan_prices::paddle_price_id.eq(price_id))
                .select(PriceRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(db_error("plan price"))?
        };
        self.offer(row).await
    }

    async fn offer_for_plan(&self, plan_id: &str) -> RepoResult<Option<PlanOffer>> {
        let row = {
            let mut conn = get(&self.pool).await?;
            plan_prices::table
                .find(plan_id)
                .select(PriceRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(db_error("plan price"))?
        };
        self.offer(row).await
    }

    async fn insert(&self, new: NewCheckoutSession) -> RepoResult<CheckoutSession> {
        let mut conn = get(&self.pool).await?;
        diesel::insert_into(checkout_sessions::table)
            .values((
                checkout_sessions::id.eq(&new.id),
                checkout_sessions::customer_id.eq(new.customer_id.as_uuid()),
                checkout_sessions::plan_id.eq(&new.plan_id),
                checkout_sessions::paddle_price_id.eq(&new.paddle_price_id),
                checkout_sessions::region.eq(&new.region),
                checkout_sessions::redirect_uri.eq(&new.redirect_uri),
                checkout_sessions::tenant_name.eq(&new.tenant_name),
                checkout_sessions::expires_at.eq(new.expires_at),
            ))
            .returning(SessionRow::as_returning())
            .get_result(&mut conn)
            .await
            .map_err(|e| match e {
                DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                    RepoError::Conflict {
                        what: "the checkout session exists already".to_owned(),
                    }
                }
                other => db_error("checkout session")(other),
            })?
            .try_into()
    }

    async fn get(&self, id: &str) -> RepoResult<CheckoutSession> {
        let mut conn = get(&self.pool).await?;
        checkout_sessions::table
            .find(id)
            .select(SessionRow::as_select())
            .first(&mut conn)
            .await
            .map_err(db_error("checkout session"))?
            .try_into()
    }

    async fn set_transaction(&self, id: &str, transaction_id: &str) -> RepoResult<CheckoutSession> {
        let mut conn = get(&self.pool).await?;
        diesel::update(
            checkout_sessions::table
                .find(id)
                .filter(checkout_sessions::paddle_transaction_id.is_null()),
        )
        .set((
            checkout_sessions::paddle_transaction_id.eq(transaction_id),
            checkout_sessions::updated_at.eq(diesel::dsl::now),
        ))
        .returning(SessionRow::as_returning())
        .get_result(&mut conn)
        .await
        .map_err(db_error("checkout session"))?
        .try_into()
    }

    async fn claim(
        &self,
        id: &str,
        payment: CheckoutPayment,
    ) -> RepoResult<Option<CheckoutSession>> {
        let mut conn = get(&self.pool).await?;
        // One UPDATE guarded by the status: of two concurrent claims (the page posted twice, a webhook
        // redelivered) exactly one sees the row still `open`.
        diesel::update(
            checkout_sessions::table
                .find(id)
                .filter(checkout_sessions::status.eq(CheckoutStatus::Open.as_str()))
                .filter(checkout_sessions::expires_at.gt(diesel::dsl::now)),
        )
        .set((
            checkout_sessions::status.eq(CheckoutStatus::Creating.as_str()),
            checkout_sessions::paddle_subscription_id.eq(&payment.paddle_subscription_id),
            checkout_sessions::paddle_customer_id.eq(&payment.paddle_customer_id),
            checkout_sessions::updated_at.eq(diesel::dsl::now),
        ))
        .returning(SessionRow::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(db_error("checkout session"))?
        .map(TryInto::try_into)
        .transpose()
    }

    async fn complete(&self, id: &str, tenant: TenantId) -> RepoResult<CheckoutSession> {
        self.update(id, CheckoutStatus::Completed, None, Some(tenant))
            .await
    }

    async fn fail(&self, id: &str, why: &str) -> RepoResult<CheckoutSession> {
        self.update(id, CheckoutStatus::Failed, Some(why), None)
            .await
    }

    async fn reopen(&self, id: &str) -> RepoResult<()> {
        let mut conn = get(&self.pool).await?;
        diesel::update(
            checkout_sessions::table
                .find(id)
                .filter(checkout_sessions::status.eq(CheckoutStatus::Creating.as_str())),
        )
        .set((
            checkout_sessions::status.eq(CheckoutStatus::Open.as_str()),
            checkout_sessions::updated_at.eq(diesel::dsl::now),
        ))
        .execute(&mut conn)
        .await
        .map_err(db_error("checkout session"))?;
        Ok(())
    }

    async fn find_by_transaction(
        &self,
        transaction_id: &str,
    ) -> RepoResult<Option<CheckoutSession>> {
        let mut conn = get(&self.pool).await?;
        checkout_sessions::table
            .filter(checkout_sessions::paddle_transaction_id.eq(transaction_id))
            .select(SessionRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error("checkout session"))?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn has_paid_claim(&self, customer: CustomerId, plan_id: &str) -> RepoResult<bool> {
        let mut conn = get(&self.pool).await?;
        diesel::select(diesel::dsl::exists(
            checkout_sessions::table
                .filter(checkout_sessions::customer_id.eq(customer.as_uuid()))
                .filter(checkout_sessions::plan_id.eq(plan_id))
                .filter(checkout_sessions::status.eq(CheckoutStatus::Creating.as_str()))
                .filter(checkout_sessions::paddle_subscription_id.is_not_null())
                .filter(checkout_sessions::tenant_id.is_null()),
        ))
        .get_result(&mut conn)
        .await
        .map_err(db_error("checkout session"))
    }

    async fn list_creating_before(
        &self,
        before: DateTime<Utc>,
    ) -> RepoResult<Vec<CheckoutSession>> {
        let mut conn = get(&self.pool).await?;
        checkout_sessions::table
            .filter(checkout_sessions::status.eq(CheckoutStatus::Creating.as_str()))
            .filter(checkout_sessions::updated_at.lt(before))
            .order(checkout_sessions::updated_at.asc())
            .limit(100)
            .select(SessionRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error("checkout session"))?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }
}
