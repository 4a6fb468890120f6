//! The authorization rules: what a tenant's credential may do, decided from the scope, method and route.
//!
//! Pure, so every rule is unit-tested without a server. Decisions that depend on what the tenant pushed
//! before (reading a blob or a manifest by digest) come back as "allowed if readable", which the handler
//! settles with one lookup in the push records.

use actix_web::http::Method;

use crate::credentials::TenantScope;
use crate::error::RegistryError;
use crate::route::{Reference, Route};

/// What the gateway does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `/v2/`: answered by the gateway itself.
    Base,
    /// `tags/list`: answered by the gateway with at most the tenant's own tag.
    OwnTags,
    /// Forward a read of the tenant's own tag.
    Forward,
    /// Forward only if the tenant pushed, uploaded or referenced `digest`; otherwise answer `not_found`.
    ForwardIfReadable {
        digest: String,
        not_found: RegistryError,
    },
    /// Forward a manifest push after checking what it references; record it when it succeeds.
    PushManifest,
    /// Forward an upload step (cross-repository mount parameters removed); record a finished blob.
    Upload,
    Refuse(RegistryError),
}

/// Decides what `scope` may do with `method` on `route`.
pub fn decide(scope: &TenantScope, method: &Method, route: &Route) -> Decision {
    if *method == Method::DELETE {
        return Decision::Refuse(RegistryError::denied(
            "deletion is not allowed through the gateway",
        ));
    }
    if let Some(name) = route.name()
        && name != scope.repository
    {
        return Decision::Refuse(RegistryError::denied(format!(
            "this credential is valid only for repository {}",
            scope.repository
        )));
    }
    let read = *method == Method::GET || *method == Method::HEAD;
    match route {
        Route::Base if read => Decision::Base,
        Route::Catalog => Decision::Refuse(RegistryError::denied("catalog listing is not allowed")),
        Route::Tags { .. } if *method == Method::GET => Decision::OwnTags,
        Route::Manifest { reference, .. } => match (reference, read) {
            (Reference::Tag(tag), _) if *tag != scope.tag => {
                Decision::Refuse(RegistryError::denied(format!(
                    "this credential is valid only for tag {}",
                    scope.tag
                )))
            }
            (Reference::Tag(_), true) => Decision::Forward,
            (Reference::Digest(digest), true) => Decision::ForwardIfReadable {
                digest: digest.clone(),
                not_found: RegistryError::manifest_unknown(),
            },
            (_, false) if *method == Method::PUT => Decision::PushManifest,
            _ => Decision::Refuse(RegistryError::unsupported(
                "method not allowed on manifests",
            )),
        },
        Route::Blob { digest, .. } if read => Decision::ForwardIfReadable {
            digest: digest.clone(),
            not_found: RegistryError::blob_unknown(),
        },
        Route::UploadStart { .. } if *method == Method::POST => Decision::Upload,
        Route::Upload { .. } if matches!(*method, Method::GET | Method::PATCH | Method::PUT) => {
            Decision::Upload
        }
        _ => Decision::Refuse(RegistryError::unsupported(
            "method not allowed on this route",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::parse;
    use chrono::Utc;
    use mgmt_domain::TenantId;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn scope() -> TenantScope {
        let tenant = TenantId::parse("3f2b8c1e-9a4d-4e1f-8c2a-0b1d2e3f4a5b").unwrap();
        TenantScope {
            tenant,
            repository: "shared".into(),
            tag: format!("tenant-{tenant}"),
            expires_at: Utc::now(),
        }
    }

    fn d(method: Method, path: &str) -> Decision {
        decide(
            &scope(),
            &method,
            &parse(path).unwrap_or_else(|| panic!("{path} did not parse")),
        )
    }

    fn refused_with(decision: Decision, code: &str, status: u16) {
        match decision {
            Decision::Refuse(e) => {
                assert_eq!(e.code, code);
                assert_eq!(e.status.as_u16(), status);
            }
            other => panic!("expected refusal {code}, got {other:?}"),
        }
    }

    #[test]
    fn own_tag_may_be_read_and_pushed() {
        let own = format!("/v2/shared/manifests/{}", scope().tag);
        assert_eq!(d(Method::GET, &own), Decision::Forward);
        assert_eq!(d(Method::HEAD, &own), Decision::Forward);
        assert_eq!(d(Method::PUT, &own), Decision::PushManifest);
        assert_eq!(
            d(Method::PUT, &format!("/v2/shared/manifests/{D}")),
            Decision::PushManifest
        );
        assert_eq!(d(Method::GET, "/v2/"), Decision::Base);
        assert_eq!(d(Method::GET, "/v2/shared/tags/list"), Decision::OwnTags);
    }

    #[test]
    fn other_tags_repositories_catalog_and_delete_are_denied() {
        let other = "/v2/shared/manifests/tenant-00000000-0000-4000-8000-000000000000";
        refused_with(d(Method::GET, other), "DENIED", 403);
        refused_with(d(Method::PUT, other), "DENIED", 403);
        refused_with(d(Method::GET, "/v2/shared/manifests/latest"), "DENIED", 403);
        refused_with(d(Method::GET, "/v2/_catalog"), "DENIED", 403);
        refused_with(d(Method::GET, "/v2/other/tags/list"), "DENIED", 403);
        refused_with(d(Method::POST, "/v2/other/blobs/uploads/"), "DENIED", 403);
        refused_with(
            d(Method::HEAD, &format!("/v2/other/blobs/{D}")),
            "DENIED",
            403,
        );
        let own = format!("/v2/shared/manifests/{}", scope().tag);
        refused_with(d(Method::DELETE, &own), "DENIED", 403);
        refused_with(
            d(Method::DELETE, &format!("/v2/shared/manifests/{D}")),
            "DENIED",
            403,
        );
        refused_with(
            d(Method::DELETE, &format!("/v2/shared/blobs/{D}")),
            "DENIED",
            403,
        );
        refused_with(
            d(Method::DELETE, "/v2/shared/blobs/uploads/abc"),
            "DENIED",
            403,
        );
    }

    #[test]
    fn digests_are_readable_only_if_the_tenant_has_them_and_hidden_as_404() {
        match d(Method::HEAD, &format!("/v2/shared/blobs/{D}")) {
            Decision::ForwardIfReadable { digest, not_found } => {
                assert_eq!(digest, D);
                assert_eq!(
                    (not_found.status.as_u16(), not_found.code),
                    (404, "BLOB_UNKNOWN")
                );
            }
            other => panic!("{other:?}"),
        }
        match d(Method::GET, &format!("/v2/shared/manifests/{D}")) {
            Decision::ForwardIfReadable { not_found, .. } => {
                assert_eq!(not_found.code, "MANIFEST_UNKNOWN")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn uploads_are_allowed_but_not_other_methods() {
        assert_eq!(
            d(Method::POST, "/v2/shared/blobs/uploads/"),
            Decision::Upload
        );
        for m in [Method::PATCH, Method::PUT, Method::GET] {
            assert_eq!(d(m, "/v2/shared/blobs/uploads/0b1d-2e3f"), Decision::Upload);
        }
        refused_with(
            d(Method::PUT, &format!("/v2/shared/blobs/{D}")),
            "UNSUPPORTED",
            405,
        );
        refused_with(
            d(Method::POST, "/v2/shared/blobs/uploads/abc"),
            "UNSUPPORTED",
            405,
        );
        refused_with(d(Method::PATCH, "/v2/shared/manifests/x"), "DENIED", 403);
        refused_with(d(Method::POST, "/v2/"), "UNSUPPORTED", 405);
    }
}
