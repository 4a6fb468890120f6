//! Tenants' sealed credentials: ciphertext, nonce and key id per (tenant, name). Sealing and opening
//! are the provisioner's; this module never sees a plaintext.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use mgmt_domain::{
    RepoError, RepoResult, SealedCredential, TenantCredentialRepository, TenantId,
    valid_credential_name,
};
use uuid::Uuid;

use crate::error::db_error;
use crate::pool::{PgPool, get};
use crate::schema::tenant_credentials as tc;
use crate::tx::TxError;

const ENTITY: &str = "tenant credential";

#[derive(Queryable, Selectable)]
#[diesel(table_name = tc, check_for_backend(diesel::pg::Pg))]
struct CredentialRow {
    name: String,
    key_id: String,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl From<CredentialRow> for SealedCredential {
    fn from(r: CredentialRow) -> Self {
        Self {
            name: r.name,
            key_id: r.key_id,
            nonce: r.nonce,
            ciphertext: r.ciphertext,
        }
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = tc)]
struct NewRow<'a> {
    tenant_id: Uuid,
    name: &'a str,
    key_id: &'a str,
    nonce: &'a [u8],
    ciphertext: &'a [u8],
    updated_at: DateTime<Utc>,
}

impl<'a> NewRow<'a> {
    fn new(tenant: TenantId, v: &'a SealedCredential) -> RepoResult<Self> {
        // Refused here with a readable message rather than by the check constraint's name.
        if !valid_credential_name(&v.name) {
            return Err(RepoError::Other(format!(
                "`{}` is not a valid credential name",
                v.name.chars().take(64).collect::<String>()
            )));
        }
        Ok(Self {
            tenant_id: tenant.as_uuid(),
            name: &v.name,
            key_id: &v.key_id,
            nonce: &v.nonce,
            ciphertext: &v.ciphertext,
            updated_at: Utc::now(),
        })
    }
}

/// Stores `row` under its (tenant, name), replacing what is there.
async fn upsert(conn: &mut AsyncPgConnection, row: &NewRow<'_>) -> QueryResult<usize> {
    diesel::insert_into(tc::table)
        .values(row)
        .on_conflict((tc::tenant_id, tc::name))
        .do_update()
        .set(row)
        .execute(conn)
        .await
}

/// [`TenantCredentialRepository`] on PostgreSQL.
#[derive(Clone)]
pub struct PgTenantCredentialRepository {
    pool: PgPool,
}

impl PgTenantCredentialRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgTenantCredentialRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTenantCredentialRepository")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TenantCredentialRepository for PgTenantCredentialRepository {
    async fn get(&self, tenant: TenantId, name: &str) -> RepoResult<Option<SealedCredential>> {
        let mut conn = get(&self.pool).await?;
        let row = tc::table
            .find((tenant.as_uuid(), name))
            .select(CredentialRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error(ENTITY))?;
        Ok(row.map(Into::into))
    }

    async fn list(&self, tenant: TenantId) -> RepoResult<Vec<SealedCredential>> {
        let mut conn = get(&self.pool).await?;
        let rows = tc::table
            .filter(tc::tenant_id.eq(tenant.as_uuid()))
            .order(tc::name.asc())
            .select(CredentialRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error(ENTITY))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn insert_if_absent(
        &self,
        tenant: TenantId,
        value: &SealedCredential,
    ) -> RepoResult<SealedCredential> {
        let row = NewRow::new(tenant, value)?;
        let mut conn = get(&self.pool).await?;
        let inserted = diesel::insert_into(tc::table)
            .values(&row)
            .on_conflict((tc::tenant_id, tc::name))
            .do_nothing()
            .returning(CredentialRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(db_error(ENTITY))?;
        if let Some(row) = inserted {
            return Ok(row.into());
        }
        // Another writer stored one first: theirs is the value.
        tc::table
            .find((tenant.as_uuid(), value.name.as_str()))
            .select(CredentialRow::as_select())
            .first(&mut conn)
            .await
            .map(Into::into)
            .map_err(db_error(ENTITY))
    }

    async fn put(&self, tenant: TenantId, value: &SealedCredential) -> RepoResult<()> {
        let row = NewRow::new(tenant, value)?;
        let mut conn = get(&self.pool).await?;
        upsert(&mut conn, &row).await.map_err(db_error(ENTITY))?;
        Ok(())
    }

    async fn promote(
        &self,
        tenant: TenantId,
        value: &SealedCredential,
        consumed: &SealedCredential,
    ) -> RepoResult<bool> {
        let row = NewRow::new(tenant, value)?;
        let mut conn = get(&self.pool).await?;
        conn.transaction::<_, TxError, _>(async |conn| {
            upsert(conn, &row).await?;
            // Matched by nonce: a newer value stored under that name in between stays.
            let removed = diesel::delete(
                tc::table
                    .find((tenant.as_uuid(), consumed.name.as_str()))
                    .filter(tc::nonce.eq(&consumed.nonce)),
            )
            .execute(conn)
            .await?;
            Ok(removed > 0)
        })
        .await
        .map_err(|e| e.into_repo(ENTITY))
    }

    async fn delete_for_tenant(&self, tenant: TenantId) -> RepoResult<u64> {
        let mut conn = get(&self.pool).await?;
        let n = diesel::delete(tc::table.filter(tc::tenant_id.eq(tenant.as_uuid())))
            .execute(&mut conn)
            .await
            .map_err(db_error(ENTITY))?;
        Ok(n as u64)
    }
}
