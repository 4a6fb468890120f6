//! Test harness: a gateway on 127.0.0.1:0 in front of a real upstream, with its own database, plus
//! helpers to push with skopeo and to talk to the gateway and the upstream directly.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer};
use mgmt_domain::{Repositories, Tenant};
use mgmt_persistence::testing::{TestDb, test_database};
use mgmt_registry_gateway::{
    CredentialIssuer, GatewayLimits, GatewayState, IssuedCredential, UpstreamConfig, configure,
};
use mgmt_test_support::oci::{OciImage, skopeo_push};
use mgmt_test_support::registry::{RegistryOptions, RegistryServer};
use secrecy::{ExposeSecret, SecretString};

/// The shared repository every test pushes into.
pub const REPO: &str = "shared";

pub use mgmt_domain::media_type::MANIFEST_ACCEPT;

/// Everything the process logged (tests assert that no secret appears in it).
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every log line of this test process at debug level (trace for the gateway).
pub fn capture_logs() -> LogBuffer {
    static LOGS: OnceLock<LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,mgmt_registry_gateway=trace",
            ))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("one subscriber per test process");
        buffer
    })
    .clone()
}

/// A running gateway with its own database.
pub struct Gateway {
    /// `127.0.0.1:PORT`: what image references through the gateway start with.
    pub host: String,
    pub url: String,
    pub issuer: Arc<CredentialIssuer>,
    pub db: TestDb,
    pub repos: Repositories,
    handle: ServerHandle,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// Starts a gateway in front of `upstream` with the default limits.
pub async fn start_gateway(upstream: UpstreamConfig) -> Gateway {
    start_gateway_with(upstream, GatewayLimits::default()).await
}

/// Starts a gateway in front of `upstream` with `limits`.
pub async fn start_gateway_with(upstream: UpstreamConfig, limits: GatewayLimits) -> Gateway {
    let db = test_database().await.expect("test database");
    let repos = db.repositories();
    let (host, issuer, handle) = serve(&repos, upstream, limits);
    Gateway {
        url: format!("http://{host}"),
        host,
        issuer,
        db,
        repos,
        handle,
    }
}

/// A gateway process on its own port over `repos`, with the shared test signing key.
fn serve(
    repos: &Repositories,
    upstream: UpstreamConfig,
    limits: GatewayLimits,
) -> (String, Arc<CredentialIssuer>, ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let issuer = Arc::new(CredentialIssuer::new(
        SecretString::from("test-signing-key-0123456789abcdef0123456789".to_owned()),
        Duration::from_secs(3600),
        host.clone(),
        REPO.to_owned(),
    ));
    let state = GatewayState::new(issuer.clone(), upstream, repos.registry_pushes.clone())
        .with_limits(limits);
    let server = HttpServer::new(move || App::new().configure(configure(state.clone())))
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .unwrap()
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    (host, issuer, handle)
}

/// A second gateway process (another replica) over the same database and key.
pub struct Replica {
    pub url: String,
    handle: ServerHandle,
}

impl Drop for Replica {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl Gateway {
    pub fn replica(&self, upstream: UpstreamConfig) -> Replica {
        let (host, _issuer, handle) = serve(&self.repos, upstream, GatewayLimits::default());
        Replica {
            url: format!("http://{host}"),
            handle,
        }
    }

    /// A customer and a tenant in the database, and a credential for it.
    pub async fn tenant(&self, name: &str) -> (Tenant, IssuedCredential) {
        let customer = self.db.customer().await.unwrap();
        let tenant = self.db.tenant(customer.id, name).await.unwrap();
        let cred = self.issuer.issue(tenant.id);
        (tenant, cred)
    }

    /// `127.0.0.1:PORT/shared:tenant-...`
    pub fn image_ref(&self, tag: &str) -> String {
        format!("{}/{REPO}:{tag}", self.host)
    }

    /// Sends `method path` as `cred`: the status and the registry error code (`""` without one).
    pub async fn answer(
        &self,
        method: reqwest::Method,
        path: &str,
        cred: &IssuedCredential,
    ) -> (u16, String) {
        outcome(self.req(method, path, cred)).await
    }

    /// Opens an upload session as `cred` (asserting 202): the absolute URL of its `Location`.
    pub async fn open_upload(&self, cred: &IssuedCredential) -> String {
        let res = self
            .req(
                reqwest::Method::POST,
                &format!("/v2/{REPO}/blobs/uploads/"),
                cred,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202, "upload session opened");
        let location = res.headers()["location"].to_str().unwrap();
        if location.starts_with('/') {
            format!("{}{location}", self.url)
        } else {
            location.to_owned()
        }
    }

