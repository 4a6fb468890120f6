//! Registry storage: repository metadata in memory, blob and upload bytes in files under the
//! mock's temporary directory.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use sha2::Sha256;

use crate::state::RepoRecord;

#[derive(Debug, Clone)]
pub(crate) struct BlobInfo {
    pub size: u64,
    pub path: PathBuf,
}

/// An upload session: bytes so far are in `path`, their running sha256 in `hasher`.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub repo: String,
    pub path: PathBuf,
    pub offset: u64,
    pub hasher: Sha256,
}

#[derive(Debug, Default)]
pub(crate) struct RegistryStore {
    pub repos: BTreeMap<String, RepoRecord>,
    /// Content-addressed, shared by every repository that links the digest.
    pub blobs: BTreeMap<String, BlobInfo>,
    pub uploads: HashMap<String, Upload>,
}

impl RegistryStore {
    /// The blob if `repo` links it (distribution answers 404 for a blob of another repository).
    pub(crate) fn linked_blob(&self, repo: &str, digest: &str) -> Option<BlobInfo> {
        let linked = self
            .repos
            .get(repo)
            .is_some_and(|r| r.blobs.contains(digest));
        linked.then(|| self.blobs.get(digest).cloned()).flatten()
    }
}

/// `sha256:` followed by 64 lowercase hex digits (the only algorithm this registry stores), by the
/// domain's digest grammar.
pub(crate) fn valid_digest(d: &str) -> bool {
    mgmt_domain::Digest::parse(d).is_ok_and(|d| d.algorithm() == "sha256")
}

pub(crate) fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs").join(digest.replace(':', "-"))
}
