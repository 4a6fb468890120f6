//! Upload sessions and their `_state` token. Like distribution, every `Location` of an upload in
//! progress carries `?_state=` naming the repository, session and offset; a request with a missing
//! or stale state is refused with 404 `BLOB_UPLOAD_INVALID`, so a client (or a proxy) must follow
//! the latest `Location` with its query intact.

use actix_web::HttpResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::store::Upload;
use super::{Query, query_get};
use crate::ctx::Shared;
use crate::errors;

pub(crate) fn state_token(name: &str, id: &str, offset: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{name}\n{id}\n{offset}"))
}

fn decode(token: &str) -> Option<(String, String, u64)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let mut parts = raw.split('\n');
    let (name, id, offset) = (parts.next()?, parts.next()?, parts.next()?.parse().ok()?);
    Some((name.to_owned(), id.to_owned(), offset))
}

fn invalid(detail: &str) -> HttpResponse {
    errors::registry(
        404,
        "BLOB_UPLOAD_INVALID",
        "blob upload invalid",
        json!(detail),
    )
}

/// A fresh upload; `register` makes it a session later requests can continue.
pub(crate) fn new_upload(ctx: &Shared, name: &str, register: bool) -> Upload {
    let id = uuid::Uuid::new_v4().to_string();
    let path = ctx.dir.path().join("uploads").join(&id);
    let up = Upload {
        repo: name.to_owned(),
        path,
        offset: 0,
        hasher: Sha256::new(),
    };
    if register {
        ctx.world().registry.uploads.insert(id, up.clone());
    }
    up
}

pub(crate) fn session_id(up: &Upload) -> String {
    up.path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Check `_state` and take the session out of the map while a request works on it (a concurrent
/// request to the same session sees 404 `BLOB_UPLOAD_UNKNOWN`).
pub(crate) fn take(ctx: &Shared, name: &str, id: &str, q: &Query) -> Result<Upload, HttpResponse> {
    let Some((s_name, s_id, s_offset)) = query_get(q, "_state").and_then(decode) else {
        return Err(invalid("missing or malformed _state"));
    };
    if s_name != name || s_id != id {
        return Err(invalid("_state does not belong to this upload"));
    }
    let mut world = ctx.world();
    let Some(up) = world.registry.uploads.get(id).filter(|u| u.repo == name) else {
        return Err(errors::registry(
            404,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
            json!(id),
        ));
    };
    if up.offset != s_offset {
        return Err(invalid("_state is stale: follow the latest Location"));
    }
    Ok(world.registry.uploads.remove(id).expect("checked above"))
}

/// Put a session back after a request worked on it.
pub(crate) fn restore(ctx: &Shared, id: &str, up: Upload) {
    ctx.world().registry.uploads.insert(id.to_owned(), up);
}
