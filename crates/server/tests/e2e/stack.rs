//! The system under test as processes: mock-fly (its binary, built by cargo), optionally Debian's
//! `docker-registry` as the upstream registry, and `management-api` (`migrate`, then `serve` with its
//! registry gateway and workers) on a database of its own. Everything is torn down when the [`Stack`]
//! is dropped, whether the test passed or not: processes stopped (SIGTERM, then SIGKILL), the tenant
//! databases and roles its tenants still hold dropped, then its own database. On failure the step that
//! failed and the end of every log are printed, and the logs are kept.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use mgmt_test_support::db::TestDatabase;
use mgmt_test_support::process::LoggedProcess;
use mgmt_test_support::registry::{RegistryAuth, RegistryOptions, RegistryServer};
use mgmt_test_support::wait::eventually;
use secrecy::SecretString;

/// The shared registry repository (`FLY_SHARED_REGISTRY_APP`).
pub const REPOSITORY: &str = "e2e-images";

/// `PADDLE_WEBHOOK_SECRET`: the notification destination's secret mock-paddle signs with.
pub const PADDLE_WEBHOOK_SECRET: &str = "pdl_ntfset_e2e_secret_0123456789";

/// How long a process may take to start (a loaded 2-core CI machine, debug binaries).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Which registry the gateway forwards to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// mock-fly's own registry (`/v2` on the Machines API's address).
    MockFly,
    /// Debian's `docker-registry` with htpasswd user `x` and password = the Fly token, like
    /// registry.fly.io.
    DockerRegistry,
}

impl Upstream {
    pub fn name(self) -> &'static str {
        match self {
            Upstream::MockFly => "mock-fly",
            Upstream::DockerRegistry => "docker-registry",
        }
    }
}

/// The running system and what a client needs to know about it.
#[derive(Debug)]
pub struct Stack {
    pub upstream: Upstream,
    /// `FLY_API_TOKEN`: mock-fly's only token, and the upstream registry's password.
    pub fly_token: String,
    /// `http://127.0.0.1:PORT` of mock-fly (Machines API under `/v1`, `/__mock/state`).
    pub mock_url: String,
    /// `http://127.0.0.1:PORT` of the upstream registry.
    pub upstream_url: String,
    /// `http://127.0.0.1:PORT` of the API.
    pub api_url: String,
    /// `management-api`'s environment (all of it: the child starts from an empty one).
    api_env: Vec<(String, String)>,
    started: Instant,
    step: Mutex<String>,
    failure_reported: AtomicBool,
    /// Paddle's stand-in (in this process: it has no binary).
    paddle: Option<mgmt_mock_paddle::MockPaddle>,
    /// GitHub's and Google's stand-in (in this process, like Paddle's), when the stack was started with
    /// [`Stack::start_with_idp`]: the API's `GITHUB_*`/`GOOGLE_*` settings point at it.
    idp: Option<mgmt_mock_idp::MockIdp>,
    // Torn down in this order (see `Drop`).
    api: Option<LoggedProcess>,
    mock: Option<LoggedProcess>,
    registry: Option<RegistryServer>,
    db: Option<TestDatabase>,
    dir: Option<tempfile::TempDir>,
}

impl Stack {
    /// Starts everything; a failure is reported (logs included) and panics.
    pub async fn start(upstream: Upstream) -> Stack {
        Self::start_inner(upstream, false).await
    }

    /// [`Stack::start`] plus mock-idp, started before the API, which is configured for its GitHub and
    /// Google (the CLI login, contract §6.1).
    pub async fn start_with_idp(upstream: Upstream) -> Stack {
        Self::start_inner(upstream, true).await
    }

