//! Manifest pushes: read whole (bounded per request and per process), parsed by the domain's strict
//! reader so the gateway sees exactly what the upstream will, checked against what the tenant may
//! reference, forwarded with the media type that was parsed, and recorded.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures::StreamExt;
use mgmt_domain::{NewRegistryPush, parse_manifest};
use sha2::{Digest as _, Sha256};
use tokio::sync::OwnedSemaphorePermit;

use crate::credentials::TenantScope;
use crate::error::RegistryError;
use crate::forward::{self, Outbound, Outgoing, PublicOrigin};
use crate::handlers::{content_length, unavailable};
use crate::route::{Reference, Route};
use crate::state::GatewayState;

/// How long the upstream may take to answer a manifest push. The in-flight record that holds tag
/// cleanup back is trusted for longer than this (see the provisioner's cleanup).
const MANIFEST_PUSH_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) async fn push_manifest(
    req: &HttpRequest,
    payload: web::Payload,
    state: &GatewayState,
    scope: &TenantScope,
    route: &Route,
    origin: &PublicOrigin,
) -> Result<HttpResponse, RegistryError> {
    let Route::Manifest { reference, .. } = route else {
        return Err(RegistryError::not_found());
    };
    let (body, _permit) = read_bounded(req, payload, state).await?;
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    let parsed = parse_manifest(&body, content_type).map_err(|e| {
        tracing::warn!(tenant = %scope.tenant, error = %e, "manifest refused");
        RegistryError::manifest_invalid(e.to_string())
    })?;
    let computed = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
    if let Reference::Digest(d) = reference
        && *d != computed
    {
        return Err(RegistryError::digest_invalid(format!(
            "manifest content has digest {computed}, not {d}"
        )));
    }
    let unreadable = state
        .pushes
        .unreadable_digests(scope.tenant, &parsed.references)
        .await
        .map_err(|e| unavailable(scope, "push records", &e))?;
    if let Some(digest) = unreadable.first() {
        tracing::warn!(security_event = true, tenant = %scope.tenant, %digest, "manifest names content the tenant did not upload");
        return Err(RegistryError::manifest_blob_unknown(digest));
    }
    // Written atomically with the check that the tenant may push: a deletion cannot slip between the
    // check and the upstream write, and tag cleanup waits for this record to go.
    let in_flight = state
        .pushes
        .begin_manifest_push(scope.tenant)
        .await
        .map_err(|e| unavailable(scope, "push records", &e))?
        .ok_or_else(|| RegistryError::denied("this tenant may no longer push"))?;
    let up = &state.upstream;
    let sent = forward::send_answer(
        up,
        &scope.repository,
        req,
        Outbound {
            body: Outgoing::Bytes(body.clone()),
            content_type: Some(parsed.media_type),
            timeout: Some(MANIFEST_PUSH_TIMEOUT),
            ..Outbound::empty(req.uri().path())
        },
    )
    .await;
    let recorded = match &sent {
        Ok(res) if res.status() == reqwest::StatusCode::CREATED => {
            let push = NewRegistryPush {
                tenant_id: scope.tenant,
                reference: match reference {
                    Reference::Tag(t) | Reference::Digest(t) => t.clone(),
                },
                digest: computed.clone(),
                media_type: Some(parsed.media_type.to_owned()),
                referenced_digests: parsed.references,
            };
            state.pushes.record_manifest_push(push).await.map(|_| ())
        }
        _ => Ok(()),
    };
    if let Err(e) = state.pushes.end_manifest_push(in_flight).await {
        // The record expires on its own; cleanup only waits for it a while longer.
        tracing::warn!(tenant = %scope.tenant, error = %e, "could not close the in-flight manifest push record");
    }
    let res = sent?;
    recorded.map_err(|e| {
        tracing::error!(tenant = %scope.tenant, error = %e, "recording a manifest push failed");
        RegistryError::unavailable("could not record the push; push again")
    })?;
    if res.status() == reqwest::StatusCode::CREATED {
        tracing::info!(tenant = %scope.tenant, digest = %computed, "manifest pushed");
    }
    Ok(forward::respond(res, false, up.origin(), origin))
}

/// Reads a manifest body whole: at most `max_manifest_bytes`, holding one permit per byte of the
/// process-wide manifest buffer until the request is done (a flood of large manifests is refused with
/// 429, never buffered without bound).
async fn read_bounded(
    req: &HttpRequest,
    mut payload: web::Payload,
    state: &GatewayState,
) -> Result<(bytes::Bytes, Option<OwnedSemaphorePermit>), RegistryError> {
    let max = state.limits.max_manifest_bytes;
    let too_large = || RegistryError::denied(format!("manifest is larger than {max} bytes"));
    if content_length(req).is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let busy = || {
        RegistryError::too_many_requests(
            "too many manifests are being pushed right now",
            Duration::from_secs(1),
        )
    };
    let mut permit: Option<OwnedSemaphorePermit> = None;
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|_| RegistryError::manifest_invalid("manifest upload was interrupted"))?;
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        let more = u32::try_from(chunk.len()).map_err(|_| too_large())?;
        let got = state
            .manifest_buffer
            .clone()
            .try_acquire_many_owned(more)
            .map_err(|_| busy())?;
        match &mut permit {
            Some(p) => p.merge(got),
            None => permit = Some(got),
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body.freeze(), permit))
}
