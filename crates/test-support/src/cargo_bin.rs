//! The binary of another package of this workspace, for tests that run it as a process.
//!
//! Cargo gives a test the path of its own package's binaries (`env!("CARGO_BIN_EXE_<name>")`) but not
//! of another package's, and a dev-dependency builds only the other package's library. So
//! [`cargo_bin`] runs `cargo build -p <package> --bin <name>` and reads the path from cargo's JSON
//! messages: the binary always matches the sources (a no-op build when it is up to date), wherever the
//! target directory is (`CARGO_TARGET_DIR`, `.cargo/config.toml`), however the test was started
//! (`cargo test`, `cargo nextest`, the test binary by hand). Cargo holds no lock on the target
//! directory while tests run, so the nested build does not wait for the outer one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context as _, bail};

/// The workspace root (this crate lives in `crates/test-support`).
fn workspace_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .expect("crates/test-support has a grandparent")
            .to_path_buf()
    })
}

/// Builds binary `bin` of workspace package `package` (the dev profile, or release when this code is
/// built without debug assertions) and returns its path. Blocking (the first build of a binary takes
/// a while); built once per process.
pub fn cargo_bin(package: &str, bin: &str) -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<Mutex<HashMap<(String, String), PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    let key = (package.to_owned(), bin.to_owned());
    if let Some(path) = built.get(&key) {
        return Ok(path.clone());
    }
    let path = build(package, bin)?;
    built.insert(key, path.clone());
    Ok(path)
}

fn build(package: &str, bin: &str) -> anyhow::Result<PathBuf> {
    // `CARGO` is set by cargo for the processes it runs (and by nextest): the same toolchain.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .current_dir(workspace_root())
        .args([
            "build",
            "--quiet",
            "--message-format=json-render-diagnostics",
        ])
        .args(["-p", package, "--bin", bin])
        .stdin(Stdio::null());
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let out = command
        .output()
        .with_context(|| format!("running {cargo:?} build -p {package} --bin {bin}"))?;
    if !out.status.success() {
        bail!(
            "cargo build -p {package} --bin {bin} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    executable_from_messages(&String::from_utf8_lossy(&out.stdout), bin).with_context(|| {
        format!("cargo build -p {package} --bin {bin} reported no executable named {bin}")
    })
}

/// The `executable` of the `compiler-artifact` message of binary `bin`.
fn executable_from_messages(stdout: &str, bin: &str) -> Option<PathBuf> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
        })
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executable_is_read_from_cargo_messages() {
        let stdout = concat!(
            r#"{"reason":"compiler-artifact","target":{"name":"mgmt_mock_fly","kind":["lib"]},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"name":"mock-fly","kind":["bin"]},"executable":"/t/debug/mock-fly"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            executable_from_messages(stdout, "mock-fly"),
            Some(PathBuf::from("/t/debug/mock-fly"))
        );
        assert_eq!(executable_from_messages(stdout, "other"), None);
    }

    #[test]
    fn the_workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }
}
