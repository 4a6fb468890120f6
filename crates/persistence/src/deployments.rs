//! Deploy attempts: every one is kept, in request order, with its resolved digest and outcome.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use mgmt_domain::{
    Deployment, DeploymentRepository, DeploymentStatus, NewDeployment, RepoError, RepoResult,
    TenantId,
};
use uuid::Uuid;

use crate::error::db_error;
use crate::pool::{PgPool, get};
use crate::schema::deployments;

#[derive(Queryable, Selectable)]
#[diesel(table_name = deployments, check_for_backend(diesel::pg::Pg))]
struct DeploymentRow {
    id: Uuid,
    tenant_id: Uuid,
    image: String,
    digest: Option<String>,
    status: String,
    error: Option<String>,
    requested_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<DeploymentRow> for Deployment {
    type Error = RepoError;
    fn try_from(r: DeploymentRow) -> RepoResult<Self> {
        let status: DeploymentStatus = r
            .status
            .parse()
            .map_err(|_| RepoError::Other(format!("deployment {} has an unknown status", r.id)))?;
        Ok(Deployment {
            id: r.id,
            tenant_id: TenantId::from_uuid(r.tenant_id),
            image: r.image,
            digest: r.digest,
            status,
            error: r.error,
            requested_at: r.requested_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

const UNFINISHED: [&str; 2] = ["pending", "in_progress"];

/// [`DeploymentRepository`] on PostgreSQL.
#[derive(Clone)]
pub struct PgDeploymentRepository {
    pool: PgPool,
}

impl PgDeploymentRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgDeploymentRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDeploymentRepository")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl DeploymentRepository for PgDeploymentRepository {
    async fn insert(&self, new: NewDeployment) -> RepoResult<Deployment> {
        let mut conn = get(&self.pool).await?;
        diesel::insert_into(deployments::table)
            .values((
                deployments::tenant_id.eq(new.tenant_id.as_uuid()),
                deployments::image.eq(&new.image),
                deployments::digest.eq(&new.digest),
                deployments::status.eq(DeploymentStatus::Pending.as_str()),
            ))
            .returning(DeploymentRow::as_returning())
            .get_result(&mut conn)
            .await
            .map_err(db_error("deployment"))?
            .try_into()
    }

    async fn get(&self, id: Uuid) -> RepoResult<Deployment> {
        let mut conn = get(&self.pool).await?;
        deployments::table
            .find(id)
            .select(DeploymentRow::as_select())
            .first(&mut conn)
            .await
            .map_err(db_error("deployment"))?
            .try_into()
    }

    async fn list_for_tenant(&self, tenant: TenantId) -> RepoResult<Vec<Deployment>> {
        let mut conn = get(&self.pool).await?;
        deployments::table
            .filter(deployments::tenant_id.eq(tenant.as_uuid()))
            .order(deployments::seq.desc())
            .select(DeploymentRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error("deployment"))?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    async fn latest_for_tenant(&self, tenant: TenantId) -> RepoResult<Option<Deployment>> {
        let mut conn = get(&self.pool).await?;
        deployments::table
            .filter(deployments::tenant_id.eq(tenant.as_uuid()))
            .order(deployments::seq.desc())
            .select(DeploymentRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error("deployment"))?
            .map(TryInto::try_into)
            .transpose()
    }

    /// Moves a `pending` deployment to `in_progress`. Idempotent: an `in_progress` one keeps its start
    /// time, and a finished one (e.g. superseded meanwhile) is returned unchanged; check its status.
    async fn mark_started(&self, id: Uuid) -> RepoResult<Deployment> {
        let mut conn = get(&self.pool).await?;
        let updated = diesel::update(
            deployments::table
                .find(id)
                .filter(deployments::status.eq(DeploymentStatus::Pending.as_str())),
        )
        .set((
            deployments::status.eq(DeploymentStatus::InProgress.as_str()),
            deployments::started_at.eq(diesel::dsl::now),
        ))
        .returning(DeploymentRow::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(db_error("deployment"))?;
        match updated {
            Some(row) => row.try_into(),
            None => self.get(id).await,
        }
    }

    /// Records the outcome of an unfinished deployment; the first outcome wins (a finished one is
    /// returned unchanged). `status` must be a finished status.
    async fn mark_finished(
        &self,
        id: Uuid,
        status: DeploymentStatus,
        error: Option<String>,
    ) -> RepoResult<Deployment> {
        if !status.is_finished() {
            return Err(RepoError::Other(format!(
                "`{}` is not a finished deployment status",
                status.as_str()
            )));
        }
        let mut conn = get(&self.pool).await?;
        let updated = diesel::update(
            deployments::table
                .find(id)
                .filter(deployments::status.eq_any(UNFINISHED)),
        )
        .set((
            deployments::status.eq(status.as_str()),
            deployments::error.eq(error),
            deployments::finished_at.eq(diesel::dsl::now),
        ))
        .returning(DeploymentRow::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(db_error("deployment"))?;
        match updated {
            Some(row) => row.try_into(),
            None => self.get(id).await,
        }
    }

    async fn set_digest(&self, id: Uuid, digest: &str) -> RepoResult<Deployment> {
        let mut conn = get(&self.pool).await?;
        let updated = diesel::update(
            deployments::table
                .find(id)
                .filter(deployments::digest.is_null()),
        )
        .set(deployments::digest.eq(digest))
        .returning(DeploymentRow::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(db_error("deployment"))?;
        match updated {
            Some(row) => row.try_into(),
            None => self.get(id).await,
        }
    }

    async fn supersede_older(&self, tenant: TenantId, id: Uuid) -> RepoResult<u64> {
        let mut conn = get(&self.pool).await?;
        let seq: i64 = deployments::table
            .find(id)
            .filter(deployments::tenant_id.eq(tenant.as_uuid()))
            .select(deployments::seq)
            .first(&mut conn)
            .await
            .map_err(db_error("deployment"))?;
        let n = diesel::update(
            deployments::table
                .filter(deployments::tenant_id.eq(tenant.as_uuid()))
                .filter(deployments::seq.lt(seq))
                .filter(deployments::status.eq_any(UNFINISHED)),
        )
        .set((
            deployments::status.eq(DeploymentStatus::Superseded.as_str()),
            deployments::finished_at.eq(diesel::dsl::now),
        ))
        .execute(&mut conn)
        .await
        .map_err(db_error("deployment"))?;
        Ok(n as u64)
    }
}
