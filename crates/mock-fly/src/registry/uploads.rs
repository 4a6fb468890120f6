//! Blob uploads like distribution: monolithic (`POST ?digest=`), session-based (`POST` then `PUT`),
//! chunked `PATCH` with `Content-Range`, Docker's single streamed `PATCH`, and cross-repo mounts.
//! Bytes go straight to a file while their sha256 is computed on the way.

use std::path::Path;

use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::session::{new_upload, restore, session_id, state_token, take};
use super::store::{BlobInfo, Upload, blob_path, valid_digest};
use super::{Query, base_url, query_get};
use crate::ctx::Shared;
use crate::errors;

/// Headers every upload-progress answer carries.
fn progress(
    mut b: actix_web::HttpResponseBuilder,
    req: &HttpRequest,
    name: &str,
    id: &str,
    offset: u64,
) -> HttpResponse {
    b.insert_header((
        "Location",
        format!(
            "{}/v2/{name}/blobs/uploads/{id}?_state={}",
            base_url(req),
            state_token(name, id, offset)
        ),
    ))
    .insert_header(("Range", format!("0-{}", offset.saturating_sub(1))))
    .insert_header(("Docker-Upload-UUID", id))
    .finish()
}

fn created(req: &HttpRequest, name: &str, digest: &str) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((
            "Location",
            format!("{}/v2/{name}/blobs/{digest}", base_url(req)),
        ))
        .insert_header(("Docker-Content-Digest", digest))
        .finish()
}

/// Append the whole request body to `path`, updating `hasher`; returns the bytes written.
async fn append(
    path: &Path,
    hasher: &mut Sha256,
    payload: &mut web::Payload,
) -> std::io::Result<u64> {
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await?;
    let mut written = 0u64;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(std::io::Error::other)?;
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
        written += chunk.len() as u64;
    }
    file.flush().await?;
    Ok(written)
}

/// Verify the digest, move the bytes into the blob store and link the blob into the repository.
async fn finish(
    ctx: &Shared,
    req: &HttpRequest,
    name: &str,
    up: Upload,
    digest: &str,
) -> HttpResponse {
    let actual = format!("sha256:{}", hex::encode(up.hasher.finalize()));
    if actual != digest {
        let _ = tokio::fs::remove_file(&up.path).await;
        return errors::registry(
            400,
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
            json!({ "expected": digest, "actual": actual }),
        );
    }
    let target = blob_path(ctx.dir.path(), digest);
    if let Err(e) = tokio::fs::rename(&up.path, &target).await {
        return errors::registry(500, "UNKNOWN", &format!("storing blob: {e}"), json!(null));
    }
    let mut world = ctx.world();
    world.registry.blobs.insert(
        digest.to_owned(),
        BlobInfo {
            size: up.offset,
            path: target,
        },
    );
    world
        .registry
        .repos
        .entry(name.to_owned())
        .or_default()
        .blobs
        .insert(digest.to_owned());
    drop(world);
    created(req, name, digest)
}

pub(crate) async fn start(
    ctx: &web::Data<Shared>,
    req: &HttpRequest,
    name: &str,
    q: &Query,
    mut payload: web::Payload,
) -> HttpResponse {
    if let (Some(digest), Some(from)) = (query_get(q, "mount"), query_get(q, "from")) {
        let mut world = ctx.world();
        if world.registry.linked_blob(from, digest).is_some() {
            world
                .registry
                .repos
                .entry(name.to_owned())
                .or_default()
                .blobs
                .insert(digest.to_owned());
            drop(world);
            return created(req, name, digest);
        }
    }
    let digest = query_get(q, "digest").filter(|_| ctx.config.monolithic_post_upload);
    let Some(digest) = digest else {
        let up = new_upload(ctx, name, true);
        return progress(HttpResponse::Accepted(), req, name, &session_id(&up), 0);
    };
    let mut up = new_upload(ctx, name, false);
    if !valid_digest(digest) {
        return errors::registry(
            400,
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
            json!(digest),
        );
    }
    match append(&up.path, &mut up.hasher, &mut payload).await {
        Ok(n) => up.offset = n,
        Err(e) => {
            let _ = tokio::fs::remove_file(&up.path).await;
            return errors::registry(
                400,
                "BLOB_UPLOAD_INVALID",
                &format!("reading body: {e}"),
                json!(null),
            );
        }
    }
    finish(ctx, req, name, up, digest).await
}

