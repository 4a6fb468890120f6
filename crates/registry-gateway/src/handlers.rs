//! Request handlers: authenticate, decide, then answer locally or forward to the upstream.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use chrono::Utc;
use futures::StreamExt;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use tenant_domain::NewRegistryPush;

use crate::auth::{authenticate, challenge};
use crate::credentials::TenantScope;
use crate::error::RegistryError;
use crate::forward::{self, Outgoing, PublicOrigin};
use crate::manifest;
use crate::policy::{Decision, decide};
use crate::route::{self, Reference, Route};
use crate::state::{GatewayState, MAX_MANIFEST_BYTES};

/// The four manifest media types, so a tag pushed as any of them resolves (and is never converted).
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

fn public_origin(req: &HttpRequest, state: &GatewayState) -> PublicOrigin {
    let scheme = state.public_scheme.clone().unwrap_or_else(|| req.connection_info().scheme().to_owned());
    PublicOrigin { scheme, host: state.issuer.public_host().to_owned() }
}

/// Authenticates the caller and checks that its tenant still exists.
async fn caller(req: &HttpRequest, state: &GatewayState, scope_hint: Option<&str>) -> Result<TenantScope, RegistryError> {
    let origin = public_origin(req, state);
    let challenge = challenge(&origin.scheme, &origin.host, scope_hint);
    let scope = authenticate(req, &state.issuer, challenge.clone())?;
    if !state.gate.allows(scope.tenant).await? {
        return Err(RegistryError::unauthorized("this tenant no longer exists", challenge));
    }
    Ok(scope)
}

