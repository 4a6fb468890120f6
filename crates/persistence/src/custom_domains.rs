//! Tenants' custom domains: one per tenant, one tenant per domain, both enforced by the schema.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::RunQueryDsl;
use mgmt_domain::{
    CustomDomain, CustomDomainRepository, NewCustomDomain, RepoError, RepoResult, TenantId,
};
use uuid::Uuid;

use crate::error::db_error;
use crate::pool::{PgPool, get};
use crate::schema::custom_domains;

diesel::define_sql_function! {
    /// SQL `COALESCE` of two nullable timestamps.
    fn coalesce(
        first: diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        second: diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
    ) -> diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>;
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = custom_domains, check_for_backend(diesel::pg::Pg))]
struct CustomDomainRow {
    tenant_id: Uuid,
    domain: String,
    dns_target: String,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    verified_at: Option<DateTime<Utc>>,
}

impl From<CustomDomainRow> for CustomDomain {
    fn from(r: CustomDomainRow) -> Self {
        CustomDomain {
            tenant_id: TenantId::from_uuid(r.tenant_id),
            domain: r.domain,
            dns_target: r.dns_target,
            status: r.status,
            created_at: r.created_at,
            updated_at: r.updated_at,
            verified_at: r.verified_at,
        }
    }
}

/// The two unique constraints in words a customer can read (which one fired matters to the caller).
fn insert_error(e: DieselError) -> RepoError {
    if let DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = &e {
        match info.constraint_name() {
            Some("custom_domains_pkey") => {
                return RepoError::Conflict {
                    what: "the tenant already has a custom domain".to_owned(),
                };
            }
            Some("custom_domains_domain_key") => {
                return RepoError::Conflict {
                    what: "the domain is already in use".to_owned(),
                };
            }
            _ => {}
        }
    }
    db_error("custom domain")(e)
}

/// [`CustomDomainRepository`] on PostgreSQL.
#[derive(Clone)]
pub struct PgCustomDomainRepository {
    pool: PgPool,
}

impl PgCustomDomainRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgCustomDomainRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCustomDomainRepository")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl CustomDomainRepository for PgCustomDomainRepository {
    async fn get_for_tenant(&self, tenant: TenantId) -> RepoResult<Option<CustomDomain>> {
        let mut conn = get(&self.pool).await?;
        Ok(custom_domains::table
            .find(tenant.as_uuid())
            .select(CustomDomainRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error("custom domain"))?
            .map(Into::into))
    }

    async fn find_by_domain(&self, domain: &str) -> RepoResult<Option<CustomDomain>> {
        let mut conn = get(&self.pool).await?;
        Ok(custom_domains::table
            .filter(custom_domains::domain.eq(domain))
            .select(CustomDomainRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error("custom domain"))?
            .map(Into::into))
    }

    async fn insert(&self, new: NewCustomDomain) -> RepoResult<CustomDomain> {
        let mut conn = get(&self.pool).await?;
        diesel::insert_into(custom_domains::table)
            .values((
                custom_domains::tenant_id.eq(new.tenant_id.as_uuid()),
                custom_domains::domain.eq(&new.domain),
                custom_domains::dns_target.eq(&new.dns_target),
                custom_domains::status.eq(&new.status),
            ))
            .returning(CustomDomainRow::as_returning())
            .get_result(&mut conn)
            .await
            .map(Into::into)
            .map_err(insert_error)
    }

    async fn record_status(
        &self,
        tenant: TenantId,
        status: &str,
        dns_target: &str,
        verified_at: Option<DateTime<Utc>>,
    ) -> RepoResult<CustomDomain> {
        let mut conn = get(&self.pool).await?;
        // COALESCE keeps the first verification time: later polls never move or clear it.
        diesel::update(custom_domains::table.find(tenant.as_uuid()))
            .set((
                custom_domains::status.eq(status),
                custom_domains::dns_target.eq(dns_target),
                custom_domains::verified_at.eq(coalesce(custom_domains::verified_at, verified_at)),
                custom_domains::updated_at.eq(diesel::dsl::now),
            ))
            .returning(CustomDomainRow::as_returning())
            .get_result(&mut conn)
            .await
            .map(Into::into)
            .map_err(db_error("custom domain"))
    }

    async fn delete(&self, tenant: TenantId) -> RepoResult<bool> {
        let mut conn = get(&self.pool).await?;
        let n = diesel::delete(custom_domains::table.find(tenant.as_uuid()))
            .execute(&mut conn)
            .await
            .map_err(db_error("custom domain"))?;
        Ok(n > 0)
    }
}
