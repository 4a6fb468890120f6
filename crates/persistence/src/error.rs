//! Errors: this crate's own (pool and migrations) and the mapping of diesel and pool errors onto the
//! domain's [`RepoError`], so the API can answer 404, 409 or 503 without knowing about diesel.

use diesel::ConnectionError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::{BuildError, PoolError};
use mgmt_domain::RepoError;

/// Failures setting up the database access itself (the repositories answer [`RepoError`]). The
/// underlying error is kept as the source, so a start-up failure shows its whole chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistenceError {
    /// A setting this crate refuses (e.g. a pool of no connections).
    #[error("invalid database pool configuration: {0}")]
    PoolConfig(String),
    #[error("cannot build the database pool")]
    PoolBuild(#[source] BuildError),
    #[error("cannot connect to the database")]
    Connect(#[source] ConnectionError),
    #[error("database migration failed")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The thread running the (synchronous) migrations panicked.
    #[error("database migration failed: the migration thread panicked")]
    MigrationPanicked,
}

/// Maps a diesel error of an operation on `entity` (used for "not found" and foreign keys).
pub(crate) fn db_error(entity: &'static str) -> impl Fn(DieselError) -> RepoError {
    move |e| map_diesel(entity, e)
}

/// Maps a diesel error of an operation on `entity` to the domain's error (for callers running their
/// own queries on a pooled connection).
pub fn map_diesel(entity: &'static str, e: DieselError) -> RepoError {
    match e {
        DieselError::NotFound => RepoError::NotFound { entity },
        DieselError::DatabaseError(kind, info) => {
            let constraint = info.constraint_name().unwrap_or_default();
            match kind {
                DatabaseErrorKind::UniqueViolation => RepoError::Conflict {
                    what: describe_unique(constraint),
                },
                DatabaseErrorKind::ForeignKeyViolation => RepoError::NotFound {
                    entity: referenced_entity(constraint),
                },
                DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection => {
                    RepoError::Unavailable(format!("database connection lost: {}", info.message()))
                }
                DatabaseErrorKind::SerializationFailure => {
                    RepoError::Unavailable("concurrent transactions conflicted; retry".to_owned())
                }
                DatabaseErrorKind::CheckViolation => RepoError::Other(format!(
                    "{entity}: value refused by the check `{constraint}`"
                )),
                _ if is_transient_message(info.message()) => {
                    RepoError::Unavailable(info.message().to_owned())
                }
                _ => RepoError::Other(format!("{entity}: {}", info.message())),
            }
        }
        other => RepoError::Other(format!("{entity}: {other}")),
    }
}

/// Statement timeouts, deadlocks and server shutdowns: worth retrying later.
fn is_transient_message(message: &str) -> bool {
    [
        "statement timeout",
        "canceling statement",
        "deadlock detected",
        "terminating connection",
        "could not serialize",
        "concurrently updated",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// A unique constraint in words a customer can read.
fn describe_unique(constraint: &str) -> String {
    match constraint {
        "tenants_customer_name_live_key" => "you already have a tenant with this name".to_owned(),
        "tenants_pkey" => "a tenant with this id already exists".to_owned(),
        "tenants_fly_app_name_key" => "the tenant's Fly app name is already taken".to_owned(),
        "tenants_hostname_key" => "the tenant's hostname is already taken".to_owned(),
        "tenants_database_name_key" => "the tenant's database name is already taken".to_owned(),
        "tenants_database_role_key" => "the tenant's database role is already taken".to_owned(),
        "customers_subject_key" => "a customer with this identity already exists".to_owned(),
        "jobs_one_queued_per_kind_tenant_key" => {
            "a job of this kind is already queued for the tenant".to_owned()
        }
        "" => "a unique value is already taken".to_owned(),
        other => format!("a unique value is already taken ({other})"),
    }
}

/// The entity a foreign key points at: inserting a row for a missing one is that entity's `NotFound`.
fn referenced_entity(constraint: &str) -> &'static str {
    if constraint.ends_with("customer_id_fkey") {
        "customer"
    } else if constraint.ends_with("plan_id_fkey") {
        "plan"
    } else if constraint.ends_with("tenant_id_fkey") {
        "tenant"
    } else {
        "referenced row"
    }
}

pub(crate) fn map_pool(e: PoolError) -> RepoError {
    match e {
        PoolError::Timeout(_) => {
            RepoError::Unavailable("timed out waiting for a database connection".to_owned())
        }
        PoolError::Backend(e) => {
            RepoError::Unavailable(format!("cannot connect to the database: {e}"))
        }
        PoolError::Closed => RepoError::Unavailable("the database pool is closed".to_owned()),
        other => RepoError::Unavailable(format!("database pool: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_are_described_in_words() {
        assert_eq!(
            describe_unique("tenants_customer_name_live_key"),
            "you already have a tenant with this name"
        );
        assert!(describe_unique("x_key").contains("x_key"));
        assert_eq!(referenced_entity("tenants_plan_id_fkey"), "plan");
        assert_eq!(referenced_entity("jobs_tenant_id_fkey"), "tenant");
        assert!(map_diesel("tenant", DieselError::NotFound).is_not_found());
    }
}
