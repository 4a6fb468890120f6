//! Tiny OCI images built by hand (ustar + `gzip -n`, sha256 digests, an image layout on disk) and
//! `skopeo` helpers to push them to a registry and copy them back out.
//!
//! Everything is deterministic: the same layer bytes give the same digests, so two builds (or two
//! pushes) of the same content are byte-identical images. Large layers are streamed to disk, never
//! held in memory. Building is blocking file work; call it from `spawn_blocking` when sizes are large.

use std::fs::File;
use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use mgmt_domain::media_type::OCI_CONFIG;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The domain's media types, re-exported for the tests that build images with this module.
pub use mgmt_domain::media_type::{OCI_INDEX, OCI_MANIFEST};

mod layer;
mod skopeo;
pub use layer::LayerCompression;
use layer::write_layer;
pub use skopeo::{skopeo, skopeo_pull, skopeo_push};

/// An image in an OCI layout directory, under `tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciImage {
    pub layout: PathBuf,
    pub tag: String,
    pub manifest_digest: String,
    /// Set when the manifest is wrapped in an OCI index (what BuildKit pushes by default).
    pub index_digest: Option<String>,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
    /// Compressed sizes, as in the manifest.
    pub layer_sizes: Vec<u64>,
}

impl OciImage {
    /// The digest a registry reports for the tag: the index when there is one, else the manifest.
    pub fn top_digest(&self) -> &str {
        self.index_digest
            .as_deref()
            .unwrap_or(&self.manifest_digest)
    }

    /// The media type of the tag's top-level manifest.
    pub fn top_media_type(&self) -> &'static str {
        if self.index_digest.is_some() {
            OCI_INDEX
        } else {
            OCI_MANIFEST
        }
    }

    /// `oci:<layout>:<tag>` for skopeo.
    pub fn skopeo_ref(&self) -> String {
        format!("oci:{}:{}", self.layout.display(), self.tag)
    }
}

/// Builds an image whose layers each hold one file with the given bytes.
pub fn build_image(
    layout: &Path,
    tag: &str,
    layers: &[&[u8]],
    as_index: bool,
) -> anyhow::Result<OciImage> {
    let mut writers: Vec<Writer> = Vec::new();
    for bytes in layers {
        let bytes = bytes.to_vec();
        writers.push(Box::new(move |w: &mut dyn Write| w.write_all(&bytes)));
    }
    let sizes: Vec<u64> = layers.iter().map(|l| l.len() as u64).collect();
    build(
        layout,
        tag,
        &sizes,
        writers,
        as_index,
        LayerCompression::Gzip,
    )
}

/// Builds an image of random, incompressible layers of the given sizes (streamed to disk).
pub fn build_random_image(
    layout: &Path,
    tag: &str,
    sizes: &[u64],
    as_index: bool,
) -> anyhow::Result<OciImage> {
    build_random_image_with(layout, tag, sizes, as_index, LayerCompression::Gzip)
}

/// As [`build_random_image`], choosing the layer compression (zstd for big benchmark layers).
pub fn build_random_image_with(
    layout: &Path,
    tag: &str,
    sizes: &[u64],
    as_index: bool,
    compression: LayerCompression,
) -> anyhow::Result<OciImage> {
    let mut writers: Vec<Writer> = Vec::new();
    for &size in sizes {
        // The kernel's generator: an unoptimised (debug) userspace RNG takes minutes for 256 MiB.
        writers.push(Box::new(move |w: &mut dyn Write| {
            let copied = std::io::copy(&mut File::open("/dev/urandom")?.take(size), w)?;
            debug_assert_eq!(copied, size);
            Ok(())
        }));
    }
    build(layout, tag, sizes, writers, as_index, compression)
}

type Writer = Box<dyn FnMut(&mut dyn Write) -> std::io::Result<()>>;