/// `Content-Range: <start>-<end>` must start where the upload stands (else 416, as the OCI spec
/// says; distribution 2.8 ignores the header); without it the body is appended (Docker streams a
/// whole layer this way, without `Content-Length`).
pub(crate) async fn patch(
    ctx: &web::Data<Shared>,
    req: &HttpRequest,
    name: &str,
    id: &str,
    q: &Query,
    mut payload: web::Payload,
) -> HttpResponse {
    let mut up = match take(ctx, name, id, q) {
        Ok(up) => up,
        Err(resp) => return resp,
    };
    // distribution answers a body it cannot take as raw bytes with 500 UNKNOWN ("bad Content-Type").
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.is_empty() && ct != "application/octet-stream" {
        restore(ctx, id, up);
        return errors::registry(500, "UNKNOWN", "bad Content-Type", json!(ct));
    }
    let range = req
        .headers()
        .get("content-range")
        .and_then(|v| v.to_str().ok());
    if let Some(range) = range {
        let start = range.trim_start_matches("bytes=").split('-').next();
        if start.and_then(|s| s.trim().parse::<u64>().ok()) != Some(up.offset) {
            let offset = up.offset;
            restore(ctx, id, up);
            return progress(HttpResponse::RangeNotSatisfiable(), req, name, id, offset);
        }
    }
    let before = (up.offset, up.hasher.clone());
    match append(&up.path, &mut up.hasher, &mut payload).await {
        Ok(n) => up.offset += n,
        Err(e) => {
            // Roll the file back so the session stays usable for a retry from the old offset.
            if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&up.path) {
                let _ = f.set_len(before.0);
            }
            (up.offset, up.hasher) = before;
            restore(ctx, id, up);
            let msg = format!("reading body: {e}");
            return errors::registry(400, "BLOB_UPLOAD_INVALID", &msg, json!(null));
        }
    }
    let offset = up.offset;
    restore(ctx, id, up);
    progress(HttpResponse::Accepted(), req, name, id, offset)
}

pub(crate) async fn put(
    ctx: &web::Data<Shared>,
    req: &HttpRequest,
    name: &str,
    id: &str,
    q: &Query,
    mut payload: web::Payload,
) -> HttpResponse {
    let mut up = match take(ctx, name, id, q) {
        Ok(up) => up,
        Err(resp) => return resp,
    };
    let Some(digest) = query_get(q, "digest").filter(|d| valid_digest(d)) else {
        restore(ctx, id, up);
        let detail = json!(query_get(q, "digest"));
        return errors::registry(
            400,
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
            detail,
        );
    };
    match append(&up.path, &mut up.hasher, &mut payload).await {
        Ok(n) => up.offset += n,
        Err(e) => {
            let _ = tokio::fs::remove_file(&up.path).await;
            let msg = format!("reading body: {e}");
            return errors::registry(400, "BLOB_UPLOAD_INVALID", &msg, json!(null));
        }
    }
    finish(ctx, req, name, up, digest).await
}

pub(crate) fn status(
    ctx: &Shared,
    req: &HttpRequest,
    name: &str,
    id: &str,
    q: &Query,
) -> HttpResponse {
    match take(ctx, name, id, q) {
        Ok(up) => {
            let offset = up.offset;
            restore(ctx, id, up);
            progress(HttpResponse::NoContent(), req, name, id, offset)
        }
        Err(resp) => resp,
    }
}

pub(crate) fn cancel(ctx: &Shared, name: &str, id: &str, q: &Query) -> HttpResponse {
    match take(ctx, name, id, q) {
        Ok(up) => {
            let _ = std::fs::remove_file(&up.path);
            HttpResponse::NoContent().finish()
        }
        Err(resp) => resp,
    }
}
