//! Blob uploads: sessions owned by the tenant that opened them, canonical queries (no cross-repository
//! mount in any spelling), and the tenant's quotas enforced while the bytes stream.
//!
//! Each step forwards only the parameters distribution acts on for it, rebuilt by the gateway from a
//! Go-compatible parse ([`crate::query`]): `digest` when an upload starts (monolithic) or completes,
//! `_state` (distribution's signed session state) on every step of a session. Anything else, `mount`
//! and `from` included however they are encoded, is dropped: a mount would let a tenant copy a blob
//! it can name, and its 201-vs-202 answer would tell whether any tenant has that blob.

use std::time::Duration;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use mgmt_domain::{Digest, UploadSession};
use uuid::Uuid;

use crate::credentials::TenantScope;
use crate::error::{ErrorChain, RegistryError};
use crate::forward::{self, Forwarded, Outbound, Outgoing, PublicOrigin};
use crate::handlers::{content_length, unavailable};
use crate::query::{CanonicalQuery, canonical_query};
use crate::state::GatewayState;

/// Blob bodies go upstream as plain bytes whatever the client said (see [`Outbound::content_type`]).
const OCTET_STREAM: &str = "application/octet-stream";

/// How soon a client refused for too many open uploads may try again.
const UPLOADS_BUSY_RETRY: Duration = Duration::from_secs(5);

/// `POST /v2/<name>/blobs/uploads/`: opens a session (counted against the tenant's concurrent uploads)
/// or, with `digest`, uploads a whole blob in one request.
pub(crate) async fn start(
    req: &HttpRequest,
    payload: web::Payload,
    state: &GatewayState,
    scope: &TenantScope,
    origin: &PublicOrigin,
) -> Result<HttpResponse, RegistryError> {
    let query = read_query(req, &["digest"], scope)?;
    let path = req.uri().path();
    if let Some(digest) = query.get("digest") {
        let digest = canonical_digest(digest)?;
        let limit = allowance(state, scope, None, req).await?;
        let out = upload_outbound(query.with_path(path), payload, limit);
        return match forward::send(&state.upstream, &scope.repository, req, out).await? {
            Forwarded::OverLimit => Err(over_quota(state)),
            Forwarded::Answer { response, streamed } => {
                if response.status() == reqwest::StatusCode::CREATED {
                    finish(state, scope, None, &digest, streamed).await?;
                }
                Ok(forward::respond(
                    response,
                    false,
                    state.upstream.origin(),
                    origin,
                ))
            }
        };
    }
    let limits = &state.limits;
    let session = state
        .pushes
        .reserve_upload(
            scope.tenant,
            limits.max_concurrent_uploads,
            limits.upload_idle_timeout,
        )
        .await
        .map_err(|e| unavailable(scope, "upload sessions", &e))?
        .ok_or_else(|| {
            RegistryError::too_many_requests(
                format!(
                    "at most {} uploads may be open at once",
                    limits.max_concurrent_uploads
                ),
                UPLOADS_BUSY_RETRY,
            )
        })?;
    let out = upload_outbound(query.with_path(path), payload, 0);
    let answer = forward::send(&state.upstream, &scope.repository, req, out).await;
    let bound = match &answer {
        Ok(Forwarded::Answer { response, .. }) if response.status().is_success() => {
            upload_id(response)
        }
        _ => None,
    };
    match bound {
        Some(id) => state
            .pushes
            .bind_upload(session, &id)
            .await
            .map_err(|e| unavailable(scope, "upload sessions", &e))?,
        None => release(state, session).await,
    }
    match answer? {
        Forwarded::OverLimit => Err(RegistryError::blob_upload_invalid(
            "a body is accepted only with `digest` (a monolithic upload)",
        )),
        Forwarded::Answer { response, .. } => Ok(forward::respond(
            response,
            false,
            state.upstream.origin(),
            origin,
        )),
    }
}

/// `GET|PATCH|PUT /v2/<name>/blobs/uploads/<id>`: only on the tenant's own session; bytes are counted
/// and cut off at the tenant's allowance; a finished blob (201) is recorded as the tenant's.
pub(crate) async fn step(
    req: &HttpRequest,
    payload: web::Payload,
    state: &GatewayState,
    scope: &TenantScope,
    id: &str,
    origin: &PublicOrigin,
) -> Result<HttpResponse, RegistryError> {
    let session = state
        .pushes
        .upload_session(id)
        .await
        .map_err(|e| unavailable(scope, "upload sessions", &e))?
        .filter(|s| s.tenant_id == scope.tenant)
        .ok_or_else(|| {
            tracing::warn!(tenant = %scope.tenant, upload = %id, "upload session is not this tenant's");
            RegistryError::blob_upload_unknown()
        })?;
    let put = *req.method() == Method::PUT;
    let allowed: &[&str] = if put {
        &["_state", "digest"]
    } else {
        &["_state"]
    };
    let query = read_query(req, allowed, scope)?;
    let target = query.with_path(req.uri().path());
    let up = &state.upstream;
    if *req.method() == Method::GET {
        let res = forward::send_answer(up, &scope.repository, req, Outbound::empty(target)).await?;
        return Ok(forward::respond(res, false, up.origin(), origin));
    }
    let digest = match query.get("digest") {
        Some(d) => Some(canonical_digest(d)?),
        None if put => return Err(RegistryError::digest_invalid("`digest` is required")),
        None => None,
    };
    let limit = match allowance(state, scope, Some(&session), req).await {
        Ok(limit) => limit,
        Err(e) => {
            cancel(state, scope, &session, &query, req).await;
            return Err(e);
        }
    };
    let out = upload_outbound(target, payload, limit);
    match forward::send(up, &scope.repository, req, out).await? {
        Forwarded::OverLimit => {
            cancel(state, scope, &session, &query, req).await;
            Err(over_quota(state))
        }
        Forwarded::Answer { response, streamed } => {
            match (response.status(), digest) {
                (reqwest::StatusCode::CREATED, Some(digest)) => {
                    finish(
                        state,
                        scope,
                        Some(session.id),
                        &digest,
                        session.bytes + streamed,
                    )
                    .await?
                }
                (s, _) if s.is_success() => state
                    .pushes
                    .add_upload_bytes(session.id, streamed)
                    .await
                    .map_err(|e| unavailable(scope, "upload sessions", &e))?,
                _ => {}
            }
            Ok(forward::respond(response, false, up.origin(), origin))
        }
    }
}

