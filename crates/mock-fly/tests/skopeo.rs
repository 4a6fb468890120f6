//! The real `skopeo` copies a hand-built OCI image into the mock registry and back out, byte-identical.

mod common;

use std::process::Command;

use common::oci::{self, digest};
use common::{Api, mock};
use serde_json::Value;

fn skopeo(args: &[String]) {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is installed (apt-get install skopeo)");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_round_trip_is_byte_identical() {
    let m = mock().await;
    let img = oci::build("v1", "round trip through skopeo");
    let policy = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        policy.path(),
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    let policy = policy.path().display().to_string();
    let creds = format!("x:{}", m.token());
    let remote = format!("docker://{}/org/shared-images:tenant-1", m.registry_host());
    let src = format!("oci:{}:v1", img.dir.path().display());
    let out = tempfile::tempdir().unwrap();
    let dst = format!("oci:{}:back", out.path().display());
    let common = |v: &[&str]| -> Vec<String> {
        let mut a = vec![
            "--policy".to_owned(),
            policy.clone(),
            "copy".to_owned(),
            "--preserve-digests".to_owned(),
        ];
        a.extend(v.iter().map(|s| s.to_string()));
        a
    };
    let (s1, s2, r1, d1) = (src.clone(), remote.clone(), remote.clone(), dst.clone());
    let push = common(&["--dest-tls-verify=false", "--dest-creds", &creds, &s1, &s2]);
    let pull = common(&["--src-tls-verify=false", "--src-creds", &creds, &r1, &d1]);
    tokio::task::spawn_blocking(move || skopeo(&push))
        .await
        .unwrap();

    let snap = m.state();
    assert_eq!(
        snap.tag("org/shared-images", "tenant-1"),
        Some(img.manifest_digest.as_str())
    );
    assert!(snap.blobs.contains(&digest(&img.layer)) && snap.blobs.contains(&digest(&img.config)));

    tokio::task::spawn_blocking(move || skopeo(&pull))
        .await
        .unwrap();
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
