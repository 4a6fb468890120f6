//! Registry v2 client: the [`Registry`] port and its reqwest implementation (challenge-driven auth,
//! digest resolution with every manifest media type, safe tag deletion).

pub mod http;
pub mod models;

/// Shared with the registry gateway, which authenticates to its upstream the same way.
pub use http::RegistryAuth;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::FlyResult;
use models::*;

/// The four manifest media types sent in `Accept` on every manifest request, so that OCI images and
/// indexes resolve and Docker v2 manifests are never down-converted to schema 1 (another digest).
pub use mgmt_domain::media_type::MANIFEST_ACCEPT;

/// Operations on one registry (host and credentials are the implementation's configuration).
#[async_trait]
pub trait Registry: Send + Sync {
    /// Resolves a tag (or digest) to its digest and media type with a HEAD (GET when the digest header is
    /// missing: the digest is then computed from the body). `Ok(None)` only for a real 404; a 401 is an error.
    async fn resolve(&self, repository: &str, reference: &str) -> FlyResult<Option<ManifestRef>>;
    async fn get_manifest(&self, repository: &str, reference: &str) -> FlyResult<Option<Manifest>>;
    /// Puts a manifest under a tag or digest; returns its digest.
    async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> FlyResult<String>;
    async fn blob_exists(&self, repository: &str, digest: &str) -> FlyResult<bool>;
    /// Tags of the repository, or `Ok(None)` when the registry does not offer tag listing.
    async fn list_tags(&self, repository: &str) -> FlyResult<Option<Vec<String>>>;
    /// Removes `tag` without ever removing an image another tag still points at. Already gone is done.
    async fn delete_tag_safely(&self, repository: &str, tag: &str) -> FlyResult<TagDeletion>;

    /// The state of this client's circuit breaker, for metrics (`None` when it has none).
    fn circuit_state(&self) -> Option<crate::resilience::BreakerState> {
        None
    }
}
