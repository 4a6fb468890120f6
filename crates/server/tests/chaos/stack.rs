//! The processes of the chaos run: `mock-fly` (its binary), one database, and two `management-api
//! serve` replicas on it (two workers each, the reconciler on a 1 s interval and a 2 s grace), with
//! `kill -9` and restart of a replica. Everything is stopped and the tenant databases dropped when the
//! stack is dropped; the logs stay under `target/tmp/chaos-*` when the run failed (or `CHAOS_KEEP=1`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use mgmt_test_support::db::TestDatabase;
use mgmt_test_support::process::LoggedProcess;
use mgmt_test_support::wait::eventually;
use secrecy::SecretString;
use serde_json::Value;

/// `FLY_SHARED_REGISTRY_APP`.
pub const REPOSITORY: &str = "chaos-images";
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct ChaosStack {
    pub mock_url: String,
    /// `GATEWAY_PUBLIC_HOST` of both replicas (the image name the deploy rule expects).
    pub gateway_host: String,
    env: Vec<(String, String)>,
    api_urls: Mutex<[String; 2]>,
    /// Where each replica's registry gateway listens.
    gateways: Mutex<[String; 2]>,
    apis: Mutex<[Option<LoggedProcess>; 2]>,
    restarts: Mutex<[usize; 2]>,
    next: AtomicUsize,
    http: reqwest::Client,
    mock: Option<LoggedProcess>,
    db: Option<TestDatabase>,
    dir: Option<tempfile::TempDir>,
    keep: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn sealing_keys() -> String {
    use base64::Engine;
    let mut key = uuid::Uuid::new_v4().into_bytes().to_vec();
    key.extend_from_slice(&uuid::Uuid::new_v4().into_bytes());
    format!(
        "chaos:{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

#[derive(diesel::QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = BigInt)]
    active_jobs: i64,
    #[diesel(sql_type = Text)]
    database_name: String,
    #[diesel(sql_type = Text)]
    database_role: String,
}

impl ChaosStack {
    pub async fn start() -> anyhow::Result<ChaosStack> {
        let dir = tempfile::Builder::new()
            .prefix("chaos-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
        let mock_bin = tokio::task::spawn_blocking(|| {
            mgmt_test_support::cargo_bin::cargo_bin("mgmt-mock-fly", "mock-fly")
        })
        .await??;
        let fly_token = format!("fly-chaos-{}", random_hex());
        let mut command = Command::new(mock_bin);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("MOCK_FLY_TOKEN", &fly_token)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--machine-start-delay-ms",
                "100",
                "--destroy-delay-ms",
                "300",
            ]);
        let mock = LoggedProcess::spawn("mock-fly", command, &dir.path().join("mock-fly.log"))?;
        let line = mock
            .wait_for_line(START_TIMEOUT, |l| {
                l.starts_with("mock-fly machines API: http://")
            })
            .await?;
        let mock_url = line
            .trim_start_matches("mock-fly machines API: ")
            .trim()
            .trim_end_matches("/v1")
            .to_owned();

        let db = TestDatabase::empty().await?;
        let admin = mgmt_test_support::db::admin_url();
        let parsed = url::Url::parse(&admin)?;
        let tenant_db_host = format!(
            "{}:{}",
            parsed.host_str().unwrap_or("127.0.0.1"),
            parsed.port().unwrap_or(5432)
        );
        let gateway_host = format!("127.0.0.1:{}", free_port()?);
        let jwt = format!("{}{}", random_hex(), random_hex());
        let env: Vec<(String, String)> = [
            ("RUST_LOG", "info,actix_server=warn"),
            ("LOG_FORMAT", "json"),
            ("DATABASE_URL", db.url()),
            ("DATABASE_POOL_SIZE", "8"),
            ("MIGRATE_ON_START", "false"),
            ("SHUTDOWN_TIMEOUT_SECS", "2"),
            ("WORKER_COUNT", "2"),
            // A job of a killed replica is reclaimed once its lease runs out: 6 s here (heartbeat
            // every 2 s), not the 60 s default, so a kill costs seconds of a bounded run.
            ("WORKER_LEASE_SECS", "6"),
            ("JWT_SECRET", &jwt),
            ("FLY_ENABLED", "true"),
            ("FLY_API_TOKEN", &fly_token),
            ("FLY_ORG_SLUG", "chaos-org"),
            ("FLY_SHARED_REGISTRY_APP", REPOSITORY),
            ("FLY_MACHINES_API_URL", &mock_url),
            ("FLY_REGISTRY_URL", &mock_url),
            ("FLY_SUBDOMAIN_SUFFIX", "tenants.chaos.localhost"),
            ("TENANT_DB_ADMIN_URL", &admin),
            ("TENANT_DB_HOST", &tenant_db_host),
            ("GATEWAY_PUBLIC_HOST", &gateway_host),
            ("GATEWAY_PUBLIC_SCHEME", "http"),
            (
                "GATEWAY_SIGNING_KEY",
                &format!("{}{}", random_hex(), random_hex()),
            ),
            ("SECRETS_ENCRYPTION_KEYS", &sealing_keys()),
            ("DEPLOY_HEALTH_GRACE_SECS", "0"),
            ("RECONCILE_INTERVAL_SECS", "1"),
            ("RECONCILE_GRACE_SECS", "2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let stack = ChaosStack {
            mock_url,
            gateway_host,
            env,
            api_urls: Mutex::new([String::new(), String::new()]),
            gateways: Mutex::new([String::new(), String::new()]),
            apis: Mutex::new([None, None]),
            restarts: Mutex::new([0, 0]),
            next: AtomicUsize::new(0),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            mock: Some(mock),
            db: Some(db),
            dir: Some(dir),
            keep: AtomicBool::new(std::env::var("CHAOS_KEEP").is_ok_and(|v| v == "1")),
        };
        let out = stack.command().arg("migrate").output()?;
        ensure!(
            out.status.success(),
            "migrate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for i in 0..2 {
            stack.restart(i).await?;
        }
        Ok(stack)
    }

    /// A user token of a new customer (each lifecycle has its own: the free plan allows one tenant).
    pub fn mint(&self, n: usize) -> anyhow::Result<String> {
        let sub = format!("chaos-user-{n}");
        let email = format!("chaos-{n}@example.test");
        let out = self
            .command()
            .args([
                "token", "mint", "--sub", &sub, "--email", &email, "--ttl", "7200",
            ])
            .output()?;
        ensure!(
            out.status.success(),
            "token mint: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_management-api"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    pub fn log_dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map(|d| d.path())
            .unwrap_or(Path::new("."))
    }

    pub fn keep_logs(&self) {
        self.keep.store(true, Ordering::Relaxed);
    }

    /// `kill -9` of replica `i` (no shutdown, no requeue: what a crash or an OOM kill does).
    pub fn kill9(&self, i: usize) {
        let taken = lock(&self.apis)[i].take();
        if let Some(p) = taken {
            let _ = Command::new("kill")
                .args(["-9", &p.pid().to_string()])
                .status();
            let _ = p.stop(Duration::from_millis(100));
        }
    }

    /// Starts replica `i` (again), on a new port.
    pub async fn restart(&self, i: usize) -> anyhow::Result<()> {
        self.kill9(i);
        let n = {
            let mut r = lock(&self.restarts);
            r[i] += 1;
            r[i]
        };
        let addr = format!("127.0.0.1:{}", free_port()?);
        // Replica 0's gateway is the public host (the image name deploys must use); both are real.
        let gateway = if i == 0 {
            self.gateway_host.clone()
        } else {
            format!("127.0.0.1:{}", free_port()?)
        };
        let mut c = self.command();
        c.env("LISTEN_ADDR", &addr)
            .env("GATEWAY_LISTEN_ADDR", &gateway)
            .arg("serve");
        let log: PathBuf = self.log_dir().join(format!("api-{i}.{n}.log"));
        let p = LoggedProcess::spawn(&format!("api-{i}"), c, &log)?;
        p.wait_for_line(START_TIMEOUT, |l| l.contains("management-api started"))
            .await?;
        lock(&self.api_urls)[i] = format!("http://{addr}");
        lock(&self.apis)[i] = Some(p);
        lock(&self.gateways)[i] = gateway;
        Ok(())
    }

    pub async fn ensure_running(&self) -> anyhow::Result<()> {
        for i in 0..2 {
            let alive = lock(&self.apis)[i]
                .as_ref()
                .is_some_and(|p| p.exit_status().ok().flatten().is_none());
            if !alive {
                self.restart(i).await?;
            }
        }
        Ok(())
    }

    /// One API call on the next replica (round robin); `Err` when it could not be sent or read.
    pub async fn api(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % 2;
        let base = lock(&self.api_urls)[i].clone();
        let url = format!("{base}{path}");
        let mut rb = self.http.request(method.parse()?, url).bearer_auth(token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// [`Self::api`] retried, as the CLI's user would, while a replica is down or answers 5xx.
    pub async fn api_retry(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let start = Instant::now();
        loop {
            match self.api(token, method, path, body.clone()).await {
                Ok((s, b)) if s < 500 => return Ok((s, b)),
                other if start.elapsed() > Duration::from_secs(60) => {
                    return other.and_then(|(s, b)| bail!("{method} {path}: {s} {b}"));
                }
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    pub async fn fault(&self, body: &Value) -> anyhow::Result<()> {
        let resp = self
            .http
            .post(format!("{}/__mock/faults", self.mock_url))
            .json(body)
            .send()
            .await?;
        ensure!(
            resp.status().as_u16() == 201,
            "fault {body}: {}",
            resp.status()
        );
        Ok(())
    }

    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        let resp = self
            .http
            .delete(format!("{}/__mock/faults", self.mock_url))
            .send()
            .await?;
        ensure!(
            resp.status().is_success(),
            "clear faults: {}",
            resp.status()
        );
        Ok(())
    }

    /// Calls mock-fly answered with an injected fault, by kind.
    pub async fn fired(&self) -> anyhow::Result<String> {
        let v: Value = self
            .http
            .get(format!("{}/__mock/faults", self.mock_url))
            .send()
            .await?
            .json()
            .await?;
        Ok(v["fired"].to_string())
    }

    async fn mock_state(&self) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}/__mock/state", self.mock_url))
            .send()
            .await?
            .json()
            .await?)
    }

    /// Pushes a tiny image of `content` as the CLI does: a registry credential from
    /// `registry-token`, then a push through a replica's gateway; returns the pushed digest.
    pub async fn push_image(
        &self,
        token: &str,
        tenant: &str,
        content: &str,
    ) -> anyhow::Result<String> {
        let layout = self.log_dir().join(format!("img-{}", random_hex()));
        let tag = format!("tenant-{tenant}");
        let bytes = content.as_bytes().to_vec();
        let (layout2, tag2) = (layout.clone(), tag.clone());
        let image = tokio::task::spawn_blocking(move || {
            mgmt_test_support::oci::build_image(&layout2, &tag2, &[&bytes], false)
        })
        .await??;
        // Faults and kills may hit the push too; a user pushes again.
        let mut tries = 0;
        loop {
            tries += 1;
            let attempt = async {
                let (s, cred) = self
                    .api_retry(
                        token,
                        "GET",
                        &format!("/api/v1/tenants/{tenant}/registry-token"),
                        None,
                    )
                    .await?;
                ensure!(s == 200, "registry-token answered {s}: {cred}");
                let d = &cred["data"];
                let gateway = lock(&self.gateways)[tries % 2].clone();
                let dest = format!("{gateway}/{REPOSITORY}:{tag}");
                let user = d["username"].as_str().context("username")?;
                let pass = d["token"].as_str().context("token")?;
                mgmt_test_support::oci::skopeo_push(&image, &dest, Some((user, pass)), &[]).await
            };
            match attempt.await {
                Ok(()) => break,
                Err(e) if tries < 10 => {
                    println!("    push failed ({e:#}); again");
                    tokio::time::sleep(Duration::from_millis(700)).await;
                }
                Err(e) => return Err(e),
            }
        }
        let _ = std::fs::remove_dir_all(&layout);
        let state = self.mock_state().await?;
        state["repositories"][REPOSITORY]["tags"][&tag]
            .as_str()
            .map(str::to_owned)
            .context("the pushed tag is not in the registry")
    }

    async fn rows(&self, ids: &[String]) -> anyhow::Result<Vec<Row>> {
        let url = self.db.as_ref().context("db")?.url().to_owned();
        let mut conn = mgmt_test_support::db::connect(&url).await?;
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT t.id::text AS id, t.state, t.database_name, t.database_role,
                    (SELECT count(*) FROM management.jobs j
                     WHERE j.tenant_id = t.id AND j.state IN ('queued', 'running')) AS active_jobs
             FROM management.tenants t WHERE t.id::text = ANY($1)",
        )
        .bind::<diesel::sql_types::Array<Text>, _>(ids)
        .load(&mut conn)
        .await?;
        Ok(rows)
    }

    /// Waits until every tenant is `deleted` with no job left.
    pub async fn converge(&self, ids: &[String], timeout: Duration) -> anyhow::Result<()> {
        eventually(timeout, || async {
            self.rows(ids).await.is_ok_and(|rows| {
                rows.len() == ids.len()
                    && rows
                        .iter()
                        .all(|r| r.state == "deleted" && r.active_jobs == 0)
            })
        })
        .await
        .map(drop)
        .context("tenants did not all reach `deleted`")
    }

    /// Tenants not deleted, or with a job still queued or running.
    pub async fn stuck(&self, ids: &[String]) -> anyhow::Result<Vec<String>> {
        Ok(self
            .rows(ids)
            .await?
            .into_iter()
            .filter(|r| r.state != "deleted" || r.active_jobs > 0)
            .map(|r| format!("{} state={} active_jobs={}", r.id, r.state, r.active_jobs))
            .collect())
    }

    /// Whatever mock-fly, its registry or the tenant cluster still hold of these (all deleted)
    /// tenants. Waits a little for deletes that linger, so only what stays is a leak.
    pub async fn leaks(&self, ids: &[String]) -> anyhow::Result<Vec<String>> {
        let mut leaks = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(8);
        loop {
            leaks.clear();
            let state = self.mock_state().await?;
            for app in state["apps"].as_array().into_iter().flatten() {
                leaks.push(format!(
                    "app {} (destroying: {})",
                    app["name"], app["destroying"]
                ));
            }
            for m in state["machines"].as_array().into_iter().flatten() {
                leaks.push(format!(
                    "machine {} of {} ({})",
                    m["id"], m["app"], m["state"]
                ));
            }
            for v in state["volumes"].as_array().into_iter().flatten() {
                leaks.push(format!("volume {} of {}", v["id"], v["app"]));
            }
            if let Some(tags) = state["repositories"][REPOSITORY]["tags"].as_object() {
                for tag in tags.keys() {
                    leaks.push(format!("registry tag {REPOSITORY}:{tag}"));
                }
            }
            if leaks.is_empty() || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let mut admin = mgmt_test_support::db::connect(&mgmt_test_support::db::admin_url()).await?;
        #[derive(diesel::QueryableByName)]
        struct Name {
            #[diesel(sql_type = Text)]
            name: String,
        }
        let rows = self.rows(ids).await?;
        let dbs: Vec<String> = rows.iter().map(|r| r.database_name.clone()).collect();
        let roles: Vec<String> = rows.iter().map(|r| r.database_role.clone()).collect();
        let found: Vec<Name> = diesel::sql_query(
            "SELECT datname::text AS name FROM pg_database WHERE datname = ANY($1)
             UNION ALL SELECT rolname::text FROM pg_roles WHERE rolname = ANY($2)",
        )
        .bind::<diesel::sql_types::Array<Text>, _>(&dbs)
        .bind::<diesel::sql_types::Array<Text>, _>(&roles)
        .load(&mut admin)
        .await?;
        leaks.extend(
            found
                .into_iter()
                .map(|n| format!("tenant cluster: {}", n.name)),
        );
        Ok(leaks)
    }
}

impl Drop for ChaosStack {
    fn drop(&mut self) {
        let apis = std::mem::take(&mut *lock(&self.apis));
        for p in apis.into_iter().flatten() {
            let _ = p.stop(Duration::from_secs(3));
        }
        if let Some(m) = self.mock.take() {
            let _ = m.stop(Duration::from_secs(3));
        }
        if let Some(db) = &self.db {
            mgmt_persistence::testing::drop_recorded_tenant_databases(&SecretString::from(
                db.url().to_owned(),
            ));
        }
        self.db.take();
        if let Some(dir) = self.dir.take()
            && AtomicBool::load(&self.keep, Ordering::Relaxed)
        {
            let path = dir.keep();
            println!("chaos logs kept in {}", path.display());
        }
    }
}
