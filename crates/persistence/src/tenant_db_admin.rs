//! Tenant databases and roles on the shared tenant PostgreSQL cluster.
//!
//! DDL takes no bind parameters, so names and the password are written into the statement: names are
//! validated (`[a-z0-9_]`, at most 63 bytes) and quoted, and the password is never sent at all: a
//! SCRAM-SHA-256 verifier is computed here and sent instead, so the plaintext cannot reach the server's
//! logs, `pg_stat_activity` or an error message.
//!
//! Every call is bounded (issue 16): the session gets `statement_timeout` and `lock_timeout` (the
//! per-tenant advisory lock included), and the whole call a deadline, so a hung or unreachable cluster
//! answers `Unavailable` (retried by the job with backoff) instead of blocking the tenant's queue.

use std::time::Duration;

use async_trait::async_trait;
use diesel::sql_types::{Bool, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use mgmt_domain::{RepoError, RepoResult, TenantDatabaseAdmin, TenantDbLimits};
use secrecy::{ExposeSecret, SecretString};

use crate::error::map_diesel;

/// [`TenantDatabaseAdmin`] given a superuser (or CREATEDB + CREATEROLE) URL of the tenant cluster.
#[derive(Clone)]
pub struct PgTenantDatabaseAdmin {
    admin_url: SecretString,
    call_timeout: Duration,
}

/// How long one admin call (connect, lock, every statement) may take by default.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

impl PgTenantDatabaseAdmin {
    /// `admin_url`: `postgres://admin:password@host:port/postgres`. Connections are opened per call:
    /// these operations are rare and must not hold a connection to the tenant cluster in between.
    pub fn new(admin_url: SecretString) -> Self {
        Self {
            admin_url,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }

    /// Bounds every call to `timeout` (at least 100 ms).
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout.max(Duration::from_millis(100));
        self
    }

    /// Runs `call` within the call timeout; past it the connection is dropped (the server ends the
    /// session, releasing its advisory lock) and the caller gets `Unavailable`.
    async fn bounded<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = RepoResult<T>>,
    ) -> RepoResult<T> {
        match tokio::time::timeout(self.call_timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(RepoError::Unavailable(format!(
                "the tenant database cluster did not finish {what} within {:?}",
                self.call_timeout
            ))),
        }
    }

    async fn connect(&self) -> RepoResult<AsyncPgConnection> {
        let mut conn = AsyncPgConnection::establish(self.admin_url.expose_secret())
            .await
            .map_err(|e| {
                RepoError::Unavailable(format!(
                    "cannot connect to the tenant database cluster: {e}"
                ))
            })?;
        // Server-side bounds too: a statement or a lock wait (the advisory lock of a session that
        // hangs) is cancelled by the server, not only abandoned by us.
        let ms = self.call_timeout.as_millis();
        conn.batch_execute(&format!(
            "SET statement_timeout = {ms}; SET lock_timeout = {ms}"
        ))
        .await
        .map_err(|e| map_diesel("tenant database", e))?;
        Ok(conn)
    }

    /// A connection holding the tenant's advisory lock: concurrent DDL on one role fails on the server
    /// ("tuple concurrently updated"), so ensures and drops of one tenant take turns. The lock is a
    /// session lock, released when the connection closes at the end of the call.
    async fn connect_locked(&self, role: &str) -> RepoResult<AsyncPgConnection> {
        let mut conn = self.connect().await?;
        sql_query("SELECT pg_advisory_lock(hashtextextended('tenant-db-admin:' || $1, 0))")
            .bind::<Text, _>(role)
            .execute(&mut conn)
            .await
            .map_err(|e| map_diesel("tenant database", e))?;
        Ok(conn)
    }
}

impl std::fmt::Debug for PgTenantDatabaseAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTenantDatabaseAdmin")
            .finish_non_exhaustive()
    }
}

/// A database or role name we create: lowercase letters, digits and `_`, starting with a letter or
/// `_`, at most 63 bytes (PostgreSQL truncates longer names silently), not a reserved `pg_` name.
pub fn validate_identifier(name: &str) -> RepoResult<&str> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with("pg_")
        && !name.as_bytes()[0].is_ascii_digit()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(name)
    } else {
        let shown: String = name.chars().take(64).collect();
        Err(RepoError::Other(format!(
            "`{shown}` is not a valid tenant database or role name ([a-z0-9_], max 63)"
        )))
    }
}

