//! The test harness: a real `Application` (port 0) on its own migrated database, with mock-fly as Fly
//! and its registry as the gateway's upstream when the cloud is enabled.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use mgmt_http::AppState;
use mgmt_http::auth::{Claims, mint_hs256};
use mgmt_mock_fly::{MockFly, MockFlyConfig};
use mgmt_persistence::testing::{TestDb, test_database};
use mgmt_server::Application;
use mgmt_server::settings::Settings;
use mgmt_test_support::wait::{Check, eventually};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const JWT_SECRET: &str = "jwt-secret-for-tests-0123456789-abcdefghij";
pub const JWT_ISSUER: &str = "https://issuer.test";
/// `PUBLIC_API_URL`: `iss` of the tokens we issue and the exchange's `resource` (a fixed value: the
/// API's port is only known after start, and nothing fetches this URL).
pub const PUBLIC_API_URL: &str = "https://api.example.test";

/// A test signing key (PKCS#8 PEM) under `crates/identity/testdata`.
pub fn signing_key_path(name: &str) -> String {
    format!("{}/../identity/testdata/{name}", env!("CARGO_MANIFEST_DIR"))
}
pub const GATEWAY_KEY: &str = "gateway-signing-key-for-tests-0123456789";
/// `SECRETS_ENCRYPTION_KEYS`: one key of 32 bytes (`sealing-key-for-tests-0123456789`).
pub const SEALING_KEYS: &str = "test:c2VhbGluZy1rZXktZm9yLXRlc3RzLTAxMjM0NTY3ODk=";
pub const REPOSITORY: &str = "tenant-images";