    async fn start_inner(upstream: Upstream, with_idp: bool) -> Stack {
        let dir = tempfile::Builder::new()
            .prefix(&format!("e2e-{}-", upstream.name()))
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a directory for the logs");
        let mut stack = Stack {
            upstream,
            fly_token: format!("fly-e2e-{}", random_key()),
            mock_url: String::new(),
            upstream_url: String::new(),
            api_url: String::new(),
            api_env: Vec::new(),
            started: Instant::now(),
            step: Mutex::new("setup".into()),
            failure_reported: AtomicBool::new(false),
            paddle: None,
            idp: None,
            api: None,
            mock: None,
            registry: None,
            db: None,
            dir: Some(dir),
        };
        if let Err(e) = stack.start_processes(with_idp).await {
            stack.fail(e);
        }
        stack
    }

    async fn start_processes(&mut self, with_idp: bool) -> anyhow::Result<()> {
        self.step("build mock-fly (cargo build -p mgmt-mock-fly --bin mock-fly)");
        let mock_bin = tokio::task::spawn_blocking(|| {
            mgmt_test_support::cargo_bin::cargo_bin("mgmt-mock-fly", "mock-fly")
        })
        .await??;

        self.step("start mock-fly");
        self.start_mock_fly(&mock_bin).await?;
        self.upstream_url = self.mock_url.clone();
        if self.upstream == Upstream::DockerRegistry {
            self.step("start docker-registry (user x, password = the Fly token, deletion enabled)");
            let auth = RegistryAuth {
                username: "x".into(),
                password: self.fly_token.clone(),
            };
            let registry = tokio::task::spawn_blocking(move || {
                RegistryServer::start(RegistryOptions {
                    delete_enabled: true,
                    auth: Some(auth),
                })
            })
            .await?;
            self.upstream_url = registry.url();
            self.registry = Some(registry);
        }

        self.step("start mock-paddle");
        self.paddle = Some(mgmt_mock_paddle::MockPaddle::start().await?);
        if with_idp {
            self.step("start mock-idp (GitHub and Google)");
            self.idp = Some(mgmt_mock_idp::MockIdp::start().await?);
        }

        self.step("create an empty database, `management-api migrate`");
        let db = TestDatabase::empty().await?;
        println!("    database {}", db.name());
        let db_url = db.url().to_owned();
        self.db = Some(db);
        let migrate = self
            .run_api_command(
                &[("DATABASE_URL", db_url.as_str()), ("LOG_FORMAT", "json")],
                &["migrate"],
                "migrate.log",
                true,
            )
            .await?;
        ensure!(
            migrate.status.success(),
            "migrate failed ({}); see migrate.log",
            migrate.status
        );

        self.api_env = self.api_env(&db_url)?;
        self.start_api().await?;
        println!(
            "    API {}, upstream registry {}",
            self.api_url, self.upstream_url
        );
        Ok(())
    }

    async fn start_mock_fly(&mut self, bin: &Path) -> anyhow::Result<()> {
        let mut command = Command::new(bin);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            // The token in the environment, not on the command line (`ps` shows that).
            .env("MOCK_FLY_TOKEN", &self.fly_token)
            .args(["--listen", "127.0.0.1:0", "--machine-start-delay-ms", "300"]);
        let mock = self.mock.insert(LoggedProcess::spawn(
            "mock-fly",
            command,
            &self.log_path("mock-fly.log"),
        )?);
        let line = mock
            .wait_for_line(START_TIMEOUT, |l| {
                l.starts_with("mock-fly machines API: http://")
            })
            .await?;
        let url = line.trim_start_matches("mock-fly machines API: ").trim();
        self.mock_url = url.trim_end_matches("/v1").to_owned();
        Ok(())
    }

