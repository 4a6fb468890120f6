//! App secrets (`/v1/apps/{app}/secrets`): names and digests only ever leave the mock, never values;
//! every change bumps the app's secrets version.

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::parse;
use crate::ctx::Shared;
use crate::errors;
use crate::state::{AppRecord, SecretRecord};

/// Environment-variable names, as Fly requires of secrets.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn digest(value: &str) -> String {
    hex::encode(&Sha256::digest(value.as_bytes())[..8])
}

fn secret_json(s: &SecretRecord) -> Value {
    json!({
        "name": s.name,
        "digest": s.digest,
        "created_at": s.created_at.to_rfc3339(),
        "updated_at": s.updated_at.to_rfc3339(),
    })
}

fn put(app: &mut AppRecord, name: &str, value: &str) -> SecretRecord {
    let now = Utc::now();
    let rec = app
        .secrets
        .entry(name.to_owned())
        .or_insert_with(|| SecretRecord {
            name: name.to_owned(),
            digest: String::new(),
            created_at: now,
            updated_at: now,
        });
    rec.digest = digest(value);
    rec.updated_at = now;
    rec.clone()
}

pub(crate) fn list(ctx: &Shared, app: &str) -> HttpResponse {
    let world = ctx.world();
    let Some(app) = world.visible_app(app) else {
        return errors::app_not_found();
    };
    let secrets: Vec<Value> = app.secrets.values().map(secret_json).collect();
    HttpResponse::Ok().json(json!({ "secrets": secrets }))
}

pub(crate) fn get(ctx: &Shared, app: &str, name: &str) -> HttpResponse {
    let world = ctx.world();
    let Some(app) = world.visible_app(app) else {
        return errors::app_not_found();
    };
    match app.secrets.get(name) {
        Some(s) => HttpResponse::Ok().json(secret_json(s)),
        None => errors::fly(404, format!("secret {name} not found")),
    }
}

#[derive(Deserialize)]
struct Update {
    #[serde(default)]
    values: BTreeMap<String, Option<String>>,
}

/// `POST /secrets {"values": {"K": "v", "GONE": null}}`: set and unset in one version.
pub(crate) fn update(ctx: &Shared, app: &str, body: &[u8]) -> HttpResponse {
    let req: Update = match parse(body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if let Some(bad) = req.values.keys().find(|k| !valid_name(k)) {
        return errors::fly(400, format!("invalid secret name {bad:?}"));
    }
    let mut world = ctx.world();
    let Some(app) = world.visible_app_mut(app) else {
        return errors::app_not_found();
    };
    for (name, value) in &req.values {
        match value {
            Some(v) => {
                put(app, name, v);
            }
            None => {
                app.secrets.remove(name);
            }
        }
    }
    app.secrets_version += 1;
    let secrets: Vec<Value> = app.secrets.values().map(secret_json).collect();
    let v = app.secrets_version;
    HttpResponse::Ok().json(json!({ "secrets": secrets, "version": v, "Version": v }))
}

#[derive(Deserialize)]
struct SetOne {
    value: Option<String>,
}

/// `POST /secrets/{name} {"value": "..."}` → 201.
pub(crate) fn set_one(ctx: &Shared, app: &str, name: &str, body: &[u8]) -> HttpResponse {
    let req: SetOne = match parse(body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if !valid_name(name) {
        return errors::fly(400, format!("invalid secret name {name:?}"));
    }
    let Some(value) = req.value else {
        return errors::fly(400, "value is required");
    };
    let mut world = ctx.world();
    let Some(app) = world.visible_app_mut(app) else {
        return errors::app_not_found();
    };
    let rec = put(app, name, &value);
    app.secrets_version += 1;
    let mut body = secret_json(&rec);
    body["version"] = json!(app.secrets_version);
    body["Version"] = json!(app.secrets_version);
    HttpResponse::Created().json(body)
}

pub(crate) fn unset(ctx: &Shared, app: &str, name: &str) -> HttpResponse {
    let mut world = ctx.world();
    let Some(app) = world.visible_app_mut(app) else {
        return errors::app_not_found();
    };
    if app.secrets.remove(name).is_none() {
        return errors::fly(404, format!("secret {name} not found"));
    }
    app.secrets_version += 1;
    let v = app.secrets_version;
    HttpResponse::Ok().json(json!({ "version": v, "Version": v }))
}
