//! Revoked tokens (`jti`, kept until the token's own expiry) and revoked subjects (every token issued up
//! to an instant): [`TokenRevocationRepository`] on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use mgmt_domain::{RepoResult, Revocation, TokenRevocationRepository};

use crate::error::db_error;
use crate::pool::{PgPool, get};
use crate::schema::{revoked_subjects, revoked_tokens};

/// [`TokenRevocationRepository`] on PostgreSQL.
#[derive(Clone)]
pub struct PgTokenRevocationRepository {
    pool: PgPool,
}

impl PgTokenRevocationRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgTokenRevocationRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTokenRevocationRepository")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenRevocationRepository for PgTokenRevocationRepository {
    async fn revoke_token(&self, jti: &str, expires_at: DateTime<Utc>) -> RepoResult<()> {
        let mut conn = get(&self.pool).await?;
        // An expired token is refused by its `exp` anyway: its row only costs space.
        diesel::delete(
            revoked_tokens::table.filter(revoked_tokens::expires_at.lt(diesel::dsl::now)),
        )
        .execute(&mut conn)
        .await
        .map_err(db_error("revoked token"))?;
        diesel::insert_into(revoked_tokens::table)
            .values((
                revoked_tokens::jti.eq(jti),
                revoked_tokens::expires_at.eq(expires_at),
            ))
            .on_conflict(revoked_tokens::jti)
            .do_update()
            .set(revoked_tokens::expires_at.eq(excluded(revoked_tokens::expires_at)))
            .execute(&mut conn)
            .await
            .map_err(db_error("revoked token"))?;
        Ok(())
    }

    async fn revoke_subject(&self, subject: &str, before: DateTime<Utc>) -> RepoResult<()> {
        let mut conn = get(&self.pool).await?;
        diesel::insert_into(revoked_subjects::table)
            .values((
                revoked_subjects::subject.eq(subject),
                revoked_subjects::revoked_before.eq(before),
            ))
            .on_conflict(revoked_subjects::subject)
            .do_update()
            .set(revoked_subjects::revoked_before.eq(diesel::dsl::sql::<
                diesel::sql_types::Timestamptz,
            >(
                "GREATEST(revoked_subjects.revoked_before, excluded.revoked_before)",
            )))
            .execute(&mut conn)
            .await
            .map_err(db_error("revoked subject"))?;
        Ok(())
    }

    async fn check(&self, subject: &str, jti: Option<&str>) -> RepoResult<Revocation> {
        let mut conn = get(&self.pool).await?;
        let token_revoked = revoked_tokens::table
            .filter(revoked_tokens::jti.nullable().eq(jti))
            .select(revoked_tokens::jti);
        let subject_before = revoked_subjects::table
            .filter(revoked_subjects::subject.eq(subject))
            .select(revoked_subjects::revoked_before.nullable())
            .single_value();
        // One round trip: both lookups in one SELECT.
        let (token_revoked, subject_revoked_before): (bool, Option<DateTime<Utc>>) =
            diesel::select((diesel::dsl::exists(token_revoked), subject_before))
                .get_result(&mut conn)
                .await
                .map_err(db_error("revocation"))?;
        Ok(Revocation {
            token_revoked,
            subject_revoked_before,
        })
    }
}
