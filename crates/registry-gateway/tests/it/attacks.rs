//! The differential suite: each way of making the gateway and Go's distribution read one request
//! differently, sent through the gateway with tenant A's own credential against a real
//! `docker-registry` holding tenant B's image. After every attack, nothing the upstream holds under A's
//! tag may reference B's content, and A may not read a byte of B's blobs.

use std::collections::HashSet;

use mgmt_domain::media_type::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};
use mgmt_test_support::oci::OciImage;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

/// A gateway over a fresh registry with B's image pushed and A's own image pushed under A's tag.
pub struct Scene {
    pub gw: Gateway,
    pub up: Upstream,
    pub _reg: mgmt_test_support::registry::RegistryServer,
    pub a: mgmt_registry_gateway::IssuedCredential,
    pub b: mgmt_registry_gateway::IssuedCredential,
    pub image_a: OciImage,
    pub image_b: OciImage,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Scene {
    pub async fn new() -> Self {
        Self::with_limits(mgmt_registry_gateway::GatewayLimits::default()).await
    }

    pub async fn with_limits(limits: mgmt_registry_gateway::GatewayLimits) -> Self {
        let (reg, up) = registry();
        let gw = start_gateway_with(up.config(), limits).await;
        let (_ta, a) = gw.tenant("a").await;
        let (_tb, b) = gw.tenant("b").await;
        let dir_a = tempfile::tempdir().unwrap();
        let dir_b = tempfile::tempdir().unwrap();
        let image_a = random_image(&dir_a, "a", 1, 20_000, false);
        // B's image is an index, so there is a child manifest of B's to point at too.
        let image_b = random_image(&dir_b, "b", 2, 20_000, true);
        push_as(&gw, &image_b, &b.tag, &b).await.expect("B pushes");
        push_as(&gw, &image_a, &a.tag, &a).await.expect("A pushes");
        Self {
            gw,
            up,
            _reg: reg,
            a,
            b,
            image_a,
            image_b,
            _dirs: (dir_a, dir_b),
        }
    }

    /// Every digest of B's image that A never uploaded.
    pub fn b_only(&self) -> Vec<String> {
        let mut d = self.image_b.layer_digests.clone();
        d.push(self.image_b.config_digest.clone());
        d.push(self.image_b.manifest_digest.clone());
        d.extend(self.image_b.index_digest.clone());
        d
    }

    /// A's own config and layer as descriptors.
    pub fn a_config(&self) -> Value {
        json!({"mediaType": OCI_CONFIG, "digest": self.image_a.config_digest, "size": 1})
    }

    pub fn a_layer(&self) -> Value {
        json!({"mediaType": OCI_LAYER_GZIP, "digest": self.image_a.layer_digests[0], "size": self.image_a.layer_sizes[0]})
    }

    pub fn b_layer(&self) -> Value {
        json!({"mediaType": OCI_LAYER_GZIP, "digest": self.image_b.layer_digests[0], "size": self.image_b.layer_sizes[0]})
    }

    /// PUTs `body` as A's tag with `content_type`: status and registry error code.
    pub async fn put_as_a(&self, content_type: &str, body: impl Into<Vec<u8>>) -> (u16, String) {
        let path = format!("/v2/{REPO}/manifests/{}", self.a.tag);
        outcome(
            self.gw
                .req(Method::PUT, &path, &self.a)
                .header("content-type", content_type)
                .body(body.into()),
        )
        .await
    }

    /// The invariant: walk everything the upstream holds under A's tag (as the org, reading JSON the
    /// lenient way: every string anywhere, escapes decoded) and find no digest of B's; and A reads none
    /// of B's blobs or manifests through the gateway.
    pub async fn assert_b_unreachable_from_a(&self) {
        let b_only: HashSet<String> = self.b_only().into_iter().collect();
        let mut queue = vec![self.a.tag.clone()];
        let mut seen = HashSet::new();
        while let Some(reference) = queue.pop() {
            if !seen.insert(reference.clone()) || seen.len() > 16 {
                continue;
            }
            let Some(body) = self.up.manifest(&reference).await else {
                continue;
            };
            let doc: Value = serde_json::from_slice(&body).expect("upstream manifest is JSON");
            let mut strings = Vec::new();
            collect_strings(&doc, &mut strings);
            for s in strings {
                assert!(
                    !b_only.contains(&s),
                    "A's tag reaches B's {s} upstream: {}",
                    String::from_utf8_lossy(&body)
                );
                if s.starts_with("sha256:") {
                    queue.push(s);
                }
            }
        }
        for digest in &self.image_b.layer_digests {
            let path = format!("/v2/{REPO}/blobs/{digest}");
            assert_eq!(self.gw.answer(Method::GET, &path, &self.a).await.0, 404);
        }
        let path = format!("/v2/{REPO}/blobs/{}", self.image_b.config_digest);
        assert_eq!(self.gw.answer(Method::GET, &path, &self.a).await.0, 404);
        let path = format!("/v2/{REPO}/manifests/{}", self.image_b.manifest_digest);
        assert_eq!(self.gw.answer(Method::GET, &path, &self.a).await.0, 404);
    }
}

/// Keys and values: a digest hidden in a key (or under any spelling of `digest`) is found too.
fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            collect_strings(x, out);
        }),
        _ => {}
    }
}