/// `GET /v2/token`: the Bearer flow. The client authenticates with its credential (Basic) and gets the
/// same credential back as its token, so there is one thing to verify and one expiry.
pub async fn token(req: HttpRequest, state: web::Data<GatewayState>) -> HttpResponse {
    let scope = match caller(&req, &state, None).await {
        Ok(scope) => scope,
        Err(mut e) => {
            // The token endpoint itself takes Basic credentials.
            e.challenge = Some(r#"Basic realm="registry-gateway""#.to_owned());
            tracing::info!(status = e.status.as_u16(), "registry token refused");
            return e.to_response();
        }
    };
    let token = crate::auth::presented_token(&req).unwrap_or_default();
    let expires_in = (scope.expires_at - Utc::now()).num_seconds().max(0);
    tracing::info!(tenant = %scope.tenant, "registry token issued");
    HttpResponse::Ok().json(json!({
        "token": token, "access_token": token, "expires_in": expires_in, "issued_at": Utc::now().to_rfc3339(),
    }))
}

/// Every `/v2/...` request.
pub async fn dispatch(req: HttpRequest, payload: web::Payload, state: web::Data<GatewayState>) -> HttpResponse {
    let Some(route) = route::parse(req.uri().path()) else {
        return RegistryError::not_found().to_response();
    };
    let hint = route.name().map(|n| format!("repository:{n}:pull,push"));
    let scope = match caller(&req, &state, hint.as_deref()).await {
        Ok(scope) => scope,
        Err(e) => {
            tracing::info!(method = %req.method(), route = route.kind(), status = e.status.as_u16(), "registry request unauthenticated");
            return e.to_response();
        }
    };
    let decision = decide(&scope, req.method(), &route);
    let res = match handle(&req, payload, &state, &scope, &route, decision).await {
        Ok(res) => res,
        Err(e) => e.to_response(),
    };
    tracing::info!(tenant = %scope.tenant, method = %req.method(), route = route.kind(), status = res.status().as_u16(), "registry request");
    res
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &GatewayState,
    scope: &TenantScope,
    route: &Route,
    decision: Decision,
) -> Result<HttpResponse, RegistryError> {
    let head = *req.method() == Method::HEAD;
    let origin = public_origin(req, state);
    let path = req.uri().path();
    let up = &state.upstream;
    match decision {
        Decision::Refuse(e) => Err(e),
        Decision::Base => {
            Ok(HttpResponse::Ok().insert_header(("Docker-Distribution-API-Version", "registry/2.0")).json(json!({})))
        }
        Decision::OwnTags => own_tags(state, scope).await,
        Decision::Forward => {
            let res = forward::send(up, &scope.repository, req, path, Outgoing::Empty).await?;
            Ok(forward::respond(res, head, up.origin(), &origin))
        }
        Decision::ForwardIfReadable { digest, not_found } => {
            if !readable(state, scope, &digest).await? {
                return Err(not_found);
            }
            let res = forward::send(up, &scope.repository, req, path, Outgoing::Empty).await?;
            Ok(forward::respond(res, head, up.origin(), &origin))
        }
        Decision::PushManifest => push_manifest(req, payload, state, scope, route, &origin).await,
        Decision::Upload => {
            let path_and_query = upload_target(path, req.uri().query());
            let digest_param = query_param(req.uri().query(), "digest");
            let res = forward::send(up, &scope.repository, req, &path_and_query, Outgoing::Stream(payload)).await?;
            if res.status() == reqwest::StatusCode::CREATED {
                let digest = header(&res, "docker-content-digest").or(digest_param);
                if let Some(digest) = digest {
                    state.pushes.record_blob_upload(scope.tenant, &digest).await.map_err(|e| {
                        tracing::error!(tenant = %scope.tenant, error = %e, "recording a blob upload failed");
                        RegistryError::unavailable("could not record the upload; retry")
                    })?;
                }
            }
            Ok(forward::respond(res, head, up.origin(), &origin))
        }
    }
}

async fn readable(state: &GatewayState, scope: &TenantScope, digest: &str) -> Result<bool, RegistryError> {
    state.pushes.tenant_may_read(scope.tenant, digest).await.map_err(|e| {
        tracing::warn!(tenant = %scope.tenant, error = %e, "push records unavailable");
        RegistryError::unavailable("push records unavailable; retry later")
    })
}

/// `tags/list` answers at most the tenant's own tag, and only when the upstream holds it: the listing
/// of a shared repository would reveal every other tenant.
async fn own_tags(state: &GatewayState, scope: &TenantScope) -> Result<HttpResponse, RegistryError> {
    let up = &state.upstream;
    let url = up.url(&format!("/v2/{}/manifests/{}", scope.repository, scope.tag));
    let auth = up.authorization(&scope.repository).await?;
    let res = up.client().head(url).header("accept", MANIFEST_ACCEPT).header("authorization", auth).send().await;
    let res = res.map_err(|e| crate::upstream::upstream_error("tags", &e))?;
    let tags: Vec<&str> = match res.status().as_u16() {
        200 => vec![scope.tag.as_str()],
        404 => vec![],
        other => {
            tracing::warn!(status = other, "upstream answered a tag lookup unexpectedly");
            return Err(RegistryError::upstream("upstream registry could not resolve the tag"));
        }
    };
    Ok(HttpResponse::Ok().json(json!({"name": scope.repository, "tags": tags})))
}

async fn push_manifest(
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
        let chunk = chunk.map_err(|_| RegistryError::manifest_invalid("manifest upload was interrupted"))?;
        if body.len() + chunk.len() > MAX_MANIFEST_BYTES {
            return Err(RegistryError::size_invalid("manifest is larger than 4 MiB"));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok());
    let parsed = manifest::parse(&body, content_type)?;
    for digest in &parsed.references {
        if !readable(state, scope, digest).await? {
            return Err(RegistryError::manifest_blob_unknown(digest));
        }
    }
    let up = &state.upstream;
    let res = forward::send(up, &scope.repository, req, req.uri().path(), Outgoing::Bytes(body.clone())).await?;
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
    url::form_urlencoded::parse(query?.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
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
    if kept.is_empty() { path.to_owned() } else { format!("{path}?{}", kept.join("&")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_parameters_are_dropped_and_signed_state_is_kept() {
        let p = "/v2/shared/blobs/uploads/";
        assert_eq!(upload_target(p, Some("mount=sha256:1&from=other")), p);
        assert_eq!(upload_target(p, Some("mount=sha256:1&from=other&digest=sha256:2")), format!("{p}?digest=sha256:2"));
        assert_eq!(upload_target(p, Some("_state=a%2Bb&digest=sha256:2")), format!("{p}?_state=a%2Bb&digest=sha256:2"));
        assert_eq!(upload_target(p, None), p);
        assert_eq!(query_param(Some("_state=x&digest=sha256%3Aab"), "digest").as_deref(), Some("sha256:ab"));
    }
}
