//! `skopeo` helpers: push an OCI layout image to a registry over plain HTTP and copy images back out.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context as _, bail};

use super::OciImage;

/// Runs skopeo with `args`, failing with its stderr.
pub async fn skopeo(args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new("skopeo")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .context("running skopeo")?;
    if !out.status.success() {
        bail!(
            "skopeo {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Pushes `image` to `docker://<dest>` (`host:port/repo:tag`) over plain HTTP, keeping an index
/// whole (`--all`). `extra` may add e.g. `["--format", "v2s2"]`.
pub async fn skopeo_push(
    image: &OciImage,
    dest: &str,
    creds: Option<(&str, &str)>,
    extra: &[&str],
) -> anyhow::Result<()> {
    let src = image.skopeo_ref();
    let dst = format!("docker://{dest}");
    let creds = creds.map(|(u, p)| format!("{u}:{p}"));
    let mut args = vec!["copy", "--all", "--dest-tls-verify=false"];
    if let Some(c) = &creds {
        args.extend(["--dest-creds", c]);
    }
    args.extend_from_slice(extra);
    args.extend([src.as_str(), dst.as_str()]);
    skopeo(&args).await.map(drop)
}

/// Copies `docker://<src>` out into the OCI layout `layout` under `tag`.
pub async fn skopeo_pull(
    src: &str,
    creds: Option<(&str, &str)>,
    layout: &Path,
    tag: &str,
) -> anyhow::Result<()> {
    let from = format!("docker://{src}");
    let to = format!("oci:{}:{tag}", layout.display());
    let creds = creds.map(|(u, p)| format!("{u}:{p}"));
    let mut args = vec!["copy", "--all", "--src-tls-verify=false"];
    if let Some(c) = &creds {
        args.extend(["--src-creds", c]);
    }
    args.extend([from.as_str(), to.as_str()]);
    skopeo(&args).await.map(drop)
}
