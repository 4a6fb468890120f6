//! `HEAD`/`GET /v2/<name>/blobs/<digest>`: streamed from the blob's file, never read whole.

use actix_web::body::SizedStream;
use actix_web::{HttpResponse, web};
use serde_json::json;
use tokio_util::io::ReaderStream;

use super::store::valid_digest;
use crate::ctx::Shared;
use crate::errors;

pub(crate) async fn get(ctx: &web::Data<Shared>, name: &str, digest: &str) -> HttpResponse {
    if !valid_digest(digest) {
        return errors::registry(
            400,
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
            json!({ "digest": digest }),
        );
    }
    let blob = ctx.world().registry.linked_blob(name, digest);
    let Some(blob) = blob else {
        return errors::registry(
            404,
            "BLOB_UNKNOWN",
            "blob unknown to registry",
            json!(digest),
        );
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