    /// `serve`. The gateway's port is part of `GATEWAY_PUBLIC_HOST` and the API's of `PUBLIC_API_URL`
    /// (the issuer of the tokens it signs and the `resource` the CLI's exchange names), so both are chosen
    /// before the start; when another process takes one in between, others are tried.
    async fn start_api(&mut self) -> anyhow::Result<()> {
        for attempt in 1..=3 {
            let gateway = format!("127.0.0.1:{}", free_port()?);
            let api = format!("127.0.0.1:{}", free_port()?);
            self.set_env("LISTEN_ADDR", &api);
            self.set_env("PUBLIC_API_URL", &format!("http://{api}"));
            self.step(&format!(
                "start management-api (API on {api}, gateway on {gateway})"
            ));
            let mut command = self.api_command(&[
                ("GATEWAY_LISTEN_ADDR", gateway.as_str()),
                ("GATEWAY_PUBLIC_HOST", gateway.as_str()),
            ]);
            command.arg("serve");
            let log = self.log_path("management-api.log");
            let api = self
                .api
                .insert(LoggedProcess::spawn("management-api", command, &log)?);
            match api
                .wait_for_line(START_TIMEOUT, |l| l.contains("management-api started"))
                .await
            {
                Ok(line) => {
                    let addr = json_field(&line, "api_addr")
                        .with_context(|| format!("no api_addr in the start line: {line}"))?;
                    self.api_url = format!("http://{addr}");
                    break;
                }
                Err(e) if attempt < 3 && api.log().contains("cannot listen") => {
                    println!("    a port was taken ({e:#}); others");
                    self.api = None;
                    std::fs::rename(
                        &log,
                        self.log_path(&format!("management-api.{attempt}.log")),
                    )?;
                }
                Err(e) => return Err(e),
            }
        }
        let ready = format!("{}/api/v1/ready", self.api_url);
        let http = reqwest::Client::new();
        eventually(START_TIMEOUT, || async {
            http.get(&ready)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await
        .context("GET /api/v1/ready never answered 2xx")
    }

    /// Sets (or replaces) one variable of the API's environment.
    fn set_env(&mut self, key: &str, value: &str) {
        self.api_env.retain(|(k, _)| k != key);
        self.api_env.push((key.to_owned(), value.to_owned()));
    }

    /// A fresh RSA key for the tokens the API signs (`TOKEN_SIGNING_KEYS`), made by openssl as an
    /// operator would.
    fn signing_key(&self) -> anyhow::Result<String> {
        let path = self.log_path("token-signing-key.pem");
        let out = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&path)
            .output()
            .context("running openssl genpkey")?;
        ensure!(
            out.status.success(),
            "openssl genpkey failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(format!("e2e-1={}", path.display()))
    }

    /// The whole environment of `management-api serve` (nothing leaks in from the test's own).
    fn api_env(&self, db_url: &str) -> anyhow::Result<Vec<(String, String)>> {
        let admin = mgmt_test_support::db::admin_url();
        let parsed = url::Url::parse(&admin).context("the PostgreSQL admin URL")?;
        let tenant_db_host = format!(
            "{}:{}",
            parsed.host_str().unwrap_or("127.0.0.1"),
            parsed.port().unwrap_or(5432)
        );
        let paddle = self.paddle.as_ref().context("mock-paddle is not running")?;
        let vars = [
            ("RUST_LOG", "info,actix_server=warn".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
            ("DATABASE_URL", db_url.to_owned()),
            ("MIGRATE_ON_START", "false".to_owned()),
            ("SHUTDOWN_TIMEOUT_SECS", "5".to_owned()),
            ("JWT_SECRET", random_key()),
            ("FLY_ENABLED", "true".to_owned()),
            ("FLY_API_TOKEN", self.fly_token.clone()),
            ("FLY_ORG_SLUG", "e2e-org".to_owned()),
            ("FLY_SHARED_REGISTRY_APP", REPOSITORY.to_owned()),
            ("FLY_MACHINES_API_URL", self.mock_url.clone()),
            ("FLY_REGISTRY_URL", self.upstream_url.clone()),
            ("FLY_SUBDOMAIN_SUFFIX", "tenants.e2e.localhost".to_owned()),
            ("TENANT_DB_ADMIN_URL", admin),
            // The same server stands in for the operator's public database endpoint.
            ("TENANT_DB_PUBLIC_ENDPOINT", tenant_db_host.clone()),
            ("TENANT_DB_HOST", tenant_db_host),
            ("GATEWAY_PUBLIC_SCHEME", "http".to_owned()),
            ("GATEWAY_SIGNING_KEY", random_key()),
            ("TOKEN_SIGNING_KEYS", self.signing_key()?),
            ("PADDLE_API_URL", paddle.url()),
            ("PADDLE_API_KEY", paddle.api_key().to_owned()),
            ("PADDLE_WEBHOOK_SECRET", PADDLE_WEBHOOK_SECRET.to_owned()),
            ("SECRETS_ENCRYPTION_KEYS", sealing_keys()),
        ];
        let idp = self.idp.iter().flat_map(mgmt_mock_idp::MockIdp::settings);
        Ok(vars
            .into_iter()
            .chain(idp)
            .map(|(k, v)| (k.to_owned(), v))
            .collect())
    }

    /// mock-idp, when the stack was started with [`Stack::start_with_idp`].
    pub fn idp(&self) -> anyhow::Result<&mgmt_mock_idp::MockIdp> {
        self.idp
            .as_ref()
            .context("mock-idp is not running (use Stack::start_with_idp)")
    }

    /// `management-api` with the API's environment plus `extra`, from an empty environment.
    fn api_command(&self, extra: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_management-api"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "HOME",
                std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into()),
            )
            .envs(self.api_env.iter().map(|(k, v)| (k, v)))
            .envs(extra.iter().copied());
        command
    }

    /// Runs a one-shot `management-api` command; its stderr (and stdout when `log_stdout`) goes to
    /// `log` in the logs directory.
    async fn run_api_command(
        &self,
        extra_env: &[(&str, &str)],
        args: &[&str],
        log: &str,
        log_stdout: bool,
    ) -> anyhow::Result<std::process::Output> {
        let mut command = tokio::process::Command::from(self.api_command(extra_env));
        let out = command
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .with_context(|| format!("running management-api {}", args.join(" ")))?;
        let mut text = if log_stdout {
            out.stdout.clone()
        } else {
            Vec::new()
        };
        text.extend_from_slice(&out.stderr);
        std::fs::write(self.log_path(log), text)?;
        Ok(out)
    }

    /// `management-api token mint`: a user token for a new random user.
    pub async fn mint_token(&self) -> anyhow::Result<String> {
        self.mint_token_for(&format!("e2e-{}", random_hex())).await
    }

    /// `management-api token mint` for the user `sub`.
    pub async fn mint_token_for(&self, sub: &str) -> anyhow::Result<String> {
        let out = self
            .run_api_command(
                &[],
                &[
                    "token",
                    "mint",
                    "--sub",
                    sub,
                    "--email",
                    "e2e@example.com",
                    "--ttl",
                    "3600",
                ],
                "mint.log",
                false,
            )
            .await?;
        ensure!(
            out.status.success(),
            "token mint failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    /// Gives the tenant a subscription, as a checkout would have: Paddle holds it (mock-paddle) and the
    /// API's database links it to the tenant. Returns the subscription id.
    pub async fn seed_subscription(&self, tenant_id: &str) -> anyhow::Result<String> {
        use diesel::sql_types::Text;
        use diesel_async::RunQueryDsl;

        let paddle = self.paddle.as_ref().context("mock-paddle is not running")?;
        let sub = paddle.seed_subscription(mgmt_mock_paddle::SeedSubscription {
            id: None,
            status: None,
            customer_id: None,
        });
        let db = self.db.as_ref().context("the stack has no database")?;
        let mut conn = mgmt_test_support::db::connect(db.url()).await?;
        diesel::sql_query(
            "INSERT INTO management.subscriptions (id, tenant_id, customer_id, status) \
             SELECT $1, id, customer_id, 'active' FROM management.tenants WHERE id = $2::uuid",
        )
        .bind::<Text, _>(&sub.id)
        .bind::<Text, _>(tenant_id)
        .execute(&mut conn)
        .await?;
        Ok(sub.id)
    }

    /// mock-paddle (Paddle's stand-in, in this process).
    pub fn paddle(&self) -> anyhow::Result<&mgmt_mock_paddle::MockPaddle> {
        self.paddle.as_ref().context("mock-paddle is not running")
    }

    /// Points mock-paddle's notification destination at the API's webhook endpoint (signed with
    /// [`PADDLE_WEBHOOK_SECRET`]) and its payment page's success redirect at the API's return page, as
    /// an operator configures Paddle's dashboard.
    pub fn paddle_to_api(&self) -> anyhow::Result<()> {
        let paddle = self.paddle()?;
        paddle.configure_webhooks(
            &format!("{}/api/v1/webhooks/paddle", self.api_url),
            PADDLE_WEBHOOK_SECRET,
        );
        paddle.set_success_url(&format!("{}/checkout/return", self.api_url));
        Ok(())
    }

    /// The status of the tenant's subscription as the API's database holds it.
    pub async fn subscription_status(&self, tenant_id: &str) -> anyhow::Result<Option<String>> {
        use diesel::sql_types::Text;
        use diesel_async::RunQueryDsl;

        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            status: String,
        }
        let db = self.db.as_ref().context("the stack has no database")?;
        let mut conn = mgmt_test_support::db::connect(db.url()).await?;
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT status::text AS status FROM management.subscriptions WHERE tenant_id = $1::uuid",
        )
        .bind::<Text, _>(tenant_id)
        .load(&mut conn)
        .await?;
        Ok(rows.into_iter().next().map(|r| r.status))
    }

    /// How many webhook events the API stored (each once, by event id).
    pub async fn billing_event_count(&self) -> anyhow::Result<i64> {
        use diesel::sql_types::BigInt;
        use diesel_async::RunQueryDsl;

        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let db = self.db.as_ref().context("the stack has no database")?;
        let mut conn = mgmt_test_support::db::connect(db.url()).await?;
        let row: Count = diesel::sql_query("SELECT count(*) AS n FROM management.billing_events")
            .get_result(&mut conn)
            .await?;
        Ok(row.n)
    }

    /// How many deployments the API recorded for the tenant (read from its database).
    pub async fn deployment_count(&self, tenant_id: &str) -> anyhow::Result<i64> {
        use diesel::sql_types::{BigInt, Text};
        use diesel_async::RunQueryDsl;

        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let db = self.db.as_ref().context("the stack has no database")?;
        let mut conn = mgmt_test_support::db::connect(db.url()).await?;
        let row: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM management.deployments WHERE tenant_id = $1::uuid",
        )
        .bind::<Text, _>(tenant_id)
        .get_result(&mut conn)
        .await?;
        Ok(row.n)
    }