/// The password as a SCRAM-SHA-256 verifier literal (PostgreSQL stores a verifier as given).
fn password_literal(password: &SecretString) -> RepoResult<String> {
    let password = password.expose_secret();
    if password.is_empty() || password.contains('\0') {
        return Err(RepoError::Other(
            "a tenant database password must be non-empty and contain no NUL".to_owned(),
        ));
    }
    // Base64, digits and `$:` only: nothing to escape, but quote it the standard way regardless.
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    Ok(format!("'{}'", verifier.replace('\'', "''")))
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

async fn exists(conn: &mut AsyncPgConnection, sql: &str, name: &str) -> RepoResult<bool> {
    let row: Exists = sql_query(sql)
        .bind::<Text, _>(name)
        .get_result(conn)
        .await
        .map_err(|e| map_diesel("tenant database", e))?;
    Ok(row.exists)
}

/// Databases every cluster has that no tenant may connect to (`template0` allows no connections at all).
const HARDEN_CLUSTER: &str = "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC; REVOKE CONNECT ON DATABASE template1 FROM PUBLIC";

/// The role's connection limit and timeouts (`ALTER ROLE … SET`: applied to each new session of the
/// role, in milliseconds). The values are integers, so nothing needs quoting.
fn limits_sql(role: &str, limits: &TenantDbLimits) -> String {
    format!(
        "ALTER ROLE \"{role}\" WITH CONNECTION LIMIT {}; \
         ALTER ROLE \"{role}\" SET statement_timeout = {}; \
         ALTER ROLE \"{role}\" SET idle_in_transaction_session_timeout = {}",
        limits.connection_limit, limits.statement_timeout_ms, limits.idle_in_transaction_timeout_ms
    )
}

const ROLE_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists";
const DATABASE_EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists";

/// Runs DDL; its error never echoes the statement (which holds the verifier), only the server message.
async fn ddl(conn: &mut AsyncPgConnection, sql: &str, what: &str) -> RepoResult<()> {
    conn.batch_execute(sql)
        .await
        .map_err(|e| match map_diesel("tenant database", e) {
            RepoError::Other(msg) => RepoError::Other(format!("{what}: {msg}")),
            other => other,
        })
}

impl PgTenantDatabaseAdmin {
    async fn ensure_database_unbounded(
        &self,
        database: &str,
        role: &str,
        password: &SecretString,
        limits: &TenantDbLimits,
    ) -> RepoResult<()> {
        let database = validate_identifier(database)?;
        let role = validate_identifier(role)?;
        let password = password_literal(password)?;
        if !limits.is_valid() {
            return Err(RepoError::Other(format!(
                "tenant database limits must all be positive: {limits:?}"
            )));
        }
        let mut conn = self.connect_locked(role).await?;
        // Create-or-alter rather than `IF NOT EXISTS`: a retry must leave the role with *this* password.
        let alter_role = format!("ALTER ROLE \"{role}\" WITH LOGIN PASSWORD {password}");
        if exists(&mut conn, ROLE_EXISTS, role).await? {
            ddl(&mut conn, &alter_role, "updating the tenant role").await?;
        } else {
            let create = format!(
                "CREATE ROLE \"{role}\" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {password}"
            );
            if let Err(e) = ddl(&mut conn, &create, "creating the tenant role").await {
                // Another worker created it in between (duplicate object / unique violation): set the
                // password instead. Any other failure stands.
                if !exists(&mut conn, ROLE_EXISTS, role).await? {
                    return Err(e);
                }
                ddl(&mut conn, &alter_role, "updating the tenant role").await?;
            }
        }
        if exists(&mut conn, DATABASE_EXISTS, database).await? {
            // A retry after a half-done attempt: make sure the tenant's role owns it.
            let owner = format!("ALTER DATABASE \"{database}\" OWNER TO \"{role}\"");
            ddl(&mut conn, &owner, "setting the tenant database owner").await?;
        } else {
            let create = format!("CREATE DATABASE \"{database}\" OWNER \"{role}\"");
            if let Err(e) = ddl(&mut conn, &create, "creating the tenant database").await
                && !exists(&mut conn, DATABASE_EXISTS, database).await?
            {
                return Err(e);
            }
        }
        // Other roles on the shared cluster must not connect to this tenant's database: PUBLIC loses
        // every right on it and only the tenant's role is granted CONNECT.
        let restrict = format!(
            "REVOKE ALL ON DATABASE \"{database}\" FROM PUBLIC; \
             GRANT CONNECT, TEMPORARY ON DATABASE \"{database}\" TO \"{role}\""
        );
        ddl(&mut conn, &restrict, "restricting the tenant database").await?;
        // The cluster's own databases are no tenant's: PUBLIC (so every tenant role) loses CONNECT on
        // them. Repeated on every ensure, so a cluster created before this rule is hardened too.
        ddl(
            &mut conn,
            HARDEN_CLUSTER,
            "hardening the cluster's databases",
        )
        .await?;
        ddl(
            &mut conn,
            &limits_sql(role, limits),
            "limiting the tenant role",
        )
        .await?;
        tracing::info!(
            database,
            role,
            connection_limit = limits.connection_limit,
            "tenant database ensured"
        );
        Ok(())
    }

    async fn drop_database_unbounded(&self, database: &str, role: &str) -> RepoResult<()> {
        let database = validate_identifier(database)?;
        let role = validate_identifier(role)?;
        let mut conn = self.connect_locked(role).await?;
        // LOGIN goes first: if a later step fails (the role still owns something, the cluster goes
        // away), the role is left unusable rather than a live credential of a deleted tenant.
        if exists(&mut conn, ROLE_EXISTS, role).await? {
            ddl(
                &mut conn,
                &format!("ALTER ROLE \"{role}\" WITH NOLOGIN"),
                "disabling the tenant role's login",
            )
            .await?;
        }
        ddl(
            &mut conn,
            &format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"),
            "dropping the tenant database",
        )
        .await?;
        ddl(
            &mut conn,
            &format!("DROP ROLE IF EXISTS \"{role}\""),
            "dropping the tenant role",
        )
        .await?;
        tracing::info!(database, role, "tenant database dropped");
        Ok(())
    }

    async fn set_password_unbounded(&self, role: &str, password: &SecretString) -> RepoResult<()> {
        let role = validate_identifier(role)?;
        let password = password_literal(password)?;
        let mut conn = self.connect_locked(role).await?;
        if !exists(&mut conn, ROLE_EXISTS, role).await? {
            return Err(RepoError::NotFound {
                entity: "tenant database role",
            });
        }
        let alter_role = format!("ALTER ROLE \"{role}\" WITH PASSWORD {password}");
        ddl(&mut conn, &alter_role, "setting the tenant role's password").await?;
        tracing::info!(role, "tenant role password set");
        Ok(())
    }

    async fn database_exists_unbounded(&self, database: &str) -> RepoResult<bool> {
        let database = validate_identifier(database)?;
        let mut conn = self.connect().await?;
        exists(&mut conn, DATABASE_EXISTS, database).await
    }

    async fn role_exists_unbounded(&self, role: &str) -> RepoResult<bool> {
        let role = validate_identifier(role)?;
        let mut conn = self.connect().await?;
        exists(&mut conn, ROLE_EXISTS, role).await
    }
}

#[async_trait]
impl TenantDatabaseAdmin for PgTenantDatabaseAdmin {
    async fn ensure_database(
        &self,
        database: &str,
        role: &str,
        password: &SecretString,
        limits: &TenantDbLimits,
    ) -> RepoResult<()> {
        let call = self.ensure_database_unbounded(database, role, password, limits);
        self.bounded("creating the tenant database", call).await
    }

    async fn drop_database(&self, database: &str, role: &str) -> RepoResult<()> {
        let call = self.drop_database_unbounded(database, role);
        self.bounded("dropping the tenant database", call).await
    }

    async fn set_password(&self, role: &str, password: &SecretString) -> RepoResult<()> {
        let call = self.set_password_unbounded(role, password);
        self.bounded("setting the tenant role's password", call)
            .await
    }

    async fn database_exists(&self, database: &str) -> RepoResult<bool> {
        let call = self.database_exists_unbounded(database);
        self.bounded("looking up the tenant database", call).await
    }

    async fn role_exists(&self, role: &str) -> RepoResult<bool> {
        let call = self.role_exists_unbounded(role);
        self.bounded("looking up the tenant role", call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_validated() {
        for ok in ["site_3f2b8c1e9a4d", "tenant_3f2b8c1e9a4d", "_x", "a"] {
            assert!(validate_identifier(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "Site",
            "site-x",
            "a\"b",
            "x; DROP ROLE y",
            "pg_x",
            "1abc",
            "é",
            long.as_str(),
        ] {
            assert!(validate_identifier(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_is_sent_as_a_verifier_never_in_plaintext() {
        let secret = SecretString::from("p'a\"ss\\word$$".to_owned());
        let lit = password_literal(&secret).unwrap();
        assert!(lit.starts_with("'SCRAM-SHA-256$4096:"), "{lit}");
        assert!(!lit.contains("ss\\word"));
        assert_eq!(lit.matches('\'').count(), 2);
        assert!(password_literal(&SecretString::from(String::new())).is_err());
        assert!(password_literal(&SecretString::from("a\0b".to_owned())).is_err());
    }
}
