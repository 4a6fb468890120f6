//! Manifests and tags like distribution 2.8: PUT checks references, GET/HEAD negotiate on every
//! `Accept` value, DELETE by digest removes every tag on it, DELETE by tag per [`TagDeleteSupport`]
//! (whose 405 mode, deletion disabled, refuses every DELETE).

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use mgmt_domain::image_ref::validate_tag;
use mgmt_domain::media_type::{DOCKER_MANIFEST, MANIFEST_ACCEPT, OCI_INDEX, OCI_MANIFEST};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::store::valid_digest;
use super::{Query, base_url, query_get};
use crate::config::TagDeleteSupport;
use crate::ctx::Shared;
use crate::errors;
use crate::state::ManifestRecord;

fn unknown(reference: &str) -> HttpResponse {
    errors::registry(
        404,
        "MANIFEST_UNKNOWN",
        "manifest unknown",
        json!({ "Tag": reference }),
    )
}

fn invalid(msg: &str) -> HttpResponse {
    errors::registry(400, "MANIFEST_INVALID", msg, json!(null))
}

/// Every media type named in any `Accept` header, parameters stripped.
fn accepted(req: &HttpRequest) -> Vec<String> {
    req.headers()
        .get_all("accept")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| !v.is_empty())
        .collect()
}

pub(crate) fn get(ctx: &Shared, req: &HttpRequest, name: &str, reference: &str) -> HttpResponse {
    let found = {
        let world = ctx.world();
        let repo = world.registry.repos.get(name);
        let digest = if valid_digest(reference) {
            Some(reference.to_owned())
        } else {
            repo.and_then(|r| r.tags.get(reference).cloned())
        };
        digest.and_then(|d| {
            repo.and_then(|r| r.manifests.get(&d))
                .map(|m| (d, m.clone()))
        })
    };
    let Some((digest, m)) = found else {
        return unknown(reference);
    };
    let accept = accepted(req);
    // distribution 2.8 refuses to serve OCI content to a client that did not ask for it. (Docker
    // schema 2 content is served as is; distribution would convert it to schema 1 for a tag.)
    if m.media_type == OCI_MANIFEST && !accept.iter().any(|a| a == OCI_MANIFEST) {
        return errors::registry(
            404,
            "MANIFEST_UNKNOWN",
            "OCI manifest found, but accept header does not support OCI manifests",
            json!(null),
        );
    }
    if m.media_type == OCI_INDEX && !accept.iter().any(|a| a == OCI_INDEX) {
        return errors::registry(
            404,
            "MANIFEST_UNKNOWN",
            "OCI index found, but accept header does not support OCI indexes",
            json!(null),
        );
    }
    HttpResponse::Ok()
        .content_type(m.media_type.as_str())
        .insert_header(("Docker-Content-Digest", digest.as_str()))
        .insert_header(("ETag", format!("\"{digest}\"")))
        .body(m.body)
}

/// Digests a manifest refers to that must already be in the repository: (blobs, manifests).
fn references(media_type: &str, doc: &Value) -> Result<(Vec<String>, Vec<String>), HttpResponse> {
    let digest_of = |v: &Value| {
        v["digest"]
            .as_str()
            .filter(|d| valid_digest(d))
            .map(str::to_owned)
    };
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let mut blobs = vec![
                digest_of(&doc["config"])
                    .ok_or_else(|| invalid("config descriptor missing or invalid"))?,
            ];
            for l in doc["layers"]
                .as_array()
                .ok_or_else(|| invalid("layers missing"))?
            {
                blobs.push(digest_of(l).ok_or_else(|| invalid("layer descriptor invalid"))?);
            }
            Ok((blobs, Vec::new()))
        }
        _ => {
            let list = doc["manifests"]
                .as_array()
                .ok_or_else(|| invalid("manifests missing"))?;
            let refs = list
                .iter()
                .map(|m| digest_of(m).ok_or_else(|| invalid("manifest descriptor invalid")))
                .collect::<Result<_, _>>()?;
            Ok((Vec::new(), refs))
        }
    }
}

