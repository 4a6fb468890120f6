//! Debian's `docker-registry` (CNCF distribution 2.8) on a free 127.0.0.1 port with htpasswd auth, so
//! the mock registry can be compared against the real thing.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Distribution {
    child: Child,
    _dir: tempfile::TempDir,
    pub url: String,
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Start distribution with deletion enabled and user `x` / `password`.
pub async fn start(password: &str) -> Distribution {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = Command::new("htpasswd")
        .args(["-Bbn", "x", password])
        .output()
        .expect("htpasswd (apache2-utils)");
    assert!(htpasswd.status.success());
    std::fs::write(dir.path().join("htpasswd"), htpasswd.stdout).unwrap();
    let port = free_port();
    let config = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: basic-realm\n    path: {root}/htpasswd\n",
        root = dir.path().display()
    );
    std::fs::write(dir.path().join("config.yml"), config).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.path().join("config.yml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry is installed (apt-get install docker-registry)");
    let url = format!("http://127.0.0.1:{port}");
    let reg = Distribution {
        child,
        _dir: dir,
        url,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if reqwest::get(format!("{}/v2/", reg.url)).await.is_ok() {
            return reg;
        }
        assert!(
            Instant::now() < deadline,
            "docker-registry did not come up on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