    /// A request to the gateway carrying `cred` as Basic password.
    pub fn req(
        &self,
        method: reqwest::Method,
        path: &str,
        cred: &IssuedCredential,
    ) -> reqwest::RequestBuilder {
        request(method, &format!("{}{path}", self.url), cred)
    }
}

/// A request to an absolute `url` (an upload `Location`, another replica) carrying `cred`.
pub fn request(
    method: reqwest::Method,
    url: &str,
    cred: &IssuedCredential,
) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, url)
        .basic_auth(&cred.username, Some(cred.token.expose_secret()))
}

/// Pushes `image` to `tag` through the gateway with `cred`.
pub async fn push_as(
    gw: &Gateway,
    image: &OciImage,
    tag: &str,
    cred: &IssuedCredential,
) -> anyhow::Result<()> {
    let creds = (cred.username.as_str(), cred.token.expose_secret());
    skopeo_push(image, &gw.image_ref(tag), Some(creds), &[]).await
}

/// An image of `layers` random layers of `size` bytes each, in a temporary layout.
pub fn random_image(
    dir: &tempfile::TempDir,
    tag: &str,
    layers: usize,
    size: u64,
    as_index: bool,
) -> OciImage {
    mgmt_test_support::oci::build_random_image(dir.path(), tag, &vec![size; layers], as_index)
        .unwrap()
}

/// A real `docker-registry` upstream (deletion on, htpasswd user) and the org's view of it; the
/// server stops when its handle is dropped.
pub fn registry() -> (RegistryServer, Upstream) {
    let reg = RegistryServer::start(RegistryOptions::default());
    let up = Upstream {
        url: reg.url(),
        username: reg.username().into(),
        password: reg.password().into(),
    };
    (reg, up)
}

/// The upstream itself, as the org sees it.
pub struct Upstream {
    pub url: String,
    pub username: String,
    pub password: String,
}

impl Upstream {
    pub fn config(&self) -> UpstreamConfig {
        UpstreamConfig {
            base_url: url::Url::parse(&self.url).unwrap(),
            username: self.username.clone(),
            password: SecretString::from(self.password.clone()),
        }
    }

    /// The digest the upstream holds under `reference` (`None` on 404).
    pub async fn digest(&self, reference: &str) -> Option<String> {
        let mut req = reqwest::Client::new()
            .head(format!("{}/v2/{REPO}/manifests/{reference}", self.url))
            .basic_auth(&self.username, Some(&self.password));
        for accept in MANIFEST_ACCEPT {
            req = req.header("accept", accept);
        }
        let res = req.send().await.unwrap();
        match res.status().as_u16() {
            200 => Some(
                res.headers()["docker-content-digest"]
                    .to_str()
                    .unwrap()
                    .to_owned(),
            ),
            404 => None,
            other => panic!("upstream answered {other} for {reference}"),
        }
    }
}

impl Upstream {
    /// Whether the upstream holds the blob `digest`.
    pub async fn blob_exists(&self, digest: &str) -> bool {
        let res = reqwest::Client::new()
            .head(format!("{}/v2/{REPO}/blobs/{digest}", self.url))
            .basic_auth(&self.username, Some(&self.password))
            .send()
            .await
            .unwrap();
        res.status() == 200
    }

    /// The manifest body the upstream holds under `reference` (`None` when it is no manifest:
    /// distribution answers a blob digest asked for as a manifest with 404 or 500).
    pub async fn manifest(&self, reference: &str) -> Option<Vec<u8>> {
        let mut req = reqwest::Client::new()
            .get(format!("{}/v2/{REPO}/manifests/{reference}", self.url))
            .basic_auth(&self.username, Some(&self.password));
        for accept in MANIFEST_ACCEPT {
            req = req.header("accept", accept);
        }
        let res = req.send().await.unwrap();
        match res.status().as_u16() {
            200 => Some(res.bytes().await.unwrap().to_vec()),
            _ => None,
        }
    }
}

/// Sends `rb`: the status and the registry error code (`""` without one).
pub async fn outcome(rb: reqwest::RequestBuilder) -> (u16, String) {
    let res = rb.send().await.unwrap();
    (res.status().as_u16(), error_code(res).await)
}

/// The registry error code of a response body (`errors[0].code`).
pub async fn error_code(res: reqwest::Response) -> String {
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    body["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
