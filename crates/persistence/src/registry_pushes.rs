//! What the registry gateway saw each tenant push, and which digests each tenant may therefore read.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use std::time::Duration;

use mgmt_domain::{
    NewRegistryPush, PushAccess, RegistryPush, RegistryPushRepository, RepoResult, TenantId,
    UploadSession,
};
use uuid::Uuid;

use crate::error::db_error;
use crate::pool::{PgPool, get};
use crate::registry_uploads as live;
use crate::schema::{registry_pushes, registry_tenant_digests};
use crate::tx::TxError;

#[derive(Queryable, Selectable)]
#[diesel(table_name = registry_pushes, check_for_backend(diesel::pg::Pg))]
struct PushRow {
    id: i64,
    tenant_id: Uuid,
    reference: String,
    digest: String,
    media_type: Option<String>,
    pushed_at: DateTime<Utc>,
}

impl From<PushRow> for RegistryPush {
    fn from(r: PushRow) -> Self {
        RegistryPush {
            id: r.id,
            tenant_id: TenantId::from_uuid(r.tenant_id),
            reference: r.reference,
            digest: r.digest,
            media_type: r.media_type,
            pushed_at: r.pushed_at,
        }
    }
}

/// [`RegistryPushRepository`] on PostgreSQL.
#[derive(Clone)]
pub struct PgRegistryPushRepository {
    pool: PgPool,
}

impl PgRegistryPushRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgRegistryPushRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRegistryPushRepository")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl RegistryPushRepository for PgRegistryPushRepository {
    /// Records the push and grants the tenant read access to the manifest and everything it references.
    async fn record_manifest_push(&self, push: NewRegistryPush) -> RepoResult<RegistryPush> {
        let mut conn = get(&self.pool).await?;
        let tenant = push.tenant_id.as_uuid();
        let row = conn
            .transaction::<_, TxError, _>(async |conn| {
                let row = diesel::insert_into(registry_pushes::table)
                    .values((
                        registry_pushes::tenant_id.eq(tenant),
                        registry_pushes::reference.eq(&push.reference),
                        registry_pushes::digest.eq(&push.digest),
                        registry_pushes::media_type.eq(&push.media_type),
                    ))
                    .returning(PushRow::as_returning())
                    .get_result(conn)
                    .await?;
                let digests: Vec<_> = std::iter::once(&push.digest)
                    .chain(&push.referenced_digests)
                    .map(|d| {
                        (
                            registry_tenant_digests::tenant_id.eq(tenant),
                            registry_tenant_digests::digest.eq(d),
                        )
                    })
                    .collect();
                diesel::insert_into(registry_tenant_digests::table)
                    .values(digests)
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                Ok(row)
            })
            .await
            .map_err(|e| e.into_repo("registry push"))?;
        Ok(row.into())
    }

    async fn record_blob_upload(&self, tenant: TenantId, digest: &str) -> RepoResult<()> {
        let mut conn = get(&self.pool).await?;
        diesel::insert_into(registry_tenant_digests::table)
            .values((
                registry_tenant_digests::tenant_id.eq(tenant.as_uuid()),
                registry_tenant_digests::digest.eq(digest),
            ))
            .on_conflict_do_nothing()
            .execute(&mut conn)
            .await
            .map_err(db_error("registry blob"))?;
        Ok(())
    }

    async fn tenant_may_read(&self, tenant: TenantId, digest: &str) -> RepoResult<bool> {
        let mut conn = get(&self.pool).await?;
        diesel::select(diesel::dsl::exists(
            registry_tenant_digests::table
                .filter(registry_tenant_digests::tenant_id.eq(tenant.as_uuid()))
                .filter(registry_tenant_digests::digest.eq(digest)),
        ))
        .get_result(&mut conn)
        .await
        .map_err(db_error("registry digest"))
    }

    async fn list_for_tenant(&self, tenant: TenantId) -> RepoResult<Vec<RegistryPush>> {
        let mut conn = get(&self.pool).await?;
        let rows = registry_pushes::table
            .filter(registry_pushes::tenant_id.eq(tenant.as_uuid()))
            .order(registry_pushes::id.desc())
            .select(PushRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error("registry push"))?;
        Ok(rows.into_iter().map(RegistryPush::from).collect())
    }

    async fn unreadable_digests(
        &self,
        tenant: TenantId,
        digests: &[String],
    ) -> RepoResult<Vec<String>> {
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = get(&self.pool).await?;
        let known: std::collections::HashSet<String> = registry_tenant_digests::table
            .filter(registry_tenant_digests::tenant_id.eq(tenant.as_uuid()))
            .filter(registry_tenant_digests::digest.eq_any(digests))
            .select(registry_tenant_digests::digest)
            .load::<String>(&mut conn)
            .await
            .map_err(db_error("registry digest"))?
            .into_iter()
            .collect();
        Ok(digests
            .iter()
            .filter(|d| !known.contains(*d))
            .cloned()
            .collect())
    }

    async fn tenant_pushed_manifest(&self, tenant: TenantId, digest: &str) -> RepoResult<bool> {
        let mut conn = get(&self.pool).await?;
        diesel::select(diesel::dsl::exists(
            registry_pushes::table
                .filter(registry_pushes::tenant_id.eq(tenant.as_uuid()))
                .filter(registry_pushes::digest.eq(digest)),
        ))
        .get_result(&mut conn)
        .await
        .map_err(db_error("registry push"))
    }

    async fn push_access(&self, tenant: TenantId) -> RepoResult<PushAccess> {
        live::push_access(&self.pool, tenant).await
    }

    async fn reserve_upload(
        &self,
        tenant: TenantId,
        max_open: u32,
        idle: Duration,
    ) -> RepoResult<Option<Uuid>> {
        live::reserve_upload(&self.pool, tenant, max_open, idle).await
    }

    async fn bind_upload(&self, session: Uuid, upload_id: &str) -> RepoResult<()> {
        live::bind_upload(&self.pool, session, upload_id).await
    }

    async fn upload_session(&self, upload_id: &str) -> RepoResult<Option<UploadSession>> {
        live::upload_session(&self.pool, upload_id).await
    }

    async fn add_upload_bytes(&self, session: Uuid, bytes: u64) -> RepoResult<()> {
        live::add_upload_bytes(&self.pool, session, bytes).await
    }

    async fn release_upload(&self, session: Uuid) -> RepoResult<()> {
        live::release_upload(&self.pool, session).await
    }

    async fn finish_upload(
        &self,
        tenant: TenantId,
        session: Option<Uuid>,
        digest: &str,
        size: u64,
    ) -> RepoResult<()> {
        live::finish_upload(&self.pool, tenant, session, digest, size).await
    }

    async fn tenant_usage(
        &self,
        tenant: TenantId,
        window: Duration,
        idle: Duration,
    ) -> RepoResult<u64> {
        live::tenant_usage(&self.pool, tenant, window, idle).await
    }

    async fn begin_manifest_push(&self, tenant: TenantId) -> RepoResult<Option<i64>> {
        live::begin_manifest_push(&self.pool, tenant).await
    }

    async fn end_manifest_push(&self, id: i64) -> RepoResult<()> {
        live::end_manifest_push(&self.pool, id).await
    }

    async fn manifest_pushes_in_flight(
        &self,
        tenant: TenantId,
        window: Duration,
    ) -> RepoResult<u64> {
        live::manifest_pushes_in_flight(&self.pool, tenant, window).await
    }
}
