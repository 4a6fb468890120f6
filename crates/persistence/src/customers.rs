//! Customers, found by the identity provider's subject, and the plans they choose from.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use mgmt_domain::{
    Customer, CustomerId, CustomerRepository, CustomerStatus, NewCustomer, Plan, PlanRepository,
    RepoError, RepoResult, TenantDbLimits,
};
use uuid::Uuid;

use crate::error::db_error;
use crate::pool::{PgPool, get};
use crate::schema::{customers, plans};

#[derive(Queryable, Selectable)]
#[diesel(table_name = customers, check_for_backend(diesel::pg::Pg))]
pub(crate) struct CustomerRow {
    pub(crate) id: Uuid,
    subject: String,
    email: String,
    name: Option<String>,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = RepoError;
    fn try_from(r: CustomerRow) -> RepoResult<Self> {
        let status: CustomerStatus = r
            .status
            .parse()
            .map_err(|_| RepoError::Other(format!("customer {} has an unknown status", r.id)))?;
        Ok(Customer {
            id: CustomerId::from_uuid(r.id),
            subject: r.subject,
            email: r.email,
            name: r.name,
            status,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// [`CustomerRepository`] on PostgreSQL.
#[derive(Clone)]
pub struct PgCustomerRepository {
    pool: PgPool,
}

impl PgCustomerRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgCustomerRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCustomerRepository")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl CustomerRepository for PgCustomerRepository {
    async fn get(&self, id: CustomerId) -> RepoResult<Customer> {
        let mut conn = get(&self.pool).await?;
        customers::table
            .find(id.as_uuid())
            .select(CustomerRow::as_select())
            .first(&mut conn)
            .await
            .map_err(db_error("customer"))?
            .try_into()
    }

    async fn find_by_subject(&self, subject: &str) -> RepoResult<Option<Customer>> {
        let mut conn = get(&self.pool).await?;
        customers::table
            .filter(customers::subject.eq(subject))
            .select(CustomerRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error("customer"))?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn find_or_create(&self, new: NewCustomer) -> RepoResult<Customer> {
        let mut conn = get(&self.pool).await?;
        // Two first requests of the same user race: the insert that loses does nothing, and both read
        // the one row. The loop covers the (theoretical) row deleted between the two statements.
        for _ in 0..3 {
            let inserted = diesel::insert_into(customers::table)
                .values((
                    customers::subject.eq(&new.subject),
                    customers::email.eq(&new.email),
                    customers::name.eq(&new.name),
                ))
                .on_conflict(customers::subject)
                .do_nothing()
                .returning(CustomerRow::as_returning())
                .get_result(&mut conn)
                .await
                .optional()
                .map_err(db_error("customer"))?;
            if let Some(row) = inserted {
                return row.try_into();
            }
            let existing = customers::table
                .filter(customers::subject.eq(&new.subject))
                .select(CustomerRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(db_error("customer"))?;
            if let Some(row) = existing {
                return row.try_into();
            }
        }
        Err(RepoError::Unavailable(
            "customer record kept changing; retry".to_owned(),
        ))
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = plans, check_for_backend(diesel::pg::Pg))]
struct PlanRow {
    id: String,
    name: String,
    memory_mb: i32,
    cpus: i32,
    volume_gb: i32,
    max_tenants: i32,
    volume_mount_path: Option<String>,
    db_connection_limit: i32,
    db_statement_timeout_ms: i32,
    db_idle_in_transaction_timeout_ms: i32,
}

impl From<PlanRow> for Plan {
    fn from(r: PlanRow) -> Self {
        Plan {
            id: r.id,
            name: r.name,
            memory_mb: r.memory_mb,
            cpus: r.cpus,
            volume_gb: r.volume_gb,
            max_tenants: r.max_tenants,
            volume_mount_path: r.volume_mount_path,
            db_limits: TenantDbLimits {
                connection_limit: r.db_connection_limit,
                statement_timeout_ms: r.db_statement_timeout_ms,
                idle_in_transaction_timeout_ms: r.db_idle_in_transaction_timeout_ms,
            },
        }
    }
}

/// [`PlanRepository`] on PostgreSQL (plans are seeded by the migrations).
#[derive(Clone)]
pub struct PgPlanRepository {
    pool: PgPool,
}

impl PgPlanRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgPlanRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPlanRepository").finish_non_exhaustive()
    }
}

#[async_trait]
impl PlanRepository for PgPlanRepository {
    /// Smallest first.
    async fn list(&self) -> RepoResult<Vec<Plan>> {
        let mut conn = get(&self.pool).await?;
        let rows = plans::table
            .order((plans::memory_mb, plans::id))
            .select(PlanRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error("plan"))?;
        Ok(rows.into_iter().map(Plan::from).collect())
    }

    async fn get(&self, id: &str) -> RepoResult<Plan> {
        let mut conn = get(&self.pool).await?;
        plans::table
            .find(id)
            .select(PlanRow::as_select())
            .first(&mut conn)
            .await
            .map(Plan::from)
            .map_err(db_error("plan"))
    }
}
