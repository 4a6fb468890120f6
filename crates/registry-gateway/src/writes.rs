//! Writes: manifest pushes (checked against what the tenant may reference, then recorded) and blob
//! upload steps (mount parameters dropped, finished blobs recorded).

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures::StreamExt;
use sha2::{Digest as _, Sha256};
use tenant_domain::NewRegistryPush;

use crate::credentials::TenantScope;
use crate::error::RegistryError;
use crate::forward::{self, Outgoing, PublicOrigin};
use crate::handlers::readable;
use crate::manifest;
use crate::route::{Reference, Route};
use crate::state::{GatewayState, MAX_MANIFEST_BYTES};

/// Forwards an upload step, streaming the body; a finished blob (201) is recorded as the tenant's.
pub(crate) async fn upload(
    req: &HttpRequest,
    payload: web::Payload,
    state: &GatewayState,
    scope: &TenantScope,
    origin: &PublicOrigin,
) -> Result<HttpResponse, RegistryError> {
    let up = &state.upstream;
    let path = req.uri().path();
    let path_and_query = upload_target(path, req.uri().query());
    let digest_param = query_param(req.uri().query(), "digest");
    let res = forward::send(
        up,
        &scope.repository,
        req,
        &path_and_query,
        Outgoing::Stream(payload),
    )
    .await?;
    if res.status() == reqwest::StatusCode::CREATED {
        let digest = header(&res, "docker-content-digest").or(digest_param);
        if let Some(digest) = digest {
            state.pushes.record_blob_upload(scope.tenant, &digest).await.map_err(|e| {
                tracing::error!(tenant = %scope.tenant, error = %e, "recording a blob upload failed");
                RegistryError::unavailable("could not record the upload; retry")
            })?;
        }
    }
    Ok(forward::respond(res, false, up.origin(), origin))
}

pub(crate) async fn push_manifest(
    req: &HttpRequest,
    mut payload: web::Payload,
    state: &GatewayState,
    scope: &TenantScope,
    route: &Route,
    origin: &PublicOrigin,
) -> Result<HttpResponse, RegistryError> {
    let Route::Manifest { reference, .. } = route else {
        return Err(RegistryError::not_found());
    };
    // Manifests are small and must be read whole to learn what they reference.
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|_| RegistryError::manifest_invalid("manifest upload was interrupted"))?;
        if body.len() + chunk.len() > MAX_MANIFEST_BYTES {
            return Err(RegistryError::size_invalid("manifest is larger than 4 MiB"));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    let parsed = manifest::parse(&body, content_type)?;
    for digest in &parsed.references {
        if !readable(state, scope, digest).await? {
            return Err(RegistryError::manifest_blob_unknown(digest));
        }
    }
    let up = &state.upstream;
    let res = forward::send(
        up,
        &scope.repository,
        req,
        req.uri().path(),
        Outgoing::Bytes(body.clone()),
    )
    .await?;
    if res.status() == reqwest::StatusCode::CREATED {
        let digest = header(&res, "docker-content-digest")
            .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(&body))));
        let reference = match reference {
            Reference::Tag(t) | Reference::Digest(t) => t.clone(),
        };
        let push = NewRegistryPush {
            tenant_id: scope.tenant,
            reference,
            digest: digest.clone(),
            media_type: parsed.media_type,
            referenced_digests: parsed.references,
        };
        state.pushes.record_manifest_push(push).await.map_err(|e| {
            tracing::error!(tenant = %scope.tenant, error = %e, "recording a manifest push failed");
            RegistryError::unavailable("could not record the push; push again")
        })?;
        tracing::info!(tenant = %scope.tenant, %digest, "manifest pushed");
    }
    Ok(forward::respond(res, false, up.origin(), origin))
}

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers().get(name)?.to_str().ok().map(str::to_owned)
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The upstream path and query of an upload step. Cross-repository mount parameters are dropped, which
/// turns a mount into a plain upload (the client then sends the blob): a mount would let a tenant copy
/// any blob of another repository it can name.
fn upload_target(path: &str, query: Option<&str>) -> String {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return path.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            key != "mount" && key != "from"
        })
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_parameters_are_dropped_and_signed_state_is_kept() {
        let p = "/v2/shared/blobs/uploads/";
        assert_eq!(upload_target(p, Some("mount=sha256:1&from=other")), p);
        assert_eq!(
            upload_target(p, Some("mount=sha256:1&from=other&digest=sha256:2")),
            format!("{p}?digest=sha256:2")
        );
        assert_eq!(
            upload_target(p, Some("_state=a%2Bb&digest=sha256:2")),
            format!("{p}?_state=a%2Bb&digest=sha256:2")
        );
        assert_eq!(upload_target(p, None), p);
        assert_eq!(
            query_param(Some("_state=x&digest=sha256%3Aab"), "digest").as_deref(),
            Some("sha256:ab")
        );
    }
}
