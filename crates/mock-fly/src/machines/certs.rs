//! ACME certificates: `POST /certificates/acme {hostname}` (422 when the hostname is already there,
//! on this app or another), show, list, delete.

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

/// How long an issued certificate is valid (Let's Encrypt's 90 days).
const VALIDITY_DAYS: i64 = 90;

/// Fly's certificate detail: `pending_validation` until the hostname validates, then `active` with the
/// issued certificates (ECDSA and RSA, as Fly issues both), in the Machines API's spellings.
fn detail(app: &str, c: &CertRecord) -> Value {
    let issued = c.issued_at.is_some();
    let status = if issued {
        "active"
    } else {
        "pending_validation"
    };
    let mut entry = json!({
        "source": "fly",
        "status": status,
        "created_at": c.created_at.to_rfc3339(),
    });
    if let Some(at) = c.issued_at {
        let expires = (at + chrono::Duration::days(VALIDITY_DAYS)).to_rfc3339();
        entry["issuer"] = json!("R11");
        entry["expires_at"] = json!(expires);
        entry["issued"] = json!([
            {"type": "ecdsa", "certificate_authority": "lets_encrypt", "expires_at": expires},
            {"type": "rsa", "certificate_authority": "lets_encrypt", "expires_at": expires},
        ]);
    }
    json!({
        "hostname": c.hostname,
        "configured": issued,
        "acme_requested": true,
        "status": status,
        "dns_provider": "unknown",
        "certificates": [entry],
        "dns_requirements": {
            "a": [], "aaaa": [],
            "cname": format!("{app}.fly.dev"),
            "acme_challenge": {
                "name": format!("_acme-challenge.{}", c.hostname),
                "target": format!("{}.{app}.flydns.net", c.hostname),
            },
        },
        "validation": {
            "alpn_configured": issued, "dns_configured": issued,
            "http_configured": issued, "ownership_txt_configured": false,
        },
        "validation_errors": [],
    })
}

/// Marks the certificate of `hostname` (on whichever app holds it) issued, once; returns the app and
/// the record, or `None` when no app holds one.
pub(crate) fn mark_issued(ctx: &Shared, hostname: &str) -> Option<(String, CertRecord)> {
    let hostname = hostname.to_ascii_lowercase();
    let mut world = ctx.world();
    world.apps.values_mut().find_map(|a| {
        let c = a.certificates.get_mut(&hostname)?;
        c.issued_at.get_or_insert_with(Utc::now);
        Some((a.name.clone(), c.clone()))
    })
}

/// `POST /__mock/certificates/{hostname}/issue`: the test's stand-in for DNS validating; answers the
/// certificate as Fly now shows it.
pub(crate) fn issue(ctx: &Shared, hostname: &str) -> HttpResponse {
    match mark_issued(ctx, hostname) {
        Some((app, cert)) => HttpResponse::Ok().json(detail(&app, &cert)),
        None => errors::fly(
            404,
            format!("mock-fly: no app holds a certificate for {hostname}"),
        ),
    }
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
    if a.certificates.contains_key(&hostname) {
        // Fly does not answer a repeated add with the existing certificate: it refuses it.
        return errors::fly(
            422,
            format!("Hostname {hostname} already exists on app {app}"),
        );
    }
    let cert = CertRecord {
        hostname: hostname.clone(),
        created_at: Utc::now(),
        issued_at: None,
    };
    a.certificates.insert(hostname, cert.clone());
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
            let status = if c.issued_at.is_some() {
                "active"
            } else {
                "pending_validation"
            };
            json!({
                "hostname": c.hostname, "configured": c.issued_at.is_some(), "acme_requested": true,
                "status": status, "has_fly_certificate": true,
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
