//! Classifies a Registry v2 request path, strictly enough that what the policy checks is exactly what the
//! upstream will serve.
//!
//! Only the canonical spelling of each route is accepted: no percent-encoding, no dot segments, tags and
//! digests by their grammar. A path the upstream could read differently from us (say `%2F` or `..`) is
//! refused before any policy decision is taken on it.

use mgmt_domain::ManifestReference;
use mgmt_domain::image_ref::validate_repository;

/// A Registry v2 route under `/v2/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`: the API version check.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    Tags { name: String },
    /// `/v2/<name>/manifests/<reference>`.
    Manifest { name: String, reference: Reference },
    /// `/v2/<name>/blobs/<digest>`.
    Blob { name: String, digest: String },
    /// `/v2/<name>/blobs/uploads/` (start an upload).
    UploadStart { name: String },
    /// `/v2/<name>/blobs/uploads/<id>` (continue, finish, inspect or cancel an upload).
    Upload { name: String, id: String },
}

impl Route {
    /// Repository the route addresses (none for the base and catalog routes).
    pub fn name(&self) -> Option<&str> {
        match self {
            Route::Base | Route::Catalog => None,
            Route::Tags { name }
            | Route::Manifest { name, .. }
            | Route::Blob { name, .. }
            | Route::UploadStart { name }
            | Route::Upload { name, .. } => Some(name),
        }
    }

    /// Short label for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Route::Base => "base",
            Route::Catalog => "catalog",
            Route::Tags { .. } => "tags",
            Route::Manifest { .. } => "manifest",
            Route::Blob { .. } => "blob",
            Route::UploadStart { .. } => "upload_start",
            Route::Upload { .. } => "upload",
        }
    }
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(String),
}

/// Parses a raw (still encoded) request path. `None` means "not a registry route we serve".
pub fn parse(path: &str) -> Option<Route> {
    let tail = path.strip_prefix("/v2")?;
    if tail.is_empty() || tail == "/" {
        return Some(Route::Base);
    }
    let tail = tail.strip_prefix('/')?;
    if tail == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = tail.strip_suffix("/tags/list") {
        return valid_name(name).then(|| Route::Tags {
            name: name.to_owned(),
        });
    }
    if let Some((name, reference)) = tail.rsplit_once("/manifests/") {
        let reference = match ManifestReference::parse(reference).ok()? {
            ManifestReference::Tag(tag) => Reference::Tag(tag),
            ManifestReference::Digest(digest) => Reference::Digest(digest.to_string()),
        };
        return valid_name(name).then(|| Route::Manifest {
            name: name.to_owned(),
            reference,
        });
    }
    if let Some(name) = tail
        .strip_suffix("/blobs/uploads/")
        .or_else(|| tail.strip_suffix("/blobs/uploads"))
    {
        return valid_name(name).then(|| Route::UploadStart {
            name: name.to_owned(),
        });
    }
    if let Some((name, id)) = tail.rsplit_once("/blobs/uploads/") {
        return (valid_name(name) && valid_upload_id(id)).then(|| Route::Upload {
            name: name.to_owned(),
            id: id.to_owned(),
        });
    }
    if let Some((name, digest)) = tail.rsplit_once("/blobs/") {
        let digest = valid_digest(digest)?;
        return valid_name(name).then(|| Route::Blob {
            name: name.to_owned(),
            digest,
        });
    }
    None
}

/// Repository name by the domain's (distribution's) grammar: lowercase components joined by `/`.
fn valid_name(name: &str) -> bool {
    validate_repository(name).is_ok()
}

/// A digest by the domain's grammar, in its canonical spelling.
fn valid_digest(digest: &str) -> Option<String> {
    mgmt_domain::Digest::parse(digest)
        .ok()
        .map(|d| d.to_string())
}

/// Upload ids are opaque to clients (distribution uses UUIDs); allow only characters that need no
/// encoding and cannot form a dot segment.
fn valid_upload_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '='))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_every_route() {
        assert_eq!(parse("/v2/"), Some(Route::Base));
        assert_eq!(parse("/v2"), Some(Route::Base));
        assert_eq!(parse("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(
            parse("/v2/a/b/tags/list"),
            Some(Route::Tags { name: "a/b".into() })
        );
        assert_eq!(
            parse("/v2/shared/manifests/tenant-x"),
            Some(Route::Manifest {
                name: "shared".into(),
                reference: Reference::Tag("tenant-x".into())
            })
        );
        assert_eq!(
            parse(&format!("/v2/shared/manifests/{D}")),
            Some(Route::Manifest {
                name: "shared".into(),
                reference: Reference::Digest(D.into())
            })
        );
        assert_eq!(
            parse(&format!("/v2/shared/blobs/{D}")),
            Some(Route::Blob {
                name: "shared".into(),
                digest: D.into()
            })
        );
        assert_eq!(
            parse("/v2/shared/blobs/uploads/"),
            Some(Route::UploadStart {
                name: "shared".into()
            })
        );
        assert_eq!(
            parse("/v2/shared/blobs/uploads"),
            Some(Route::UploadStart {
                name: "shared".into()
            })
        );
        assert_eq!(
            parse("/v2/shared/blobs/uploads/5f0c-aa_b="),
            Some(Route::Upload {
                name: "shared".into(),
                id: "5f0c-aa_b=".into()
            })
        );
    }

    #[test]
    fn refuses_ambiguous_or_malformed_paths() {
        for bad in [
            "/v1/",
            "/v2x",
            "/v2/shared/manifests/tenant%2Dx",
            "/v2/shared/manifests/../x",
            "/v2/shared/manifests/.hidden",
            "/v2/shared/manifests/",
            "/v2/shared/manifests/sha256:abc",
            "/v2/Shared/tags/list",
            "/v2/sh%61red/tags/list",
            "/v2/shared/blobs/uploads/..",
            "/v2/shared/blobs/uploads/a/b",
            "/v2/shared/blobs/notadigest",
            "/v2/shared",
            "/v2/shared/other",
            "/v2//manifests/x",
        ] {
            assert_eq!(parse(bad), None, "{bad} accepted");
        }
    }
}
