//! A tiny OCI image built by hand (tar, `gzip -n`, sha256) as an OCI layout directory for skopeo,
//! plus raw pushes over HTTP for tests that need an image in the registry without skopeo.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[derive(Debug)]
pub struct OciImage {
    /// The OCI layout (`oci-layout`, `index.json`, `blobs/sha256/...`).
    pub dir: tempfile::TempDir,
    pub tag: String,
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An image whose one layer holds `hello.txt` with `content`; same content, same digests.
pub fn build(tag: &str, content: &str) -> OciImage {
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("root");
    std::fs::create_dir_all(&root).expect("mkdir");
    std::fs::write(root.join("hello.txt"), content).expect("write");
    let tar = work.path().join("layer.tar");
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-cf",
        ])
        .arg(&tar)
        .arg("-C")
        .arg(&root)
        .arg("hello.txt"));
    let tar_bytes = std::fs::read(&tar).expect("tar");
    run(Command::new("gzip").args(["-n", "-9"]).arg(&tar));
    let layer = std::fs::read(work.path().join("layer.tar.gz")).expect("gz");
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": { "Cmd": ["/bin/true"] },
        "rootfs": { "type": "layers", "diff_ids": [digest(&tar_bytes)] },
    }))
    .expect("config");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config), "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest(&layer), "size": layer.len() }],
    }))
    .expect("manifest");
    let dir = tempfile::tempdir().expect("tempdir");
    write_layout(dir.path(), tag, &[&config, &layer, &manifest], &manifest);
    OciImage {
        dir,
        tag: tag.to_owned(),
        manifest_digest: digest(&manifest),
        manifest,
        config,
        layer,
    }
}

fn write_layout(dir: &Path, tag: &str, blobs: &[&[u8]], manifest: &[u8]) {
    let blob_dir = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blob_dir).expect("mkdir");
    for b in blobs {
        std::fs::write(blob_dir.join(digest(b).trim_start_matches("sha256:")), b).expect("blob");
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("layout");
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest(manifest), "size": manifest.len(),
            "annotations": { "org.opencontainers.image.ref.name": tag },
        }],
    });
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("index"),
    )
    .expect("index");
}

/// Raw registry client with Basic `x:<token>`.
#[derive(Debug, Clone)]
pub struct Reg {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Reg {
    pub fn new(m: &mock_fly::MockFly) -> Self {
        Reg {
            http: reqwest::Client::new(),
            base: m.registry_url(),
            token: m.token().to_owned(),
        }
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        self.http
            .request(method, url)
            .basic_auth("x", Some(&self.token))
    }

    /// Monolithic upload in one `POST ?digest=`.
    pub async fn put_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let d = digest(bytes);
        let resp = self
            .req(
                reqwest::Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            )
            .body(bytes.to_vec())
            .send()
            .await
            .expect("send");
        if resp.status() == StatusCode::ACCEPTED {
            // The registry ignored the body and opened a session: finish it with a PUT.
            let loc = resp.headers()["location"]
                .to_str()
                .expect("location")
                .to_owned();
            let sep = if loc.contains('?') { '&' } else { '?' };
            let put = self
                .req(reqwest::Method::PUT, &format!("{loc}{sep}digest={d}"))
                .body(bytes.to_vec())
                .send()
                .await
                .expect("send");
            assert_eq!(
                put.status(),
                StatusCode::CREATED,
                "{}",
                put.text().await.unwrap_or_default()
            );
            return d;
        }
        assert_eq!(
            resp.status(),
            StatusCode::CREATED,
            "{}",
            resp.text().await.unwrap_or_default()
        );
        d
    }

    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> reqwest::Response {
        self.req(
            reqwest::Method::PUT,
            &format!("/v2/{repo}/manifests/{reference}"),
        )
        .header("content-type", media_type)
        .body(body.to_vec())
        .send()
        .await
        .expect("send")
    }

    /// Push `img` as `repo:tag` over HTTP; returns the manifest digest.
    pub async fn push(&self, repo: &str, tag: &str, img: &OciImage) -> String {
        self.put_blob(repo, &img.config).await;
        self.put_blob(repo, &img.layer).await;
        let resp = self
            .put_manifest(
                repo,
                tag,
                "application/vnd.oci.image.manifest.v1+json",
                &img.manifest,
            )
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        img.manifest_digest.clone()
    }
}
