//! Registry models.

use bytes::Bytes;

/// What a tag resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRef {
    /// `sha256:...`
    pub digest: String,
    pub media_type: String,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub digest: String,
    pub media_type: String,
    pub body: Bytes,
}

/// Which path safe tag deletion took (reported to operators and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TagDeletion {
    /// The tag did not exist.
    AlreadyGone,
    /// The registry supports `DELETE /manifests/<tag>`: only the tag was removed.
    DeletedTag,
    /// No tag delete: the tag was moved onto a unique placeholder manifest whose digest was deleted.
    /// The original image stays for any other tag that shares its digest.
    ReplacedWithPlaceholder { placeholder_digest: String },
    /// The registry refuses manifest deletion entirely: the tag now points at a placeholder (the tenant's
    /// image is no longer reachable through it) and the placeholder itself could not be removed.
    PlaceholderLeft { placeholder_digest: String },
}