    /// The API process's log so far.
    pub fn api_log(&self) -> String {
        self.api
            .as_ref()
            .map(LoggedProcess::log)
            .unwrap_or_default()
    }

    /// Stops `management-api` (SIGTERM: a graceful shutdown) and checks that it exited cleanly.
    pub fn stop_api(&self) -> anyhow::Result<()> {
        let Some(api) = &self.api else {
            bail!("management-api is not running")
        };
        let status = api.stop(Duration::from_secs(15))?;
        ensure!(
            status.success(),
            "management-api did not shut down cleanly: {status}"
        );
        Ok(())
    }

    /// The server of this test's database (tenant databases and roles are created there).
    pub fn admin_url(&self) -> String {
        mgmt_test_support::db::admin_url()
    }

    /// Records and prints the step about to run (printed again on failure).
    pub fn step(&self, what: &str) {
        *self.step.lock().unwrap_or_else(|p| p.into_inner()) = what.to_owned();
        println!(
            "[{:>5.1}s] {:<16} {what}",
            self.started.elapsed().as_secs_f64(),
            self.upstream.name()
        );
    }

    /// Reports `error` with the failing step and the end of every log, keeps the logs, and panics.
    pub fn fail(&self, error: anyhow::Error) -> ! {
        self.report_failure(&format!("{error:#}"));
        panic!(
            "e2e ({}) failed at step '{}': {error:#}",
            self.upstream.name(),
            self.current_step()
        );
    }