/// A manifest body as text with A's refs and one spliced-in fragment (so duplicate keys survive:
/// `serde_json::Value` would merge them).
fn manifest_text(scene: &Scene, extra_top: &str, layer: &str) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{},"layers":[{layer}]{extra_top}}}"#,
        scene.a_config()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_the_upstream_would_read_differently_are_refused() {
    let s = Scene::new().await;
    let a_layer = s.a_layer().to_string();
    let b_layer = s.b_layer().to_string();
    let b_digest = &s.image_b.layer_digests[0];
    let a_digest = &s.image_a.layer_digests[0];
    let b_manifest = &s.image_b.manifest_digest;
    let attacks: Vec<(&str, String, &str)> = vec![
        (
            "layers + Layers",
            manifest_text(&s, &format!(r#","Layers":[{b_layer}]"#), &a_layer),
            OCI_MANIFEST,
        ),
        (
            "layers twice",
            manifest_text(&s, &format!(r#","layers":[{b_layer}]"#), &a_layer),
            OCI_MANIFEST,
        ),
        (
            "LAYERS only",
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{},"LAYERS":[{b_layer}],"layers":[]}}"#,
                s.a_config()
            ),
            OCI_MANIFEST,
        ),
        (
            "digest + Digest in a layer",
            manifest_text(
                &s,
                "",
                &format!(
                    r#"{{"mediaType":"{OCI_LAYER_GZIP}","digest":"{a_digest}","Digest":"{b_digest}","size":1}}"#
                ),
            ),
            OCI_MANIFEST,
        ),
        (
            "digest twice in a layer",
            manifest_text(
                &s,
                "",
                &format!(r#"{{"digest":"{a_digest}","digest":"{b_digest}","size":1}}"#),
            ),
            OCI_MANIFEST,
        ),
        (
            "dIgest with long s in a layer",
            manifest_text(
                &s,
                "",
                &format!(r#"{{"digest":"{a_digest}","dige\u017ft":"{b_digest}","size":1}}"#),
            ),
            OCI_MANIFEST,
        ),
        (
            "Config next to config",
            manifest_text(
                &s,
                &format!(
                    r#","Config":{{"digest":"{}","size":1}}"#,
                    s.image_b.config_digest
                ),
                &a_layer,
            ),
            OCI_MANIFEST,
        ),
        (
            "Subject pointing at B",
            manifest_text(
                &s,
                &format!(
                    r#","Subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{b_manifest}","size":1}}"#
                ),
                &a_layer,
            ),
            OCI_MANIFEST,
        ),
        (
            "subject escaped in unicode",
            manifest_text(
                &s,
                &format!(
                    r#","\u0073ubject":{{"mediaType":"{OCI_MANIFEST}","digest":"{b_manifest}","size":1}}"#
                ),
                &a_layer,
            ),
            OCI_MANIFEST,
        ),
        (
            "index with Manifests",
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1}}],"Manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{b_manifest}","size":1}}]}}"#,
                s.image_a.manifest_digest
            ),
            OCI_INDEX,
        ),
        (
            "content type with odd case and a parameter, Layers inside",
            manifest_text(&s, &format!(r#","Layers":[{b_layer}]"#), &a_layer),
            "Application/VND.OCI.image.manifest.v1+json; charset=utf-8",
        ),
        (
            "trailing second document",
            format!(
                "{}{{\"layers\":[{b_layer}]}}",
                manifest_text(&s, "", &a_layer)
            ),
            OCI_MANIFEST,
        ),
    ];
    for (name, body, content_type) in attacks {
        let (status, code) = s.put_as_a(content_type, body.clone()).await;
        // Refused as ambiguous, or (an escape that decodes to the plain key) as naming B's content.
        assert!(
            status == 400 && ["MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN"].contains(&code.as_str()),
            "{name}: {status} {code}: {body}"
        );
        s.assert_b_unreachable_from_a().await;
    }
    // A BOM in front, and invalid UTF-8 inside a string.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(manifest_text(&s, "", &a_layer).into_bytes());
    assert_eq!(
        s.put_as_a(OCI_MANIFEST, bom).await,
        (400, "MANIFEST_INVALID".into())
    );
    let mut bad = manifest_text(&s, r#","annotations":{"x":"#, &a_layer).into_bytes();
    bad.pop();
    bad.extend_from_slice(b"\"\xff\"}}");
    assert_eq!(
        s.put_as_a(OCI_MANIFEST, bad).await,
        (400, "MANIFEST_INVALID".into())
    );

    // Plainly naming B's content (an index child, a subject, a layer) is refused as unknown.
    let plain = [
        (
            OCI_INDEX,
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"mediaType": OCI_MANIFEST, "digest": b_manifest, "size": 1}]}),
        ),
        (
            OCI_MANIFEST,
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": s.a_config(), "layers": [s.a_layer()],
                   "subject": {"mediaType": OCI_MANIFEST, "digest": b_manifest, "size": 1}}),
        ),
        (
            OCI_MANIFEST,
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": s.a_config(), "layers": [s.b_layer()]}),
        ),
    ];
    for (ct, body) in plain {
        assert_eq!(
            s.put_as_a(ct, body.to_string()).await,
            (400, "MANIFEST_BLOB_UNKNOWN".into()),
            "{body}"
        );
    }
    s.assert_b_unreachable_from_a().await;

    // A's own, well-formed manifest still goes through.
    let own = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": s.a_config(), "layers": [s.a_layer()]});
    assert_eq!(s.put_as_a(OCI_MANIFEST, own.to_string()).await.0, 201);
    s.assert_b_unreachable_from_a().await;
}