fn build(
    layout: &Path,
    tag: &str,
    sizes: &[u64],
    writers: Vec<Writer>,
    as_index: bool,
    compression: LayerCompression,
) -> anyhow::Result<OciImage> {
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let (mut layer_digests, mut layer_sizes, mut diff_ids) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (mut write, size)) in writers.into_iter().zip(sizes).enumerate() {
        let (digest, gz_size, diff_id) = write_layer(
            &blobs,
            &format!("layer-{i}.bin"),
            *size,
            &mut *write,
            compression,
        )?;
        layer_digests.push(digest);
        layer_sizes.push(gz_size);
        diff_ids.push(diff_id);
    }
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Cmd": ["/layer-0.bin"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    let (config_digest, config_size) = write_json_blob(&blobs, &config)?;
    let layers: Vec<Value> = layer_digests
        .iter()
        .zip(&layer_sizes)
        .map(|(d, s)| json!({ "mediaType": compression.media_type(), "digest": d, "size": s }))
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size },
        "layers": layers,
    });
    let (manifest_digest, manifest_size) = write_json_blob(&blobs, &manifest)?;
    let mut top =
        json!({ "mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": manifest_size });
    let mut index_digest = None;
    if as_index {
        let mut entry = top.clone();
        entry["platform"] = json!({ "architecture": "amd64", "os": "linux" });
        let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry] });
        let (digest, size) = write_json_blob(&blobs, &index)?;
        top = json!({ "mediaType": OCI_INDEX, "digest": digest, "size": size });
        index_digest = Some(digest);
    }
    add_to_layout_index(layout, tag, top)?;
    Ok(OciImage {
        layout: layout.to_path_buf(),
        tag: tag.into(),
        manifest_digest,
        index_digest,
        config_digest,
        layer_digests,
        layer_sizes,
    })
}

/// Points `tag` in the layout's `index.json` at `descriptor`, keeping other tags.
fn add_to_layout_index(layout: &Path, tag: &str, mut descriptor: Value) -> anyhow::Result<()> {
    let path = layout.join("index.json");
    let mut index: Value = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)?,
        Err(_) => json!({ "schemaVersion": 2, "manifests": [] }),
    };
    descriptor["annotations"] = json!({ "org.opencontainers.image.ref.name": tag });
    let manifests = index["manifests"]
        .as_array_mut()
        .context("index.json without manifests")?;
    manifests.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != tag);
    manifests.push(descriptor);
    std::fs::write(path, serde_json::to_vec(&index)?)?;
    Ok(())
}

fn write_json_blob(blobs: &Path, value: &Value) -> anyhow::Result<(String, u64)> {
    let bytes = serde_json::to_vec(value)?;
    let hex = hex::encode(Sha256::digest(&bytes));
    std::fs::write(blobs.join(&hex), &bytes)?;
    Ok((format!("sha256:{hex}"), bytes.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::layer::hash_file;
    use super::*;

    #[test]
    fn same_bytes_same_digests() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let one = build_image(a.path(), "t1", &[b"hello"], false).unwrap();
        let two = build_image(b.path(), "t2", &[b"hello"], true).unwrap();
        assert_eq!(one.manifest_digest, two.manifest_digest);
        assert!(two.index_digest.is_some());
        let listed = std::process::Command::new("tar")
            .arg("-tzf")
            .arg(
                a.path()
                    .join("blobs/sha256")
                    .join(one.layer_digests[0].trim_start_matches("sha256:")),
            )
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&listed.stdout).trim(),
            "layer-0.bin"
        );
    }

    #[test]
    fn random_layers_are_incompressible_and_hashed_right() {
        let dir = tempfile::tempdir().unwrap();
        let image = build_random_image(dir.path(), "big", &[3 << 20, 1000], false).unwrap();
        assert_eq!(image.layer_digests.len(), 2);
        assert!(
            image.layer_sizes[0] > 3 << 20,
            "random data does not compress"
        );
        for (digest, size) in image.layer_digests.iter().zip(&image.layer_sizes) {
            let hex = digest.trim_start_matches("sha256:");
            let (actual, len) = hash_file(&dir.path().join("blobs/sha256").join(hex)).unwrap();
            assert_eq!((actual.as_str(), len), (hex, *size));
        }
        let other = tempfile::tempdir().unwrap();
        let again =
            build_random_image_with(other.path(), "big", &[1000], false, LayerCompression::Zstd)
                .unwrap();
        assert_ne!(
            again.layer_digests[0], image.layer_digests[1],
            "random layers differ"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn zstd_image_round_trips_through_docker_registry_as_an_index() {
        let server = crate::registry::RegistryServer::start(Default::default());
        let dir = tempfile::tempdir().unwrap();
        let image =
            build_random_image_with(dir.path(), "z", &[1 << 20], true, LayerCompression::Zstd)
                .unwrap();
        let creds = Some((server.username(), server.password()));
        let dest = format!("{}/bench/app:z", server.host());
        skopeo_push(&image, &dest, creds, &[]).await.unwrap();
        let out = tempfile::tempdir().unwrap();
        skopeo_pull(&dest, creds, out.path(), "back").await.unwrap();
        for digest in [
            image.top_digest(),
            &image.manifest_digest,
            &image.layer_digests[0],
        ] {
            let blob = out
                .path()
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:"));
            assert!(blob.exists(), "{digest} did not come back byte-identical");
        }
    }
}
