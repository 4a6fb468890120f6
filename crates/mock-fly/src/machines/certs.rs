//! ACME certificates: `POST /certificates/acme {hostname}`, show, list, delete.

use actix_web::HttpResponse;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::parse;
use crate::ctx::Shared;
use crate::errors;
use crate::state::CertRecord;

#[derive(Deserialize)]
struct Create {
    hostname: Option<String>,
}

/// A DNS name with at least two labels of letters, digits and dashes (wildcard first label allowed).
fn valid_hostname(h: &str) -> bool {
    let labels: Vec<&str> = h.split('.').collect();
    h.len() <= 253
        && labels.len() >= 2
        && labels.iter().enumerate().all(|(i, l)| {
            (i == 0 && *l == "*")
                || (!l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
        })
}

fn detail(app: &str, c: &CertRecord) -> Value {
    json!({
        "hostname": c.hostname,
        "configured": false,
        "acme_requested": true,
        "status": "pending_validation",
        "dns_provider": "unknown",
        "certificates": [{
            "source": "fly",
            "status": "pending_validation",
            "created_at": c.created_at.to_rfc3339(),
        }],
        "dns_requirements": {
            "a": [], "aaaa": [],
            "cname": format!("{app}.fly.dev"),
            "acme_challenge": {
                "name": format!("_acme-challenge.{}", c.hostname),
                "target": format!("{}.{app}.flydns.net", c.hostname),
            },
        },
        "validation": {
            "alpn_configured": false, "dns_configured": false,
            "http_configured": false, "ownership_txt_configured": false,
        },
        "validation_errors": [],
    })
}

pub(crate) fn create(ctx: &Shared, app: &str, body: &[u8]) -> HttpResponse {
    let req: Create = match parse(body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let hostname = req.hostname.unwrap_or_default().to_ascii_lowercase();
    if !valid_hostname(&hostname) {
        return errors::fly(422, format!("invalid hostname {hostname:?}"));
    }
    let mut world = ctx.world();
    if world.visible_app(app).is_none() {
        return errors::app_not_found();
    }
    let elsewhere = world
        .apps
        .values()
        .any(|a| a.name != app && a.certificates.contains_key(&hostname));
    if elsewhere {
        return errors::fly(
            422,
            format!("Hostname {hostname} has already been taken by another app"),
        );
    }
    let a = world.visible_app_mut(app).expect("checked above");
    let cert = a
        .certificates
        .entry(hostname.clone())
        .or_insert_with(|| CertRecord {
            hostname,
            created_at: Utc::now(),
        })
        .clone();
    HttpResponse::Created().json(detail(app, &cert))
}

pub(crate) fn list(ctx: &Shared, app: &str) -> HttpResponse {
    let world = ctx.world();
    let Some(a) = world.visible_app(app) else {
        return errors::app_not_found();
    };
    let certs: Vec<Value> = a
        .certificates
        .values()
        .map(|c| {
            json!({
                "hostname": c.hostname, "configured": false, "acme_requested": true,
                "status": "pending_validation", "has_fly_certificate": true,
                "has_custom_certificate": false, "created_at": c.created_at.to_rfc3339(),
                "updated_at": c.created_at.to_rfc3339(),
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({ "certificates": certs, "total_count": certs.len() }))
}

pub(crate) fn get(ctx: &Shared, app: &str, hostname: &str) -> HttpResponse {
    let world = ctx.world();
    let Some(a) = world.visible_app(app) else {
        return errors::app_not_found();
    };
    match a.certificates.get(&hostname.to_ascii_lowercase()) {
        Some(c) => HttpResponse::Ok().json(detail(app, c)),
        None => errors::fly(404, "certificate not found"),
    }
}

/// `DELETE /certificates/{hostname}` → 204; `DELETE /certificates/{hostname}/acme` → 200 with the detail.
pub(crate) fn delete(ctx: &Shared, app: &str, hostname: &str, acme: bool) -> HttpResponse {
    let mut world = ctx.world();
    let Some(a) = world.visible_app_mut(app) else {
        return errors::app_not_found();
    };
    match a.certificates.remove(&hostname.to_ascii_lowercase()) {
        Some(c) if acme => HttpResponse::Ok().json(detail(app, &c)),
        Some(_) => HttpResponse::NoContent().finish(),
        None => errors::fly(404, "certificate not found"),
    }
}
