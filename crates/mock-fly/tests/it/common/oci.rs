//! A tiny image from `mgmt_test_support::oci` with its bytes at hand, plus raw pushes over HTTP for
//! tests that need an image in the registry without skopeo.

use reqwest::StatusCode;
use sha2::{Digest, Sha256};

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An image from [`mgmt_test_support::oci::build_image`] with its blobs read back, for tests that push
/// them by hand.
#[derive(Debug)]
pub struct Image {
    /// Holds the OCI layout (`oci-layout`, `index.json`, `blobs/sha256/...`) alive.
    pub dir: tempfile::TempDir,
    pub built: mgmt_test_support::oci::OciImage,
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
}

/// An image whose one layer holds `content`; same content, same digests.
pub fn build(tag: &str, content: &str) -> Image {
    let dir = tempfile::tempdir().expect("tempdir");
    let built = mgmt_test_support::oci::build_image(dir.path(), tag, &[content.as_bytes()], false)
        .expect("image builds");
    let blob = |d: &str| {
        std::fs::read(
            dir.path()
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
        .expect("blob in the layout")
    };
    let (manifest, config, layer) = (
        blob(&built.manifest_digest),
        blob(&built.config_digest),
        blob(&built.layer_digests[0]),
    );
    Image {
        manifest_digest: built.manifest_digest.clone(),
        manifest,
        config,
        layer,
        built,
        dir,
    }
}

/// Raw registry client with Basic `x:<token>`.
#[derive(Debug, Clone)]
pub struct Reg {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Reg {
    pub fn new(m: &mgmt_mock_fly::MockFly) -> Self {
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
    pub async fn push(&self, repo: &str, tag: &str, img: &Image) -> String {
        self.put_blob(repo, &img.config).await;
        self.put_blob(repo, &img.layer).await;
        let resp = self
            .put_manifest(
                repo,
                tag,
                mgmt_test_support::oci::OCI_MANIFEST,
                &img.manifest,
            )
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        img.manifest_digest.clone()
    }
}
