//! `HEAD`/`GET /v2/<name>/blobs/<digest>`: streamed from the blob's file, never read whole;
//! `DELETE` unlinks the blob from the repository as distribution does (its bytes wait for a GC).

use actix_web::body::SizedStream;
use actix_web::{HttpResponse, web};
use serde_json::json;
use tokio_util::io::ReaderStream;

use super::manifests::deletion_disabled;
use super::store::valid_digest;
use crate::config::TagDeleteSupport;
use crate::ctx::Shared;
use crate::errors;

fn invalid(digest: &str) -> HttpResponse {
    errors::registry(
        400,
        "DIGEST_INVALID",
        "provided digest did not match uploaded content",
        json!({ "digest": digest }),
    )
}

fn unknown(digest: &str) -> HttpResponse {
    errors::registry(
        404,
        "BLOB_UNKNOWN",
        "blob unknown to registry",
        json!(digest),
    )
}

pub(crate) async fn get(ctx: &web::Data<Shared>, name: &str, digest: &str) -> HttpResponse {
    if !valid_digest(digest) {
        return invalid(digest);
    }
    let blob = ctx.world().registry.linked_blob(name, digest);
    let Some(blob) = blob else {
        return unknown(digest);
    };
    let file = match tokio::fs::File::open(&blob.path).await {
        Ok(f) => f,
        Err(e) => {
            return errors::registry(
                500,
                "UNKNOWN",
                &format!("blob file unreadable: {e}"),
                json!(digest),
            );
        }
    };
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(("Docker-Content-Digest", digest))
        .insert_header(("Accept-Ranges", "bytes"))
        .insert_header(("ETag", format!("\"{digest}\"")))
        .body(SizedStream::new(blob.size, ReaderStream::new(file)))
}

/// `DELETE /v2/<name>/blobs/<digest>`: 202 and the repository no longer links the blob; 405 when
/// deletion is disabled.
pub(crate) fn delete(ctx: &Shared, name: &str, digest: &str) -> HttpResponse {
    if ctx.config.tag_delete == TagDeleteSupport::MethodNotAllowed405 {
        return deletion_disabled();
    }
    if !valid_digest(digest) {
        return invalid(digest);
    }
    let mut world = ctx.world();
    let unlinked = world
        .registry
        .repos
        .get_mut(name)
        .is_some_and(|r| r.blobs.remove(digest));
    if unlinked {
        HttpResponse::Accepted().finish()
    } else {
        unknown(digest)
    }
}
