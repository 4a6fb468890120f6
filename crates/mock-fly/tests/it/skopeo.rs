//! The real `skopeo` copies a hand-built OCI image into the mock registry and back out, byte-identical.

use crate::common::oci::{self, digest};
use crate::common::{Api, mock};
use mgmt_test_support::oci::{skopeo_pull, skopeo_push};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_round_trip_is_byte_identical() {
    let m = mock().await;
    let img = oci::build("v1", "round trip through skopeo");
    let creds = Some(("x", m.token()));
    let remote = format!("{}/org/shared-images:tenant-1", m.registry_host());
    // --preserve-digests: skopeo fails rather than rewrite the manifest on the way in.
    skopeo_push(&img.built, &remote, creds, &["--preserve-digests"])
        .await
        .expect("skopeo pushes to the mock");

    let snap = m.state();
    assert_eq!(
        snap.tag("org/shared-images", "tenant-1"),
        Some(img.manifest_digest.as_str())
    );
    assert!(snap.blobs.contains(&digest(&img.layer)) && snap.blobs.contains(&digest(&img.config)));

    let out = tempfile::tempdir().unwrap();
    skopeo_pull(&remote, creds, out.path(), "back")
        .await
        .expect("skopeo pulls from the mock");
    let index: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["digest"],
        img.manifest_digest.as_str()
    );
    for bytes in [&img.manifest, &img.config, &img.layer] {
        let d = digest(bytes);
        let path = out
            .path()
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"));
        assert_eq!(
            &std::fs::read(&path).unwrap(),
            bytes,
            "blob {d} differs after the round trip"
        );
    }

    // The pushed image is deployable: a machine may be created from it, pinned by digest.
    let api = Api::new(&m);
    api.create_app("sp-skopeo").await;
    let image = format!(
        "{}/org/shared-images@{}",
        m.registry_host(),
        img.manifest_digest
    );
    api.create_machine("sp-skopeo", &image).await;
    let ops: Vec<String> = m.requests().into_iter().filter_map(|r| r.op).collect();
    for op in [
        "registry_manifest_put",
        "registry_upload_put",
        "registry_manifest_get",
        "registry_blob_get",
    ] {
        assert!(
            ops.iter().any(|o| o == op),
            "skopeo never called {op}: {ops:?}"
        );
    }
    assert!(
        m.unknown_routes().is_empty(),
        "skopeo hit routes the mock lacks: {:?}",
        m.unknown_routes()
    );
}
