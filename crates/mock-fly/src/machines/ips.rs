//! IP assignments (`/v1/apps/{app}/ip_assignments`): `v4`, `v6`, `shared_v4`, `private_v6`.

use actix_web::HttpResponse;
use chrono::Utc;
use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};

use super::parse;
use crate::ctx::Shared;
use crate::errors;
use crate::state::IpRecord;

#[derive(Deserialize)]
struct Assign {
    #[serde(rename = "type")]
    ip_type: Option<String>,
    region: Option<String>,
}

fn ip_json(ip: &IpRecord) -> Value {
    json!({
        "ip": ip.ip,
        "region": ip.region,
        "shared": ip.shared,
        "created_at": ip.created_at.to_rfc3339(),
    })
}

fn address(ip_type: &str) -> String {
    let mut r = rand::thread_rng();
    match ip_type {
        "shared_v4" => format!("66.241.124.{}", r.gen_range(1..255)),
        "v4" => format!("137.66.{}.{}", r.gen_range(1..255), r.gen_range(1..255)),
        "v6" => format!(
            "2a09:8280:1::{:x}:{:x}",
            r.gen_range(1..0xffff),
            r.gen_range(1..0xffff)
        ),
        _ => format!(
            "fdaa:0:1:a7b:{:x}::{:x}",
            r.gen_range(1..0xffff),
            r.gen_range(1..0xffff)
        ),
    }
}

pub(crate) fn assign(ctx: &Shared, app: &str, body: &[u8]) -> HttpResponse {
    let req: Assign = match parse(body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let ip_type = req.ip_type.unwrap_or_default();
    if !["v4", "v6", "shared_v4", "private_v6"].contains(&ip_type.as_str()) {
        return errors::fly(
            400,
            format!(
                "invalid ip address type {ip_type:?}, expected one of v4, v6, shared_v4, private_v6"
            ),
        );
    }
    let mut world = ctx.world();
    let Some(app) = world.visible_app_mut(app) else {
        return errors::app_not_found();
    };
    // An app has at most one shared IPv4; asking again answers the one it has.
    if ip_type == "shared_v4"
        && let Some(existing) = app.ips.iter().find(|i| i.ip_type == "shared_v4")
    {
        return HttpResponse::Ok().json(ip_json(existing));
    }
    let rec = IpRecord {
        ip: address(&ip_type),
        shared: ip_type == "shared_v4",
        ip_type,
        region: req.region.unwrap_or_else(|| "global".to_owned()),
        created_at: Utc::now(),
    };
    let body = ip_json(&rec);
    app.ips.push(rec);
    HttpResponse::Ok().json(body)
}

pub(crate) fn list(ctx: &Shared, app: &str) -> HttpResponse {
    let world = ctx.world();
    let Some(app) = world.visible_app(app) else {
        return errors::app_not_found();
    };
    let ips: Vec<Value> = app.ips.iter().map(ip_json).collect();
    HttpResponse::Ok().json(json!({ "ips": ips }))
}

/// 204 on success.
pub(crate) fn delete(ctx: &Shared, app: &str, ip: &str) -> HttpResponse {
    let mut world = ctx.world();
    let Some(app) = world.visible_app_mut(app) else {
        return errors::app_not_found();
    };
    let before = app.ips.len();
    app.ips.retain(|i| i.ip != ip);
    if app.ips.len() == before {
        return errors::fly(404, format!("ip address {ip} not found"));
    }
    HttpResponse::NoContent().finish()
}
