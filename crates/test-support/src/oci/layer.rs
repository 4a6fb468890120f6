//! One layer of a hand-built image: a one-file ustar archive, compressed without names or times so
//! equal bytes give equal digests, hashed with `sha256sum`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context as _, bail};
use mgmt_domain::media_type;

/// How layer tarballs are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LayerCompression {
    /// `gzip -n -1`: what Docker pushes; slow for big random layers (about 30 s for 256 MiB here).
    #[default]
    Gzip,
    /// `zstd -1`: an OCI layer type skopeo and registries pass through; seconds for 256 MiB.
    Zstd,
}

impl LayerCompression {
    pub(super) fn media_type(self) -> &'static str {
        match self {
            Self::Gzip => media_type::OCI_LAYER_GZIP,
            Self::Zstd => media_type::OCI_LAYER_ZSTD,
        }
    }

    /// The command compressing stdin-less `file` to stdout; neither stores a name or a time.
    fn command(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Self::Gzip => ("gzip", &["-n", "-1", "-c"]),
            Self::Zstd => ("zstd", &["-1", "-q", "-c"]),
        }
    }
}

/// A one-file ustar archive, compressed without names or times: (digest, size, diff_id).
pub(super) fn write_layer(
    blobs: &Path,
    name: &str,
    size: u64,
    content: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
    compression: LayerCompression,
) -> anyhow::Result<(String, u64, String)> {
    let tmp = tempfile::NamedTempFile::new_in(blobs)?;
    let mut out = BufWriter::with_capacity(1 << 20, tmp.reopen()?);
    out.write_all(&ustar_header(name, size))?;
    content(&mut out)?;
    let pad = (512 - (size % 512) as usize) % 512;
    out.write_all(&vec![0u8; pad + 1024])?;
    out.flush()?;
    drop(out);
    let (diff_hex, _) = hash_file(tmp.path())?;
    let diff_id = format!("sha256:{diff_hex}");
    let gz_path = blobs.join(format!(
        "{}.gz.tmp",
        tmp.path().file_name().unwrap_or_default().to_string_lossy()
    ));
    let (program, args) = compression.command();
    let status = std::process::Command::new(program)
        .args(args)
        .arg(tmp.path())
        .stdout(File::create(&gz_path)?)
        .status()
        .with_context(|| format!("running {program}"))?;
    if !status.success() {
        bail!("{program} failed with {status}");
    }
    let (hex, gz_size) = hash_file(&gz_path)?;
    std::fs::rename(&gz_path, blobs.join(&hex))?;
    Ok((format!("sha256:{hex}"), gz_size, diff_id))
}

/// `sha256sum` of a file, and its size. Shelled out because sha2 without optimisation (test
/// builds) hashes a 256 MiB layer far too slowly.
pub(super) fn hash_file(path: &Path) -> anyhow::Result<(String, u64)> {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .context("running sha256sum")?;
    if !out.status.success() {
        bail!("sha256sum failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text
        .split_whitespace()
        .next()
        .context("empty sha256sum output")?
        .to_string();
    Ok((hex, std::fs::metadata(path)?.len()))
}

/// A POSIX ustar header for a regular file, owned by root, mode 0644, mtime 0.
fn ustar_header(name: &str, size: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    let put =
        |h: &mut [u8; 512], at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
    put(&mut h, 0, &name.as_bytes()[..name.len().min(99)]);
    put(&mut h, 100, b"0000644\0");
    put(&mut h, 108, b"0000000\0");
    put(&mut h, 116, b"0000000\0");
    put(&mut h, 124, format!("{size:011o}\0").as_bytes());
    put(&mut h, 136, b"00000000000\0");
    put(&mut h, 148, b"        ");
    h[156] = b'0';
    put(&mut h, 257, b"ustar\0");
    put(&mut h, 263, b"00");
    let sum: u32 = h.iter().map(|b| *b as u32).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    h
}