    fn current_step(&self) -> String {
        self.step.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn report_failure(&self, reason: &str) {
        if self.failure_reported.swap(true, Ordering::SeqCst) {
            return;
        }
        eprintln!();
        eprintln!(
            "E2E FAILED ({}) at step: {}",
            self.upstream.name(),
            self.current_step()
        );
        eprintln!("  {reason}");
        for process in [&self.api, &self.mock].into_iter().flatten() {
            eprintln!(
                "----- last lines of {} ({}) -----",
                process.name(),
                process.log_path().display()
            );
            for line in process.tail(25).lines() {
                eprintln!("{}", compact_log_line(line));
            }
        }
        if let Some(registry) = &self.registry {
            let log = registry.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("----- last lines of docker-registry -----");
            eprintln!("{}", lines[lines.len().saturating_sub(25)..].join("\n"));
        }
    }

    /// A file in the logs directory (kept with the other logs on failure).
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.log_path(name)
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir
            .as_ref()
            .expect("the logs directory lives as long as the stack")
            .path()
            .join(name)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        if failed {
            self.report_failure("panicked (see the panic message)");
        }
        // Processes first (the API's workers must not act while its databases go), the upstream
        // registry, then what the API's tenants hold on the database server, then its own database.
        drop(self.api.take());
        drop(self.mock.take());
        drop(self.registry.take());
        if let Some(db) = self.db.take() {
            mgmt_persistence::testing::drop_recorded_tenant_databases(&SecretString::from(
                db.url().to_owned(),
            ));
            drop(db);
        }
        // Removed with the stack unless kept here.
        if let Some(dir) = self.dir.take()
            && (failed || std::env::var_os("E2E_KEEP").is_some())
        {
            eprintln!("e2e: logs kept in {}", dir.keep().display());
        }
    }
}

