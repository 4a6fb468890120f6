//! Tenants: insert, reads filtered by owner, and updates guarded by the row version (optimistic
//! concurrency), optionally together with an event in one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use mgmt_domain::{
    CustomerId, Fence, NewJob, NewTenant, NewTenantEvent, RepoError, RepoResult, Tenant,
    TenantEvent, TenantId, TenantRepository, TenantState, TenantWrite,
};
use uuid::Uuid;

use crate::error::db_error;
use crate::events::insert_event_in_tx;
use crate::jobs::{insert_job, require_fence};
use crate::pool::{PgPool, get};
use crate::schema::{customers, tenants};
use crate::tx::TxError;

#[derive(Queryable, Selectable)]
#[diesel(table_name = tenants, check_for_backend(diesel::pg::Pg))]
struct TenantRow {
    id: Uuid,
    customer_id: Uuid,
    name: String,
    plan_id: String,
    region: String,
    state: String,
    status_message: Option<String>,
    fly_app_name: String,
    machine_id: Option<String>,
    volume_id: Option<String>,
    hostname: String,
    internal_hostname: String,
    database_name: String,
    database_role: String,
    deployed_digest: Option<String>,
    external_db_access: bool,
    secrets_version: Option<i64>,
    row_version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = RepoError;
    fn try_from(r: TenantRow) -> RepoResult<Self> {
        let state: TenantState = r
            .state
            .parse()
            .map_err(|_| RepoError::Other(format!("tenant {} has an unknown state", r.id)))?;
        Ok(Tenant {
            id: TenantId::from_uuid(r.id),
            customer_id: CustomerId::from_uuid(r.customer_id),
            name: r.name,
            plan_id: r.plan_id,
            region: r.region,
            state,
            status_message: r.status_message,
            fly_app_name: r.fly_app_name,
            machine_id: r.machine_id,
            volume_id: r.volume_id,
            hostname: r.hostname,
            internal_hostname: r.internal_hostname,
            database_name: r.database_name,
            database_role: r.database_role,
            deployed_digest: r.deployed_digest,
            external_db_access: r.external_db_access,
            secrets_version: r.secrets_version.and_then(|v| u64::try_from(v).ok()),
            row_version: r.row_version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            deleted_at: r.deleted_at,
        })
    }
}

/// [`TenantRepository`] on PostgreSQL.
#[derive(Clone)]
pub struct PgTenantRepository {
    pool: PgPool,
}

impl PgTenantRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgTenantRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTenantRepository").finish_non_exhaustive()
    }
}

