//! The Machines API (`/v1/...`): reads the JSON body and dispatches to one module per resource.

mod apps;
pub(crate) mod certs;
pub mod health;
mod image;
mod ips;
mod leases;
mod lifecycle;
mod machine;
mod secrets;
mod validate;
mod volumes;
mod wait;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;

use crate::ctx::Shared;
use crate::errors;
use crate::ops::Op;

/// Query string pairs in order (repeated keys kept, as Fly accepts `state=a&state=b`).
pub(crate) type Query = Vec<(String, String)>;

/// Parse a JSON body; an empty body counts as `{}` (stop and lease bodies are optional).
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, HttpResponse> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(errors::bad_json)
}

pub(crate) fn query_flag(q: &Query, key: &str) -> bool {
    q.iter().any(|(k, v)| k == key && (v == "true" || v == "1"))
}

pub(crate) async fn dispatch(
    ctx: &web::Data<Shared>,
    req: &HttpRequest,
    op: Op,
    segs: &[String],
    payload: web::Payload,
) -> HttpResponse {
    let body = match payload.to_bytes_limited(1 << 20).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return errors::fly(400, format!("could not read request body: {e}")),
        Err(_) => return errors::fly(413, "request body too large"),
    };
    let q: Query = web::Query::<Query>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let app = segs.get(1).map(String::as_str).unwrap_or_default();
    let item = segs.get(3).map(String::as_str).unwrap_or_default();
    let nonce = req
        .headers()
        .get("fly-machine-lease-nonce")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    match op {
        Op::ListApps => apps::list(ctx, &q),
        Op::CreateApp => apps::create(ctx, &body),
        Op::GetApp => apps::get(ctx, app),
        Op::DeleteApp => apps::delete(ctx, app),
        Op::ListSecrets => secrets::list(ctx, app),
        Op::GetSecret => secrets::get(ctx, app, item),
        Op::SetSecrets if segs.len() == 4 => secrets::set_one(ctx, app, item, &body),
        Op::SetSecrets => secrets::update(ctx, app, &body),
        Op::UnsetSecrets => secrets::unset(ctx, app, item),
        Op::CreateVolume => volumes::create(ctx, app, &body),
        Op::ListVolumes => volumes::list(ctx, app),
        Op::GetVolume => volumes::get(ctx, app, item),
        Op::DeleteVolume => volumes::delete(ctx, app, item),
        Op::AssignIp => ips::assign(ctx, app, &body),
        Op::ListIps => ips::list(ctx, app),
        Op::DeleteIp => ips::delete(ctx, app, item),
        Op::CreateCertificate => certs::create(ctx, app, &body),
        Op::ListCertificates => certs::list(ctx, app),
        Op::GetCertificate => certs::get(ctx, app, item),
        Op::DeleteCertificate => certs::delete(ctx, app, item, segs.len() == 5),
        Op::CreateMachine => machine::create(ctx, app, &body),
        Op::GetMachine => machine::get(ctx, app, item),
        Op::ListMachines => machine::list(ctx, app, &q),
        Op::GetMetadata => machine::metadata(ctx, app, item),
        Op::UpdateMachine => machine::update(ctx, app, item, nonce, &body),
        Op::DeleteMachine => lifecycle::delete(ctx, app, item, nonce, query_flag(&q, "force")),
        Op::StartMachine => lifecycle::start(ctx, app, item, nonce),
        Op::StopMachine => lifecycle::stop(ctx, app, item, nonce, &body),
        Op::RestartMachine => lifecycle::restart(ctx, app, item, nonce),
        Op::WaitMachine => wait::wait(ctx, app, item, &q).await,
        Op::AcquireLease => leases::acquire(ctx, app, item, nonce, &body, &q),
        Op::GetLease => leases::get(ctx, app, item),
        Op::ReleaseLease => leases::release(ctx, app, item, nonce),
        other => errors::fly(
            500,
            format!("mock-fly: {other} is not a Machines API operation"),
        ),
    }
}
