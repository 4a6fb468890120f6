//! Machine leases: acquire (201, wrapped), show, release with `fly-machine-lease-nonce`, and the guard
//! that refuses writes to a leased machine without the matching nonce (409, as flyd does).

use actix_web::HttpResponse;
use chrono::{TimeZone, Utc};
use serde::Deserialize;
use serde_json::json;

use super::{Query, parse};
use crate::ctx::Shared;
use crate::errors;
use crate::ids;
use crate::state::{LeaseRecord, MachineRecord};

const OWNER: &str = "mock-fly@tokens.fly.io";

fn active(m: &MachineRecord) -> Option<&LeaseRecord> {
    m.lease
        .as_ref()
        .filter(|l| l.expires_at > Utc::now().timestamp())
}

fn held_message(m: &MachineRecord, l: &LeaseRecord) -> String {
    let at = Utc
        .timestamp_opt(l.expires_at, 0)
        .single()
        .unwrap_or_default();
    format!(
        "machine ID {} lease currently held by {}, expires at {}",
        m.id,
        l.owner,
        at.to_rfc3339()
    )
}

/// `None` when the write may proceed.
pub(crate) fn guard(m: &MachineRecord, nonce: Option<&str>) -> Option<HttpResponse> {
    let lease = active(m)?;
    (nonce != Some(lease.nonce.as_str()))
        .then(|| errors::fly(409, format!("aborted: {}", held_message(m, lease))))
}

pub(crate) fn new_lease(m: &MachineRecord, ttl: i64, description: String) -> LeaseRecord {
    LeaseRecord {
        nonce: ids::nonce(),
        expires_at: Utc::now().timestamp() + ttl,
        owner: OWNER.to_owned(),
        description,
        version: m.instance_id.clone(),
    }
}

fn wrapped(code: u16, l: &LeaseRecord) -> HttpResponse {
    let body = json!({ "status": "success", "data": l });
    match code {
        201 => HttpResponse::Created().json(body),
        _ => HttpResponse::Ok().json(body),
    }
}

#[derive(Deserialize)]
struct Acquire {
    ttl: Option<i64>,
    #[serde(default)]
    description: String,
}

pub(crate) fn acquire(
    ctx: &Shared,
    app: &str,
    id: &str,
    nonce: Option<&str>,
    body: &[u8],
    q: &Query,
) -> HttpResponse {
    let req: Acquire = match parse(body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let q_ttl = q
        .iter()
        .find(|(k, _)| k == "ttl")
        .and_then(|(_, v)| v.parse().ok());
    let ttl = req.ttl.or(q_ttl).unwrap_or(30);
    if ttl <= 0 {
        return errors::fly(400, "ttl must be positive");
    }
    let mut world = ctx.world();
    if world.visible_app(app).is_none() {
        return errors::app_not_found();
    }
    let Some(m) = world
        .machine_mut(app, id)
        .filter(|m| m.state != "destroyed")
    else {
        return errors::machine_not_found(id);
    };
    if let Some(l) = active(m) {
        if nonce != Some(l.nonce.as_str()) {
            let message = held_message(m, l);
            return HttpResponse::Conflict()
                .json(json!({ "status": "error", "message": message, "code": "invalid" }));
        }
        let l = m.lease.as_mut().expect("active lease");
        l.expires_at = Utc::now().timestamp() + ttl;
        return wrapped(201, l);
    }
    let lease = new_lease(m, ttl, req.description);
    m.lease = Some(lease.clone());
    wrapped(201, &lease)
}

pub(crate) fn get(ctx: &Shared, app: &str, id: &str) -> HttpResponse {
    let mut world = ctx.world();
    if world.visible_app(app).is_none() {
        return errors::app_not_found();
    }
    let Some(m) = world.machine_mut(app, id) else {
        return errors::machine_not_found(id);
    };
    match active(m) {
        Some(l) => wrapped(200, l),
        None => errors::fly(404, "lease not found"),
    }
}

pub(crate) fn release(ctx: &Shared, app: &str, id: &str, nonce: Option<&str>) -> HttpResponse {
    let Some(nonce) = nonce else {
        return errors::fly(400, "fly-machine-lease-nonce header is required");
    };
    let mut world = ctx.world();
    if world.visible_app(app).is_none() {
        return errors::app_not_found();
    }
    let Some(m) = world.machine_mut(app, id) else {
        return errors::machine_not_found(id);
    };
    let Some(l) = active(m) else {
        return errors::fly(404, "lease not found");
    };
    if l.nonce != nonce {
        let message = held_message(m, l);
        return HttpResponse::Conflict()
            .json(json!({ "status": "error", "message": message, "code": "invalid" }));
    }
    m.lease = None;
    HttpResponse::Ok().json(json!({ "status": "success", "data": { "ok": true } }))
}