/// What to start.
#[derive(Debug, Clone)]
pub struct Options {
    pub fly: bool,
    pub workers: bool,
    pub env: Vec<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            fly: true,
            workers: true,
            env: Vec::new(),
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub gateway: Option<SocketAddr>,
    /// The private `/metrics` listener.
    pub metrics: Option<SocketAddr>,
    pub http: reqwest::Client,
    pub state: AppState,
    pub mock: Option<MockFly>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    // Last: dropped after the app stopped using it.
    pub db: TestDb,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The environment a test app starts with (before `Options::env` overrides).
pub fn base_env(db_url: &SecretString) -> HashMap<String, String> {
    let mut env = HashMap::new();
    for (k, v) in [
        ("DATABASE_URL", db_url.expose_secret()),
        ("DATABASE_POOL_SIZE", "8"),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("MIGRATE_ON_START", "false"),
        ("JWT_SECRET", JWT_SECRET),
        ("JWT_ISSUER", JWT_ISSUER),
        ("JWT_LEEWAY_SECS", "5"),
        ("PUBLIC_API_URL", PUBLIC_API_URL),
        ("LOG_FORMAT", "json"),
        ("EVENT_POLL_INTERVAL_MS", "50"),
        ("SHUTDOWN_TIMEOUT_SECS", "5"),
        ("METRICS_LISTEN_ADDR", "127.0.0.1:0"),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
    env.insert(
        "TOKEN_SIGNING_KEYS".to_owned(),
        format!("k1={}", signing_key_path("key-a.pem")),
    );
    env
}

impl TestApp {
    pub async fn spawn(opts: Options) -> TestApp {
        let db = test_database().await.expect("test database");
        let mut env = base_env(&db.url());
        let mock = if opts.fly {
            Some(
                MockFly::start(MockFlyConfig::default())
                    .await
                    .expect("mock-fly"),
            )
        } else {
            None
        };
        if let Some(m) = &mock {
            let gw = format!("127.0.0.1:{}", free_port());
            for (k, v) in [
                ("FLY_ENABLED", "true".to_owned()),
                ("FLY_API_TOKEN", m.token().to_owned()),
                ("FLY_ORG_SLUG", "test-org".to_owned()),
                ("FLY_SHARED_REGISTRY_APP", REPOSITORY.to_owned()),
                ("FLY_MACHINES_API_URL", m.machines_url()),
                ("FLY_REGISTRY_URL", m.registry_url()),
                ("FLY_SUBDOMAIN_SUFFIX", "sites.example.test".to_owned()),
                ("TENANT_DB_ADMIN_URL", mgmt_test_support::db::admin_url()),
                ("TENANT_DB_HOST", "127.0.0.1:5432".to_owned()),
                ("GATEWAY_LISTEN_ADDR", gw.clone()),
                ("GATEWAY_PUBLIC_HOST", gw),
                ("GATEWAY_PUBLIC_SCHEME", "http".to_owned()),
                ("GATEWAY_SIGNING_KEY", GATEWAY_KEY.to_owned()),
                ("SECRETS_ENCRYPTION_KEYS", SEALING_KEYS.to_owned()),
                ("WORKERS_ENABLED", opts.workers.to_string()),
            ] {
                env.insert(k.to_owned(), v);
            }
        }
        for (k, v) in opts.env {
            env.insert(k.to_owned(), v);
        }
        let settings = Settings::load(None, Some(env)).expect("settings");
        let app = Application::build(settings).await.expect("application");
        let (addr, gateway, state) = (app.api_addr(), app.gateway_addr(), app.state().clone());
        let metrics = app.metrics_addr();
        let shutdown = app.shutdown_token();
        let task = tokio::spawn(app.run_until_stopped());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        TestApp {
            addr,
            gateway,
            metrics,
            http,
            state,
            mock,
            shutdown,
            task: Some(task),
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `/metrics` on the private metrics listener.
    pub fn metrics_url(&self) -> String {
        format!(
            "http://{}/metrics",
            self.metrics.expect("METRICS_LISTEN_ADDR is set")
        )
    }

    /// A valid token for `sub` (email `{sub}@example.test`).
    pub fn token(&self, sub: &str) -> String {
        token_with(sub, JWT_SECRET, Some(JWT_ISSUER), 600)
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// Creates a tenant and returns its id.
    pub async fn create_tenant(&self, token: &str, name: &str) -> String {
        let resp = self
            .call(
                reqwest::Method::POST,
                "/api/v1/tenants",
                Some(token),
                Some(&serde_json::json!({"name": name})),
            )
            .await;
        assert_eq!(
            resp.status(),
            202,
            "create: {}",
            resp.text().await.unwrap_or_default()
        );
        let v: Value = resp.json().await.unwrap();
        v["data"]["id"].as_str().unwrap().to_owned()
    }

    /// Polls `/status` until its CLI word (`status`: `ready`, `failed`, ...) or its lifecycle state
    /// (`state`: `awaiting_deploy`, `running`, ...) is `want` (panics on `failed` unless wanted, or after
    /// `timeout`). Remember `ready` holds from the end of provisioning on: wait for `running` after a deploy.
    pub async fn wait_status(&self, token: &str, id: &str, want: &str, timeout: Duration) -> Value {
        eventually(timeout, || async {
            let resp = self
                .get(&format!("/api/v1/tenants/{id}/status"), token)
                .await;
            assert_eq!(resp.status(), 200);
            let v: Value = resp.json().await.unwrap();
            let state = v["data"]["state"].as_str().unwrap_or_default();
            match v["data"]["status"].as_str().unwrap() {
                status if status == want || state == want => Check::Done(v),
                "failed" => Check::Fail(anyhow::anyhow!("tenant failed: {v}")),
                _ => Check::not_yet(v),
            }
        })
        .await
        .unwrap_or_else(|e| panic!("waiting for tenant {id} to be {want}: {e}"))
    }

    /// Polls `/metrics` until its text contains `needle` (panics after `timeout`) and returns the text.
    pub async fn metrics_containing(&self, needle: &str, timeout: Duration) -> String {
        eventually(timeout, || async {
            let text = self
                .http
                .get(self.metrics_url())
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if text.contains(needle) {
                Check::Done(text)
            } else {
                Check::not_yet(format!("/metrics:\n{text}"))
            }
        })
        .await
        .unwrap_or_else(|e| panic!("waiting for {needle} in /metrics: {e}"))
    }

    /// Stops the app gracefully and waits for it.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            t.await.expect("app task").expect("app stopped cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        // The app's tenant cluster is the test server: drop what its tenants still hold there.
        mgmt_persistence::testing::drop_recorded_tenant_databases(&self.db.url());
    }
}

/// A token signed with `secret`, issued by `issuer`, expiring in `ttl` seconds (negative: expired).
pub fn token_with(sub: &str, secret: &str, issuer: Option<&str>, ttl: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: sub.to_owned(),
        email: Some(format!("{sub}@example.test")),
        name: Some(format!("User {sub}")),
        exp: now + ttl,
        iat: Some(now),
        nbf: None,
        iss: issuer.map(Into::into),
        aud: None,
        jti: None,
        username: None,
        auth_time: None,
    };
    mint_hs256(&SecretString::from(secret.to_owned()), &claims).unwrap()
}

/// A unique user id for a test.
pub fn user() -> String {
    format!("user-{}", uuid::Uuid::new_v4().simple())
}

/// Builds a small OCI image and pushes it with skopeo to `{registry}/{repository}:{tag}` with the
/// credential from a registry-token answer.
pub async fn push_image(registry: &str, repository: &str, tag: &str, username: &str, token: &str) {
    let dir = tempfile::tempdir().unwrap();
    let layer = format!("layer of {tag}");
    let image =
        mgmt_test_support::oci::build_image(dir.path(), "v1", &[layer.as_bytes()], false).unwrap();
    mgmt_test_support::oci::skopeo_push(
        &image,
        &format!("{registry}/{repository}:{tag}"),
        Some((username, token)),
        &[],
    )
    .await
    .expect("skopeo push through the gateway");
}