/// The query of an upload request reduced to `allowed`, logged when something was dropped.
fn read_query(
    req: &HttpRequest,
    allowed: &[&str],
    scope: &TenantScope,
) -> Result<CanonicalQuery, RegistryError> {
    let query = canonical_query(req.uri().query(), allowed).map_err(|e| {
        tracing::warn!(tenant = %scope.tenant, error = %e, "upload query refused");
        RegistryError::blob_upload_invalid(format!("query refused: {e}"))
    })?;
    if !query.dropped.is_empty() {
        tracing::info!(tenant = %scope.tenant, dropped = ?query.dropped, "upload parameters dropped");
    }
    Ok(query)
}

fn canonical_digest(raw: &str) -> Result<String, RegistryError> {
    Digest::parse(raw)
        .map(|d| d.to_string())
        .map_err(|_| RegistryError::digest_invalid("`digest` is not a valid digest"))
}

fn upload_outbound(path_and_query: String, payload: web::Payload, limit: u64) -> Outbound {
    Outbound {
        path_and_query,
        body: Outgoing::Stream(payload),
        content_type: Some(OCTET_STREAM),
        limit: Some(limit),
        timeout: None,
    }
}

/// Bytes this request may still add: the largest blob less what the session holds, and the tenant's
/// quota less what it stores. A declared `Content-Length` over it is refused before anything is sent.
/// (Checked per request: uploads running in parallel may together pass the quota by what they stream
/// at once, at most `max_concurrent_uploads` requests' worth.)
async fn allowance(
    state: &GatewayState,
    scope: &TenantScope,
    session: Option<&UploadSession>,
    req: &HttpRequest,
) -> Result<u64, RegistryError> {
    let limits = &state.limits;
    let used = state
        .pushes
        .tenant_usage(
            scope.tenant,
            limits.quota_window,
            limits.upload_idle_timeout,
        )
        .await
        .map_err(|e| unavailable(scope, "storage usage", &e))?;
    let in_session = session.map_or(0, |s| s.bytes);
    let blob_left = limits.max_blob_bytes.saturating_sub(in_session);
    let quota_left = limits.max_tenant_bytes.saturating_sub(used);
    let left = blob_left.min(quota_left);
    if content_length(req).is_some_and(|n| n > left) {
        tracing::info!(tenant = %scope.tenant, used, "upload refused: over quota");
        return Err(over_quota(state));
    }
    Ok(left)
}

fn over_quota(state: &GatewayState) -> RegistryError {
    let l = &state.limits;
    RegistryError::denied(format!(
        "upload refused: a blob may have at most {} bytes and a tenant may store at most {} bytes",
        l.max_blob_bytes, l.max_tenant_bytes
    ))
}

async fn finish(
    state: &GatewayState,
    scope: &TenantScope,
    session: Option<Uuid>,
    digest: &str,
    size: u64,
) -> Result<(), RegistryError> {
    state
        .pushes
        .finish_upload(scope.tenant, session, digest, size)
        .await
        .map_err(|e| {
            tracing::error!(tenant = %scope.tenant, error = %e, "recording a blob upload failed");
            RegistryError::unavailable("could not record the upload; retry")
        })
}

async fn release(state: &GatewayState, session: Uuid) {
    if let Err(e) = state.pushes.release_upload(session).await {
        tracing::warn!(%session, error = %e, "could not release an upload reservation (it expires when idle)");
    }
}

/// Cancels the session upstream (so no partial upload stays behind) and forgets it.
async fn cancel(
    state: &GatewayState,
    scope: &TenantScope,
    session: &UploadSession,
    query: &CanonicalQuery,
    req: &HttpRequest,
) {
    let up = &state.upstream;
    let state_only = CanonicalQuery {
        values: query
            .values
            .iter()
            .filter(|(k, _)| k == "_state")
            .cloned()
            .collect(),
        dropped: Vec::new(),
    };
    let url = up.url(&state_only.with_path(req.uri().path()));
    let sent = match up.authorization(&scope.repository).await {
        Ok(auth) => up
            .client()
            .delete(url)
            .header("authorization", auth)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| ErrorChain(&e).to_string()),
        Err(e) => Err(e.to_string()),
    };
    tracing::info!(tenant = %scope.tenant, upload = ?session.upload_id, outcome = ?sent, "upload cancelled upstream");
    release(state, session.id).await;
}

/// The upstream's id of a new upload: `Docker-Upload-UUID`, else the last segment of `Location`.
fn upload_id(res: &reqwest::Response) -> Option<String> {
    let header = |name: &str| res.headers().get(name)?.to_str().ok().map(str::to_owned);
    header("docker-upload-uuid").or_else(|| {
        let location = header("location")?;
        let path = location.split('?').next()?;
        let (_, id) = path.rsplit_once("/blobs/uploads/")?;
        (!id.is_empty()).then(|| id.to_owned())
    })
}