pub(crate) async fn put(
    ctx: &Shared,
    req: &HttpRequest,
    name: &str,
    reference: &str,
    payload: web::Payload,
) -> HttpResponse {
    let body: Bytes = match payload
        .to_bytes_limited(ctx.config.max_manifest_bytes)
        .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return invalid(&format!("reading manifest: {e}")),
        Err(_) => return errors::registry(413, "SIZE_INVALID", "manifest too large", json!(null)),
    };
    let is_digest = valid_digest(reference);
    // Tags as distribution accepts them (the domain's grammar).
    if !is_digest && validate_tag(reference).is_err() {
        return errors::registry(
            400,
            "TAG_INVALID",
            "manifest tag did not match URI",
            json!(reference),
        );
    }
    let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
        return invalid("manifest is not JSON");
    };
    let header_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned());
    let body_type = doc["mediaType"].as_str().map(str::to_owned);
    let media_type = match (
        header_type.filter(|h| !h.is_empty() && h != "application/json"),
        body_type.clone(),
    ) {
        (Some(h), Some(b)) if h != b => {
            return invalid(&format!("mediaType in manifest should be '{h}' not '{b}'"));
        }
        (Some(h), _) => h,
        (None, Some(b)) => b,
        (None, None) => return invalid("manifest media type unknown"),
    };
    if !MANIFEST_ACCEPT.contains(&media_type.as_str()) {
        return invalid(&format!("unsupported manifest media type {media_type}"));
    }
    let (blobs, manifests) = match references(&media_type, &doc) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
    if is_digest && reference != digest {
        return errors::registry(
            400,
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
            json!({ "expected": reference, "actual": digest }),
        );
    }
    let mut world = ctx.world();
    let repo = world.registry.repos.entry(name.to_owned()).or_default();
    let missing = blobs
        .iter()
        .find(|b| !repo.blobs.contains(*b))
        .or_else(|| manifests.iter().find(|m| !repo.manifests.contains_key(*m)));
    if let Some(m) = missing {
        return errors::registry(
            400,
            "MANIFEST_BLOB_UNKNOWN",
            "blob unknown to registry",
            json!(m),
        );
    }
    repo.manifests.insert(
        digest.clone(),
        ManifestRecord {
            media_type,
            size: body.len(),
            body,
        },
    );
    if !is_digest {
        repo.tags.insert(reference.to_owned(), digest.clone());
        repo.ever_tagged = true;
    }
    drop(world);
    HttpResponse::Created()
        .insert_header((
            "Location",
            format!("{}/v2/{name}/manifests/{digest}", base_url(req)),
        ))
        .insert_header(("Docker-Content-Digest", digest))
        .finish()
}

/// distribution with `storage.delete.enabled` unset: every manifest and blob DELETE, whatever the
/// repository or reference, answers this before looking anything up.
pub(crate) fn deletion_disabled() -> HttpResponse {
    errors::registry(
        405,
        "UNSUPPORTED",
        "The operation is unsupported.",
        json!(null),
    )
}

pub(crate) fn delete(ctx: &Shared, name: &str, reference: &str) -> HttpResponse {
    let by_digest = valid_digest(reference);
    match ctx.config.tag_delete {
        TagDeleteSupport::MethodNotAllowed405 => return deletion_disabled(),
        // distribution 2.8 looks the (empty) digest of a tag reference up and finds it malformed,
        // before it asks whether the repository exists.
        TagDeleteSupport::BadRequest400 if !by_digest => {
            return errors::registry(
                400,
                "DIGEST_INVALID",
                "provided digest did not match uploaded content",
                json!(null),
            );
        }
        _ => {}
    }
    let mut world = ctx.world();
    let Some(repo) = world.registry.repos.get_mut(name) else {
        return unknown(reference);
    };
    if by_digest {
        if repo.manifests.remove(reference).is_none() {
            return unknown(reference);
        }
        repo.tags.retain(|_, d| d != reference);
        return HttpResponse::Accepted().finish();
    }
    match repo.tags.remove(reference) {
        Some(_) => HttpResponse::Accepted().finish(),
        None => unknown(reference),
    }
}

/// `GET /v2/<name>/tags/list[?n=&last=]`, sorted, 404 `NAME_UNKNOWN` for a repository never pushed.
pub(crate) fn tags(ctx: &Shared, name: &str, q: &Query) -> HttpResponse {
    let world = ctx.world();
    let Some(repo) = world.registry.repos.get(name).filter(|r| r.ever_tagged) else {
        return errors::registry(
            404,
            "NAME_UNKNOWN",
            "repository name not known to registry",
            json!({ "name": name }),
        );
    };
    let last = query_get(q, "last");
    let n = query_get(q, "n")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let tags: Vec<&String> = repo
        .tags
        .keys()
        .filter(|t| last.is_none_or(|l| t.as_str() > l))
        .take(n)
        .collect();
    if repo.tags.is_empty() {
        return HttpResponse::Ok().json(json!({ "name": name, "tags": null }));
    }
    HttpResponse::Ok().json(json!({ "name": name, "tags": tags }))
}