/// Every spelling of a cross-repository mount: plain, percent-encoded keys (either hex case),
/// `+`-joined, repeated, in a form body, with `;`. None mounts: the answer never tells whether the blob
/// exists, and A cannot read B's blob afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_spelling_of_a_mount_reaches_the_upstream() {
    let s = Scene::new().await;
    let b_blob = &s.image_b.layer_digests[0];
    let absent = format!("sha256:{}", "0".repeat(64));
    let uploads = format!("/v2/{REPO}/blobs/uploads/");
    for digest in [b_blob.as_str(), absent.as_str()] {
        for query in [
            format!("mount={digest}&from={REPO}"),
            format!("%6Dount={digest}&%66rom={REPO}"),
            format!("%6dount={digest}&%66rom={REPO}"),
            format!("m%6Funt={digest}&fro%6D={REPO}"),
            format!("mount={}&from={REPO}", digest.replace(':', "%3A")),
            format!("from={REPO}&mount={digest}&mount={digest}"),
        ] {
            let res =
                s.gw.req(Method::POST, &format!("{uploads}?{query}"), &s.a)
                    .send()
                    .await
                    .unwrap();
            // Always a plain upload session: the same answer whether the blob exists or not.
            assert_eq!(res.status(), 202, "{query}");
            assert!(res.headers().get("docker-upload-uuid").is_some(), "{query}");
            s.assert_b_unreachable_from_a().await;
        }
    }
    // `;` is where Go and other readers split differently: refused outright.
    let res =
        s.gw.req(
            Method::POST,
            &format!("{uploads}?mount={b_blob};from={REPO}"),
            &s.a,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        (res.status().as_u16(), error_code(res).await.as_str()),
        (400, "BLOB_UPLOAD_INVALID")
    );
    // Go's FormValue also reads a form-encoded body: the gateway never forwards one.
    for ct in [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let res =
            s.gw.req(Method::POST, &uploads, &s.a)
                .header("content-type", ct)
                .body(format!("mount={b_blob}&from={REPO}"))
                .send()
                .await
                .unwrap();
        assert_ne!(res.status(), 201, "{ct}");
        s.assert_b_unreachable_from_a().await;
    }
}

/// An upload session belongs to the tenant that opened it: B's session cannot be read, continued,
/// completed or cancelled with A's credential, in any spelling of its `_state`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_upload_session_is_unknown() {
    let s = Scene::new().await;
    let url = s.gw.open_upload(&s.b).await;
    let data = b"tenant A writes into B's upload".to_vec();
    let digest = sha256(&data);
    for (method, url, body) in [
        (Method::GET, url.clone(), vec![]),
        (Method::PATCH, url.clone(), data.clone()),
        (Method::PUT, format!("{url}&digest={digest}"), data.clone()),
    ] {
        let (status, code) = outcome(request(method.clone(), &url, &s.a).body(body)).await;
        assert_eq!(
            (status, code.as_str()),
            (404, "BLOB_UPLOAD_UNKNOWN"),
            "{method}"
        );
    }
    // B itself completes its session.
    let res = request(Method::PUT, &format!("{url}&digest={digest}"), &s.b)
        .body(data)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // Completion parameters are read once: a repeated `digest` is refused, not guessed.
    let url = s.gw.open_upload(&s.a).await;
    let (status, code) = outcome(
        request(
            Method::PUT,
            &format!(
                "{url}&digest={digest}&digest={}",
                s.image_b.layer_digests[0]
            ),
            &s.a,
        )
        .body(b"x".to_vec()),
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "BLOB_UPLOAD_INVALID"));
    s.assert_b_unreachable_from_a().await;
}

pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}