/// A port on 127.0.0.1 nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// 32 random hex digits.
pub fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// 64 random hex digits: a 32-byte key.
fn random_key() -> String {
    format!("{}{}", random_hex(), random_hex())
}

/// `SECRETS_ENCRYPTION_KEYS` with one random key: 32 bytes (two UUIDs' worth) in base64.
fn sealing_keys() -> String {
    use base64::Engine;
    let mut key = uuid::Uuid::new_v4().into_bytes().to_vec();
    key.extend_from_slice(&uuid::Uuid::new_v4().into_bytes());
    format!(
        "e2e:{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// A JSON log line as `timestamp LEVEL target: message key=value ...` (spans left out: the whole line
/// is in the kept log); any other line as it is.
fn compact_log_line(line: &str) -> String {
    let Ok(serde_json::Value::Object(event)) = serde_json::from_str(line) else {
        return line.to_owned();
    };
    let text = |key: &str| event.get(key).and_then(|v| v.as_str()).unwrap_or_default();
    let mut out = format!(
        "{} {} {}:",
        text("timestamp"),
        text("level"),
        text("target")
    );
    let Some(serde_json::Value::Object(fields)) = event.get("fields") else {
        return out;
    };
    if let Some(message) = fields.get("message").and_then(|m| m.as_str()) {
        out.push_str(&format!(" {message}"));
    }
    for (key, value) in fields.iter().filter(|(key, _)| *key != "message") {
        match value.as_str() {
            Some(v) => out.push_str(&format!(" {key}={v}")),
            None => out.push_str(&format!(" {key}={value}")),
        }
    }
    out
}

/// A string field of a JSON log line, wherever the formatter put it (top level or under `fields`).
fn json_field(line: &str, name: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    [&value[name], &value["fields"][name]]
        .into_iter()
        .find_map(|v| v.as_str().map(str::to_owned))
}
