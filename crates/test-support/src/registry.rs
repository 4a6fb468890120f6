//! Debian's `docker-registry` (CNCF distribution 2.8) for tests: started on a free 127.0.0.1 port
//! with its own temporary storage and htpasswd users, deletion on or off, killed on drop.
//!
//! ```no_run
//! let reg = mgmt_test_support::registry::RegistryServer::start(Default::default());
//! // push with skopeo to `reg.host()`, talk HTTP to `reg.url()` as `reg.username()`/`reg.password()`
//! ```

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rand::Rng as _;
use rand::distributions::Alphanumeric;

const BINARY: &str = "/usr/bin/docker-registry";

/// htpasswd credentials of the one user the registry accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
}

impl RegistryAuth {
    /// `tester` with a random 24-character password.
    pub fn random() -> Self {
        let password = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        Self {
            username: "tester".into(),
            password,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// `storage.delete.enabled`: without it every DELETE answers 405 `UNSUPPORTED`.
    pub delete_enabled: bool,
    /// htpasswd auth (`None`: anonymous registry).
    pub auth: Option<RegistryAuth>,
}

impl Default for RegistryOptions {
    /// Deletion enabled, htpasswd auth with a random password.
    fn default() -> Self {
        Self {
            delete_enabled: true,
            auth: Some(RegistryAuth::random()),
        }
    }
}

/// A running `docker-registry`; killed and its storage removed on drop.
#[derive(Debug)]
pub struct RegistryServer {
    child: Child,
    port: u16,
    options: RegistryOptions,
    dir: tempfile::TempDir,
}

impl RegistryServer {
    /// Starts the registry and waits until `/v2/` answers. Panics (with the registry's log) when it
    /// cannot: a test harness has nobody to hand the error to.
    pub fn start(options: RegistryOptions) -> Self {
        let mut last = None;
        // The free port is found by binding and releasing it, so another process may grab it
        // in between: try a few times.
        for _ in 0..3 {
            match Self::try_start(options.clone()) {
                Ok(server) => return server,
                Err(e) => last = Some(e),
            }
        }
        panic!("docker-registry did not start: {:#}", last.expect("tried"));
    }

    fn try_start(options: RegistryOptions) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("docker-registry-")
            .tempdir()?;
        let port = free_port()?;
        let config = write_config(dir.path(), port, &options)?;
        let log = std::fs::File::create(dir.path().join("registry.log"))?;
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config)
            // Settings come only from our config file, whatever the developer's environment says.
            .env_remove("REGISTRY_STORAGE_DELETE_ENABLED")
            .env_remove("REGISTRY_HTTP_ADDR")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawning {BINARY}"))?;
        let mut server = Self {
            child,
            port,
            options,
            dir,
        };
        server.wait_ready(Duration::from_secs(15))?;
        Ok(server)
    }

    fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("exited with {status}; log:\n{}", self.log());
            }
            if let Some(code) = http_status(self.port, "/v2/") {
                // 401 is the expected answer of a registry with auth: it is up.
                if code == 200 || code == 401 {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "no answer on port {} within {timeout:?}; log:\n{}",
            self.port,
            self.log()
        )
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// `127.0.0.1:PORT` (what skopeo's `docker://` references start with).
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The htpasswd user, `""` for an anonymous registry.
    pub fn username(&self) -> &str {
        self.options
            .auth
            .as_ref()
            .map_or("", |a| a.username.as_str())
    }

    /// The htpasswd password, `""` for an anonymous registry.
    pub fn password(&self) -> &str {
        self.options
            .auth
            .as_ref()
            .map_or("", |a| a.password.as_str())
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    /// Where the registry keeps its blobs and manifests.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The registry's own log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn write_config(dir: &Path, port: u16, options: &RegistryOptions) -> anyhow::Result<PathBuf> {
    let storage = dir.join("storage");
    std::fs::create_dir_all(&storage)?;
    let secret: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    let mut yaml = format!(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  maintenance:\n    uploadpurging:\n      enabled: false\n",
        storage.display()
    );
    if options.delete_enabled {
        yaml.push_str("  delete:\n    enabled: true\n");
    }
    yaml.push_str(&format!(
        "http:\n  addr: 127.0.0.1:{port}\n  secret: {secret}\n"
    ));
    if let Some(auth) = &options.auth {
        let htpasswd = dir.join("htpasswd");
        let out = Command::new("htpasswd")
            .args(["-Bbn", &auth.username, &auth.password])
            .output()
            .context("running htpasswd (apache2-utils)")?;
        if !out.status.success() {
            bail!("htpasswd failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::fs::write(&htpasswd, &out.stdout)?;
        yaml.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: test-registry\n    path: {}\n",
            htpasswd.display()
        ));
    }
    let path = dir.join("config.yml");
    std::fs::write(&path, yaml)?;
    Ok(path)
}

/// The status code of a plain `GET path`, or `None` when nothing answers yet.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).ok()?;
    let line = std::str::from_utf8(&head[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_registry_answers_and_dies_with_its_handle() {
        let server = RegistryServer::start(RegistryOptions {
            delete_enabled: false,
            auth: None,
        });
        assert_eq!(http_status(server.port(), "/v2/"), Some(200));
        assert_eq!(server.username(), "");
        let port = server.port();
        drop(server);
        assert_eq!(
            http_status(port, "/v2/"),
            None,
            "registry still running after drop"
        );
    }

    #[test]
    fn htpasswd_registry_demands_credentials() {
        let server = RegistryServer::start(RegistryOptions::default());
        assert_eq!(http_status(server.port(), "/v2/"), Some(401));
        assert!(server.url().starts_with("http://127.0.0.1:"));
        assert_eq!(server.username(), "tester");
        assert_eq!(server.password().len(), 24);
    }
}