/// Writes the mutable fields if the version is current. `Ok(None)`: stale or missing.
async fn update_row(conn: &mut AsyncPgConnection, t: &Tenant) -> QueryResult<Option<TenantRow>> {
    // `deleted_at` records when the tenant first became deleted and is cleared by nothing else.
    let deleted_at = match t.state {
        TenantState::Deleted => Some(t.deleted_at.unwrap_or_else(Utc::now)),
        _ => t.deleted_at,
    };
    diesel::update(
        tenants::table
            .filter(tenants::id.eq(t.id.as_uuid()))
            .filter(tenants::row_version.eq(t.row_version)),
    )
    .set((
        tenants::name.eq(&t.name),
        tenants::plan_id.eq(&t.plan_id),
        tenants::region.eq(&t.region),
        tenants::state.eq(t.state.as_str()),
        tenants::status_message.eq(&t.status_message),
        tenants::machine_id.eq(&t.machine_id),
        tenants::volume_id.eq(&t.volume_id),
        tenants::deployed_digest.eq(&t.deployed_digest),
        tenants::external_db_access.eq(t.external_db_access),
        tenants::row_version.eq(tenants::row_version + 1),
        tenants::updated_at.eq(diesel::dsl::now),
        tenants::deleted_at.eq(deleted_at),
    ))
    .returning(TenantRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Why an update touched no row: the tenant is gone, or its version moved on.
async fn stale_or_missing(
    conn: &mut AsyncPgConnection,
    id: TenantId,
) -> Result<RepoError, TxError> {
    let exists: bool = diesel::select(diesel::dsl::exists(tenants::table.find(id.as_uuid())))
        .get_result(conn)
        .await?;
    Ok(if exists {
        RepoError::StaleVersion { entity: "tenant" }
    } else {
        RepoError::NotFound { entity: "tenant" }
    })
}

#[async_trait]
impl TenantRepository for PgTenantRepository {
    async fn insert(&self, new: NewTenant) -> RepoResult<Tenant> {
        let mut conn = get(&self.pool).await?;
        insert_row(&mut conn, &new)
            .await
            .map_err(db_error("tenant"))?
            .try_into()
    }

    async fn insert_within_limit(&self, new: NewTenant, max_live: i64) -> RepoResult<Tenant> {
        let mut conn = get(&self.pool).await?;
        let row = conn
            .transaction::<_, TxError, _>(async |conn| insert_limited(conn, &new, max_live).await)
            .await
            .map_err(|e| e.into_repo("tenant"))?;
        row.try_into()
    }

    async fn get(&self, id: TenantId) -> RepoResult<Tenant> {
        let mut conn = get(&self.pool).await?;
        tenants::table
            .find(id.as_uuid())
            .select(TenantRow::as_select())
            .first(&mut conn)
            .await
            .map_err(db_error("tenant"))?
            .try_into()
    }

    /// Deleted tenants included (their status stays readable by their owner).
    async fn get_for_customer(&self, id: TenantId, customer: CustomerId) -> RepoResult<Tenant> {
        let mut conn = get(&self.pool).await?;
        tenants::table
            .find(id.as_uuid())
            .filter(tenants::customer_id.eq(customer.as_uuid()))
            .select(TenantRow::as_select())
            .first(&mut conn)
            .await
            .map_err(db_error("tenant"))?
            .try_into()
    }

    async fn list_for_customer(&self, customer: CustomerId) -> RepoResult<Vec<Tenant>> {
        let mut conn = get(&self.pool).await?;
        tenants::table
            .filter(tenants::customer_id.eq(customer.as_uuid()))
            .filter(tenants::state.ne(TenantState::Deleted.as_str()))
            .order((tenants::created_at.asc(), tenants::id.asc()))
            .select(TenantRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error("tenant"))?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    async fn count_live_for_customer(&self, customer: CustomerId) -> RepoResult<i64> {
        let mut conn = get(&self.pool).await?;
        count_live(&mut conn, customer)
            .await
            .map_err(db_error("tenant"))
    }

    async fn update(&self, tenant: &Tenant) -> RepoResult<Tenant> {
        let mut conn = get(&self.pool).await?;
        match update_row(&mut conn, tenant)
            .await
            .map_err(db_error("tenant"))?
        {
            Some(row) => row.try_into(),
            None => Err(stale_or_missing(&mut conn, tenant.id)
                .await
                .map_err(|e| e.into_repo("tenant"))?),
        }
    }

    async fn update_with_event(
        &self,
        tenant: &Tenant,
        event: NewTenantEvent,
    ) -> RepoResult<(Tenant, TenantEvent)> {
        if event.tenant_id != tenant.id {
            return Err(RepoError::Other(
                "an event must belong to the tenant it is written with".to_owned(),
            ));
        }
        let mut conn = get(&self.pool).await?;
        let (row, event_row) = conn
            .transaction::<_, TxError, _>(async |conn| {
                let Some(row) = update_row(conn, tenant).await? else {
                    return Err(stale_or_missing(conn, tenant.id).await?.into());
                };
                let event_row = insert_event_in_tx(conn, &event).await?;
                Ok((row, event_row))
            })
            .await
            .map_err(|e| e.into_repo("tenant"))?;
        Ok((row.try_into()?, event_row.try_into()?))
    }

    async fn update_fenced(
        &self,
        tenant: &Tenant,
        event: Option<NewTenantEvent>,
        fence: Option<Fence>,
    ) -> RepoResult<Tenant> {
        if event.as_ref().is_some_and(|e| e.tenant_id != tenant.id) {
            return Err(RepoError::Other(
                "an event must belong to the tenant it is written with".to_owned(),
            ));
        }
        let mut conn = get(&self.pool).await?;
        let row = conn
            .transaction::<_, TxError, _>(async |conn| {
                require_fence(conn, fence).await?;
                let Some(row) = update_row(conn, tenant).await? else {
                    return Err(stale_or_missing(conn, tenant.id).await?.into());
                };
                if let Some(event) = &event {
                    insert_event_in_tx(conn, event).await?;
                }
                Ok(row)
            })
            .await
            .map_err(|e| e.into_repo("tenant"))?;
        row.try_into()
    }

    async fn write_with_job(
        &self,
        change: TenantWrite,
        event: NewTenantEvent,
        job: NewJob,
    ) -> RepoResult<Tenant> {
        let mut conn = get(&self.pool).await?;
        let row = conn
            .transaction::<_, TxError, _>(async |conn| {
                let row = match &change {
                    TenantWrite::Insert { new, max_live } => {
                        insert_limited(conn, new, *max_live).await?
                    }
                    TenantWrite::Update(tenant) => match update_row(conn, tenant).await? {
                        Some(row) => row,
                        None => return Err(stale_or_missing(conn, tenant.id).await?.into()),
                    },
                };
                let tenant_id = TenantId::from_uuid(row.id);
                if event.tenant_id != tenant_id || job.tenant_id != Some(tenant_id) {
                    return Err(RepoError::Other(
                        "the event and the job must belong to the tenant they are written with"
                            .to_owned(),
                    )
                    .into());
                }
                insert_event_in_tx(conn, &event).await?;
                // `None`: a job of this kind is already queued for the tenant; it does the work.
                insert_job(conn, &job).await?;
                Ok(row)
            })
            .await
            .map_err(|e| e.into_repo("tenant"))?;
        row.try_into()
    }

    async fn raise_secrets_version(&self, id: TenantId, version: u64) -> RepoResult<()> {
        let version = i64::try_from(version)
            .map_err(|_| RepoError::Other(format!("secrets version {version} is out of range")))?;
        let mut conn = get(&self.pool).await?;
        let updated = diesel::update(tenants::table.filter(tenants::id.eq(id.as_uuid())))
            .set(tenants::secrets_version.eq(greatest(
                tenants::secrets_version,
                version.into_sql::<BigInt>(),
            )))
            .execute(&mut conn)
            .await
            .map_err(db_error("tenant"))?;
        if updated == 0 {
            return Err(RepoError::NotFound { entity: "tenant" });
        }
        Ok(())
    }
}

diesel::define_sql_function! {
    /// PostgreSQL's `GREATEST` (NULLs ignored), for a value that only ever grows.
    fn greatest(a: diesel::sql_types::Nullable<BigInt>, b: BigInt) -> diesel::sql_types::Nullable<BigInt>;
}

/// Inserts `new` while its customer has fewer than `max_live` live tenants (inside the caller's
/// transaction).
async fn insert_limited(
    conn: &mut AsyncPgConnection,
    new: &NewTenant,
    max_live: i64,
) -> Result<TenantRow, TxError> {
    // Locking the customer's row serializes its creates: the count below cannot go stale before the
    // insert commits.
    let locked: Option<Uuid> = customers::table
        .find(new.customer_id.as_uuid())
        .select(customers::id)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    if locked.is_none() {
        return Err(RepoError::NotFound { entity: "customer" }.into());
    }
    let live = count_live(conn, new.customer_id).await?;
    if live >= max_live {
        return Err(RepoError::LimitReached {
            what: format!("the plan allows {max_live} tenant(s) and you have {live}"),
        }
        .into());
    }
    Ok(insert_row(conn, new).await?)
}

/// The insert itself, shared by the plain and the limited insert.
async fn insert_row(conn: &mut AsyncPgConnection, new: &NewTenant) -> QueryResult<TenantRow> {
    diesel::insert_into(tenants::table)
        .values((
            tenants::id.eq(new.id.as_uuid()),
            tenants::customer_id.eq(new.customer_id.as_uuid()),
            tenants::name.eq(&new.name),
            tenants::plan_id.eq(&new.plan_id),
            tenants::region.eq(&new.region),
            tenants::state.eq(TenantState::Pending.as_str()),
            tenants::fly_app_name.eq(&new.fly_app_name),
            tenants::hostname.eq(&new.hostname),
            tenants::internal_hostname.eq(&new.internal_hostname),
            tenants::database_name.eq(&new.database_name),
            tenants::database_role.eq(&new.database_role),
            tenants::row_version.eq(1_i64),
        ))
        .returning(TenantRow::as_returning())
        .get_result(conn)
        .await
}

/// Tenants of a customer that are not deleted (what the plan's limit counts).
async fn count_live(conn: &mut AsyncPgConnection, customer: CustomerId) -> QueryResult<i64> {
    tenants::table
        .filter(tenants::customer_id.eq(customer.as_uuid()))
        .filter(tenants::state.ne(TenantState::Deleted.as_str()))
        .count()
        .get_result(conn)
        .await
}
