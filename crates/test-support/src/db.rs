//! A fresh, migrated PostgreSQL database per test, cloned from a template that is built once, and
//! dropped afterwards even when the test panics.
//!
//! The template is named after a hash of the migrations directory, so a changed migration builds a new
//! one, and it is built under a PostgreSQL advisory lock, so parallel test processes (nextest runs each
//! test in its own process) never race to build it. Cloning a template is a file copy: far cheaper
//! than running every migration per test.
//!
//! This crate does not depend on the persistence crate (which depends on it for its tests): the caller
//! passes the function that migrates a database, given its URL.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use diesel::sql_types::{Bool, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use sha2::{Digest, Sha256};

use crate::blocking::block_on_fresh_thread;

/// The local development server (trust auth, superuser `postgres`).
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Advisory lock key under which templates are built (any constant shared by all test processes).
const TEMPLATE_LOCK_KEY: i64 = 0x7465_6e61_6e74_0001;

/// The admin URL of the test server: `DATABASE_URL`, or [`DEFAULT_ADMIN_URL`].
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_owned())
}

/// The same server URL with another database name (the path of the URL; a query string is kept).
pub fn url_for_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// A short hash of every file under `dir` (names and contents, in a stable order).
pub fn hash_directory(dir: &Path) -> anyhow::Result<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, root, out)?;
            } else {
                let rel = path.strip_prefix(root)?.to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&path)?));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for (name, content) in files {
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(&content);
    }
    Ok(hex::encode(&hasher.finalize()[..8]))
}

#[derive(QueryableByName)]
struct IsTemplate {
    #[diesel(sql_type = Bool)]
    is_template: bool,
}

/// A database that exists for one test and is dropped (connections terminated) when this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDatabase {
    /// A new database cloned from the migrated template of `migrations_dir`. `migrate` is called with
    /// the template's URL only when that template does not exist yet.
    pub async fn new<F, Fut>(migrations_dir: &Path, migrate: F) -> anyhow::Result<Self>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let admin_url = admin_url();
        let template = format!("tmpl_{}", hash_directory(migrations_dir)?);
        ensure_template(&admin_url, &template, migrate).await?;
        Self::create(admin_url, &template).await
    }

    /// A new, empty database (from `template0`): for tests of migrations themselves.
    pub async fn empty() -> anyhow::Result<Self> {
        Self::create(admin_url(), "template0").await
    }

    async fn create(admin_url: String, template: &str) -> anyhow::Result<Self> {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let url = url_for_database(&admin_url, &name);
        let mut admin = connect(&admin_url).await?;
        let sql = format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"");
        // A template being connected to cannot be copied; that happens only for a moment after it was
        // built, so a few retries cover it.
        let mut tries = 0;
        loop {
            match admin.batch_execute(&sql).await {
                Ok(()) => break,
                Err(e) if tries < 50 && e.to_string().contains("being accessed by other users") => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("creating test database {name} from {template}"));
                }
            }
        }
        Ok(Self {
            name,
            url,
            admin_url,
        })
    }

    /// Connection URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Name of this database.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's admin URL (to create other throwaway objects on the same server).
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside or outside a tokio runtime, and maybe while unwinding.
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let admin_url = self.admin_url.clone();
        let outcome = block_on_fresh_thread(|| async move {
            let mut admin = connect(&admin_url).await?;
            admin.batch_execute(&sql).await?;
            Ok(())
        });
        if let Err(e) = outcome {
            eprintln!(
                "test-support: could not drop test database {}: {e:#}",
                self.name
            );
        }
    }
}

/// Connects to `url` (any database of the test server).
pub async fn connect(url: &str) -> anyhow::Result<AsyncPgConnection> {
    AsyncPgConnection::establish(url)
        .await
        .with_context(|| "connecting to the test PostgreSQL server (is it running? DATABASE_URL?)")
}

async fn ensure_template<F, Fut>(admin_url: &str, template: &str, migrate: F) -> anyhow::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut admin = connect(admin_url).await?;
    // Session-level lock: released by the unlock below or, if this process dies, by the disconnect.
    admin
        .batch_execute(&format!("SELECT pg_advisory_lock({TEMPLATE_LOCK_KEY})"))
        .await?;
    let result = build_template_if_missing(&mut admin, admin_url, template, migrate).await;
    let unlock = admin
        .batch_execute(&format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK_KEY})"))
        .await;
    result?;
    unlock?;
    Ok(())
}

async fn build_template_if_missing<F, Fut>(
    admin: &mut AsyncPgConnection,
    admin_url: &str,
    template: &str,
    migrate: F,
) -> anyhow::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    // `datistemplate` is set only once migrations succeeded: it is the "finished" mark, so a template
    // left half-built by a crashed process is rebuilt.
    let existing: Vec<IsTemplate> =
        sql_query("SELECT datistemplate AS is_template FROM pg_database WHERE datname = $1")
            .bind::<Text, _>(template)
            .load(admin)
            .await?;
    if existing.iter().any(|t| t.is_template) {
        return Ok(());
    }
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{template}\" WITH (FORCE)"
        ))
        .await?;
    admin
        .batch_execute(&format!(
            "CREATE DATABASE \"{template}\" TEMPLATE template0"
        ))
        .await?;
    if let Err(e) = migrate(url_for_database(admin_url, template)).await {
        let _cleanup = admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{template}\" WITH (FORCE)"
            ))
            .await;
        return Err(e.context(format!("migrating template database {template}")));
    }
    // No connection may stay on a template being copied; then forbid new ones.
    sql_query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
        .bind::<Text, _>(template)
        .execute(admin)
        .await?;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{template}\" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
        ))
        .await?;
    Ok(())
}

