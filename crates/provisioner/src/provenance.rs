//! Provenance of a deploy's image: everything the tenant's tag reaches upstream must be the tenant's own.
//!
//! The registry gateway records, per tenant, every blob it uploaded and every manifest it pushed. A
//! manifest the upstream reads differently from the gateway (duplicate or case-variant JSON keys) could
//! still let a tag reach another tenant's content, so before any machine is touched a deploy re-reads
//! the whole graph upstream, parses it with the strict [`parse_manifest`] (which refuses anything that
//! can be read two ways) and checks each digest against the gateway's records:
//!
//! - the top manifest, and each child of an index, must be a manifest the tenant pushed;
//! - every digest a manifest references (config, layers, children) must be readable by the tenant;
//! - an index's children must be image manifests (a nested index is refused), and at most
//!   [`MAX_MANIFESTS`] manifests are fetched for one deploy.
//!
//! Manifests are fetched by digest, so the body is the content the digest names (`mgmt_fly_client`'s
//! `get_manifest` checks that the body hashes to the digest asked for).

use std::collections::HashSet;

use mgmt_domain::{
    ManifestKind, ParsedManifest, RegistryPushRepository, RepoError, TenantId, parse_manifest,
};
use mgmt_fly_client::{FlyError, Registry};

use crate::error::ServiceError;
use crate::service::TenantService;

/// At most this many manifests (the top one and an index's children) are fetched for one deploy.
pub(crate) const MAX_MANIFESTS: usize = 64;

/// Why an image graph was not verified.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProvenanceError {
    /// `digest` is reached from the tenant's tag but is not the tenant's own.
    #[error("{context} {digest}, which this tenant did not push")]
    NotTenants { digest: String, context: String },
    /// The manifest `digest` cannot be read one way only, or is not a shape a deploy accepts.
    #[error("manifest {digest} cannot be verified: {reason}")]
    Unverifiable { digest: String, reason: String },
    /// The manifest is no longer in the registry (deleted since the tag was resolved).
    #[error("manifest {digest} is no longer in the registry")]
    Missing { digest: String },
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Registry(#[from] FlyError),
}

/// Verifies the image graph under `digest` (what the tenant's tag resolved to) against what the
/// gateway recorded for `tenant`. `Ok(())`: every manifest and blob it reaches is the tenant's own.
pub(crate) async fn verify_image_graph(
    registry: &dyn Registry,
    pushes: &dyn RegistryPushRepository,
    repository: &str,
    tenant: TenantId,
    digest: &str,
) -> Result<(), ProvenanceError> {
    let top = verify_manifest(
        registry,
        pushes,
        repository,
        tenant,
        digest,
        "the tag points at manifest".to_owned(),
    )
    .await?;
    if top.kind != ManifestKind::Index {
        return Ok(());
    }
    let mut seen = HashSet::new();
    let children: Vec<&String> = top
        .children
        .iter()
        .filter(|c| seen.insert(c.as_str()))
        .collect();
    // Bounded before anything is fetched: the index itself plus each child.
    if children.len() + 1 > MAX_MANIFESTS {
        return Err(ProvenanceError::Unverifiable {
            digest: digest.to_owned(),
            reason: format!(
                "the index lists {} manifests; at most {} are deployable",
                children.len(),
                MAX_MANIFESTS - 1
            ),
        });
    }
    for child in children {
        let parsed = verify_manifest(
            registry,
            pushes,
            repository,
            tenant,
            child,
            format!("index {digest} lists manifest"),
        )
        .await?;
        if parsed.kind != ManifestKind::Image {
            return Err(ProvenanceError::Unverifiable {
                digest: child.clone(),
                reason: format!(
                    "it is an index listed by the index {digest}; nested indexes are not deployable"
                ),
            });
        }
    }
    Ok(())
}

/// One manifest: pushed by the tenant, fetched by digest, parsed strictly, every reference readable.
/// `context` introduces the digest in the refusal when the manifest is not the tenant's.
async fn verify_manifest(
    registry: &dyn Registry,
    pushes: &dyn RegistryPushRepository,
    repository: &str,
    tenant: TenantId,
    digest: &str,
    context: String,
) -> Result<ParsedManifest, ProvenanceError> {
    if !pushes.tenant_pushed_manifest(tenant, digest).await? {
        return Err(ProvenanceError::NotTenants {
            digest: digest.to_owned(),
            context,
        });
    }
    let manifest = match registry.get_manifest(repository, digest).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            return Err(ProvenanceError::Missing {
                digest: digest.to_owned(),
            });
        }
        // The body did not hash to the digest, or could not be read: nothing about it can be trusted.
        Err(FlyError::Decode(reason)) => {
            return Err(ProvenanceError::Unverifiable {
                digest: digest.to_owned(),
                reason,
            });
        }
        Err(e) => return Err(e.into()),
    };
    let content_type = Some(manifest.media_type.as_str()).filter(|t| !t.is_empty());
    let parsed = parse_manifest(&manifest.body, content_type).map_err(|e| {
        ProvenanceError::Unverifiable {
            digest: digest.to_owned(),
            reason: e.to_string(),
        }
    })?;
    let unreadable = pushes
        .unreadable_digests(tenant, &parsed.references)
        .await?;
    if let Some(first) = unreadable.into_iter().next() {
        return Err(ProvenanceError::NotTenants {
            digest: first,
            context: format!("manifest {digest} references"),
        });
    }
    Ok(parsed)
}

impl TenantService {
    /// [`verify_image_graph`] for a deploy of `tenant`, its refusals turned into customer-facing errors:
    /// content that is not the tenant's (or cannot be verified) is a `Conflict` and a security event;
    /// the registry or the database being down stays `Unavailable`.
    pub(crate) async fn verify_provenance(
        &self,
        tenant: TenantId,
        repository: &str,
        digest: &str,
    ) -> Result<(), ServiceError> {
        let result = verify_image_graph(
            self.registry.as_ref(),
            self.repos.registry_pushes.as_ref(),
            repository,
            tenant,
            digest,
        )
        .await;
        let Err(e) = result else {
            return Ok(());
        };
        const AGAIN: &str = "push the image again with this tenant's registry credentials";
        match e {
            ProvenanceError::NotTenants {
                digest: ref foreign,
                ..
            } => {
                tracing::warn!(
                    security_event = true,
                    tenant_id = %tenant,
                    digest = %foreign,
                    image = %digest,
                    "deploy refused: image graph references content the tenant did not push"
                );
                Err(ServiceError::Conflict(format!(
                    "deploy refused: {e}; {AGAIN}"
                )))
            }
            ProvenanceError::Unverifiable {
                digest: ref manifest,
                ref reason,
            } => {
                tracing::warn!(
                    security_event = true,
                    tenant_id = %tenant,
                    digest = %manifest,
                    image = %digest,
                    %reason,
                    "deploy refused: image graph cannot be verified as the tenant's"
                );
                Err(ServiceError::Conflict(format!(
                    "deploy refused: {e}; {AGAIN}"
                )))
            }
            ProvenanceError::Missing { .. } => {
                Err(ServiceError::ImageNotFound(format!("{e}; push it again")))
            }
            ProvenanceError::Repo(e) => Err(e.into()),
            ProvenanceError::Registry(e) => Err(e.into()),
        }
    }
}
