//! The job queue's figures for `/metrics`, read from the counters migration 000024's trigger keeps
//! (`management.job_counts`): a scrape sums a few rows instead of counting the jobs table.

use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use mgmt_domain::{QueueStats, RepoResult};

use crate::error::db_error;
use crate::pool::{PgPool, get};

#[derive(diesel::QueryableByName)]
struct CountsRow {
    #[diesel(sql_type = BigInt)]
    queued: i64,
    #[diesel(sql_type = BigInt)]
    running: i64,
    #[diesel(sql_type = BigInt)]
    dead: i64,
    #[diesel(sql_type = BigInt)]
    retrying: i64,
}

/// The queue's figures, as `JobQueue::stats` counts them, from the maintained counters.
pub async fn job_counts(pool: &PgPool) -> RepoResult<QueueStats> {
    let mut conn = get(pool).await?;
    let row: CountsRow = diesel::sql_query(
        "SELECT coalesce(sum(n) FILTER (WHERE state = 'queued'), 0)::int8 AS queued,
                coalesce(sum(n) FILTER (WHERE state = 'running'), 0)::int8 AS running,
                coalesce(sum(n) FILTER (WHERE state = 'dead'), 0)::int8 AS dead,
                coalesce(sum(n) FILTER (WHERE state = 'queued' AND retrying), 0)::int8 AS retrying
         FROM management.job_counts",
    )
    .get_result(&mut conn)
    .await
    .map_err(db_error("job"))?;
    Ok(QueueStats {
        queued: row.queued,
        running: row.running,
        dead: row.dead,
        retrying: row.retrying,
    })
}