/// A private PostgreSQL server for one test: password (SCRAM) authentication for every role but the
/// `postgres` superuser, on a free 127.0.0.1 port, deleted on drop. Use it where trust authentication
/// of the shared test server would hide a wrong password (tenant roles logging in).
#[derive(Debug)]
pub struct ScratchCluster {
    dir: tempfile::TempDir,
    port: u16,
    bindir: std::path::PathBuf,
    as_postgres_user: bool,
}

impl ScratchCluster {
    /// `initdb` + `pg_ctl start` (about a second). As root, the server runs as the `postgres` user.
    pub fn start() -> anyhow::Result<Self> {
        let bindir = postgres_bindir()?;
        let as_postgres_user = command_output("id", &["-u"])?.trim() == "0";
        let dir = tempfile::Builder::new().prefix("scratch-pg-").tempdir()?;
        if as_postgres_user {
            command_output("chown", &["postgres", &dir.path().to_string_lossy()])?;
        }
        let data = dir.path().join("data");
        let mut cluster = Self {
            dir,
            port: 0,
            bindir,
            as_postgres_user,
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-N",
            ],
        )?;
        // The superuser connects without a password (as on the shared test server); everyone else
        // must present theirs. The first matching line wins, so this goes first.
        let hba = data.join("pg_hba.conf");
        let rest = std::fs::read_to_string(&hba)?;
        std::fs::write(
            &hba,
            format!("host all postgres 127.0.0.1/32 trust\n{rest}"),
        )?;
        let mut last_error = None;
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                cluster.dir.path().display()
            );
            let log = cluster.dir.path().join("log");
            match cluster.run(
                "pg_ctl",
                &[
                    "-D",
                    &data.to_string_lossy(),
                    "-o",
                    &options,
                    "-l",
                    &log.to_string_lossy(),
                    "-w",
                    "start",
                ],
            ) {
                Ok(_) => {
                    cluster.port = port;
                    return Ok(cluster);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("scratch cluster did not start")))
    }

    /// The superuser's URL.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A URL logging in as `user` with `password` (both URL-safe in tests) to `database`.
    pub fn url(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<String> {
        let program = self.bindir.join(tool);
        let program = program.to_string_lossy();
        if self.as_postgres_user {
            let mut full = vec!["-u", "postgres", "--", program.as_ref()];
            full.extend_from_slice(args);
            command_output("runuser", &full)
        } else {
            command_output(&program, args)
        }
    }
}

impl Drop for ScratchCluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.dir.path().join("data");
            if let Err(e) = self.run(
                "pg_ctl",
                &[
                    "-D",
                    &data.to_string_lossy(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            ) {
                eprintln!("test-support: could not stop the scratch cluster: {e:#}");
            }
        }
    }
}

/// `PG_BINDIR`, else the newest `/usr/lib/postgresql/<version>/bin` (Debian), else `pg_config --bindir`.
fn postgres_bindir() -> anyhow::Result<std::path::PathBuf> {
    if let Ok(dir) = std::env::var("PG_BINDIR") {
        return Ok(dir.into());
    }
    let mut versions: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => Ok(command_output("pg_config", &["--bindir"])?.trim().into()),
    }
}

fn command_output(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "{program} {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced_in_urls() {
        assert_eq!(
            url_for_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            url_for_database("postgres://u:p@h:1/db?sslmode=disable", "x"),
            "postgres://u:p@h:1/x?sslmode=disable"
        );
        assert_eq!(url_for_database("postgres://h", "x"), "postgres://h/x");
    }

    #[tokio::test]
    async fn empty_database_is_created_and_dropped() {
        let db = TestDatabase::empty().await.unwrap();
        let name = db.name().to_owned();
        let mut conn = connect(db.url()).await.unwrap();
        conn.batch_execute("CREATE TABLE t (x int)").await.unwrap();
        drop(db);
        let mut admin = connect(&admin_url()).await.unwrap();
        let left: Vec<IsTemplate> =
            sql_query("SELECT datistemplate AS is_template FROM pg_database WHERE datname = $1")
                .bind::<Text, _>(&name)
                .load(&mut admin)
                .await
                .unwrap();
        assert!(left.is_empty(), "{name} still exists");
    }

    #[tokio::test]
    async fn scratch_cluster_demands_passwords_of_other_roles() {
        let cluster = ScratchCluster::start().unwrap();
        let mut admin = connect(&cluster.admin_url()).await.unwrap();
        admin
            .batch_execute("CREATE ROLE someone LOGIN PASSWORD 'right'")
            .await
            .unwrap();
        connect(&cluster.url("someone", "right", "postgres"))
            .await
            .unwrap();
        let err = AsyncPgConnection::establish(&cluster.url("someone", "wrong", "postgres"))
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("password authentication failed"),
            "{err}"
        );
    }
}
