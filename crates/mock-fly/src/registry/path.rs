//! Parsing `/v2/<name>/...` where `<name>` may contain slashes: the route kind is found from the
//! right, so `/v2/a/b/manifests/x` is repository `a/b`.

use actix_web::http::Method;

use crate::ops::Op;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegPath {
    Base,
    Tags { name: String },
    Manifest { name: String, reference: String },
    Blob { name: String, digest: String },
    Uploads { name: String },
    Upload { name: String, id: String },
}

/// distribution's repository name grammar (the domain's): lowercase alphanumeric components separated
/// by `.`, `_`, `__` or dashes, joined by `/`.
pub(crate) fn valid_name(name: &str) -> bool {
    mgmt_domain::image_ref::validate_repository(name).is_ok()
}

impl RegPath {
    pub(crate) fn parse(tail: &str) -> Option<Self> {
        if tail.is_empty() {
            return Some(RegPath::Base);
        }
        let named = |name: &str| valid_name(name).then(|| name.to_owned());
        if let Some(name) = tail.strip_suffix("/tags/list") {
            return Some(RegPath::Tags { name: named(name)? });
        }
        if let Some((name, id)) = tail.rsplit_once("/blobs/uploads/") {
            let name = named(name)?;
            return Some(if id.is_empty() {
                RegPath::Uploads { name }
            } else if id.contains('/') {
                return None;
            } else {
                RegPath::Upload {
                    name,
                    id: id.to_owned(),
                }
            });
        }
        if let Some(name) = tail.strip_suffix("/blobs/uploads") {
            return Some(RegPath::Uploads { name: named(name)? });
        }
        if let Some((name, reference)) = tail.rsplit_once("/manifests/") {
            if reference.is_empty() || reference.contains('/') {
                return None;
            }
            return Some(RegPath::Manifest {
                name: named(name)?,
                reference: reference.to_owned(),
            });
        }
        if let Some((name, digest)) = tail.rsplit_once("/blobs/") {
            if digest.is_empty() || digest.contains('/') {
                return None;
            }
            return Some(RegPath::Blob {
                name: named(name)?,
                digest: digest.to_owned(),
            });
        }
        None
    }

    pub(crate) fn op(&self, method: &Method) -> Option<Op> {
        let m = method.as_str();
        Some(match (self, m) {
            (RegPath::Base, "GET" | "HEAD") => Op::RegistryBase,
            (RegPath::Tags { .. }, "GET") => Op::RegistryTagsList,
            (RegPath::Manifest { .. }, "GET") => Op::RegistryManifestGet,
            (RegPath::Manifest { .. }, "HEAD") => Op::RegistryManifestHead,
            (RegPath::Manifest { .. }, "PUT") => Op::RegistryManifestPut,
            (RegPath::Manifest { .. }, "DELETE") => Op::RegistryManifestDelete,
            (RegPath::Blob { .. }, "GET") => Op::RegistryBlobGet,
            (RegPath::Blob { .. }, "HEAD") => Op::RegistryBlobHead,
            (RegPath::Blob { .. }, "DELETE") => Op::RegistryBlobDelete,
            (RegPath::Uploads { .. }, "POST") => Op::RegistryUploadStart,
            (RegPath::Upload { .. }, "PATCH") => Op::RegistryUploadPatch,
            (RegPath::Upload { .. }, "PUT") => Op::RegistryUploadPut,
            (RegPath::Upload { .. }, "GET") => Op::RegistryUploadStatus,
            (RegPath::Upload { .. }, "DELETE") => Op::RegistryUploadCancel,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_slashes_parse_from_the_right() {
        assert_eq!(
            RegPath::parse("a/b/manifests/tenant-1"),
            Some(RegPath::Manifest {
                name: "a/b".into(),
                reference: "tenant-1".into()
            })
        );
        assert_eq!(
            RegPath::parse("a/blobs/uploads/"),
            Some(RegPath::Uploads { name: "a".into() })
        );
        assert_eq!(
            RegPath::parse("x/y/blobs/uploads/u1"),
            Some(RegPath::Upload {
                name: "x/y".into(),
                id: "u1".into()
            })
        );
        assert_eq!(
            RegPath::parse("a/tags/list"),
            Some(RegPath::Tags { name: "a".into() })
        );
        assert_eq!(RegPath::parse("Upper/tags/list"), None);
        assert_eq!(RegPath::parse("a/other"), None);
    }
}
