//! Registry v2 (standing in for registry.fly.io): blobs, uploads, manifests and tags.

pub(crate) mod blobs;
pub mod manifests;
pub(crate) mod path;
pub(crate) mod session;
pub(crate) mod store;
pub(crate) mod uploads;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::ctx::Shared;
use crate::ops::Op;
use path::RegPath;

pub(crate) type Query = Vec<(String, String)>;

pub(crate) fn query_get<'a>(q: &'a Query, key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `scheme://host` of the request, for absolute `Location` headers as distribution sends them.
pub(crate) fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

pub(crate) async fn dispatch(
    ctx: &web::Data<Shared>,
    req: &HttpRequest,
    op: Op,
    path: RegPath,
    payload: web::Payload,
) -> HttpResponse {
    let q: Query = web::Query::<Query>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let mut resp = match (op, path) {
        (Op::RegistryBase, _) => HttpResponse::Ok().json(json!({})),
        (Op::RegistryTagsList, RegPath::Tags { name }) => manifests::tags(ctx, &name, &q),
        (
            Op::RegistryManifestGet | Op::RegistryManifestHead,
            RegPath::Manifest { name, reference },
        ) => manifests::get(ctx, req, &name, &reference),
        (Op::RegistryManifestPut, RegPath::Manifest { name, reference }) => {
            manifests::put(ctx, req, &name, &reference, payload).await
        }
        (Op::RegistryManifestDelete, RegPath::Manifest { name, reference }) => {
            manifests::delete(ctx, &name, &reference)
        }
        (Op::RegistryBlobGet | Op::RegistryBlobHead, RegPath::Blob { name, digest }) => {
            blobs::get(ctx, &name, &digest).await
        }
        (Op::RegistryBlobDelete, RegPath::Blob { name, digest }) => {
            blobs::delete(ctx, &name, &digest)
        }
        (Op::RegistryUploadStart, RegPath::Uploads { name }) => {
            uploads::start(ctx, req, &name, &q, payload).await
        }
        (Op::RegistryUploadPatch, RegPath::Upload { name, id }) => {
            uploads::patch(ctx, req, &name, &id, &q, payload).await
        }
        (Op::RegistryUploadPut, RegPath::Upload { name, id }) => {
            uploads::put(ctx, req, &name, &id, &q, payload).await
        }
        (Op::RegistryUploadStatus, RegPath::Upload { name, id }) => {
            uploads::status(ctx, req, &name, &id, &q)
        }
        (Op::RegistryUploadCancel, RegPath::Upload { name, id }) => {
            uploads::cancel(ctx, &name, &id, &q)
        }
        (op, path) => crate::errors::registry(
            500,
            "UNKNOWN",
            &format!("mock-fly: {op} does not match {path:?}"),
            json!(null),
        ),
    };
    resp.headers_mut().insert(
        HeaderName::from_static("docker-distribution-api-version"),
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}
