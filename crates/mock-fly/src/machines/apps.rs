//! Apps: create (201 with the app, 422 `name_taken`), show (eventually consistent), list, delete
//! (202, then the app lingers as `suspended` for `destroy_delay` before it and everything in it is gone).

use std::time::Instant;

use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Query, parse};
use crate::ctx::Shared;
use crate::errors;
use crate::ids;
use crate::state::{AppRecord, World};

#[derive(Deserialize)]
struct CreateApp {
    /// What Fly's docs and fly-go send; the spec says `name`, so both are read.
    app_name: Option<String>,
    name: Option<String>,
    org_slug: Option<String>,
    network: Option<String>,
}

/// Fly app names: lowercase letters, digits and dashes, starting with a letter, at most 63 long.
fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && !name.ends_with('-')
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

pub(crate) fn json(world: &World, app: &AppRecord) -> Value {
    let machines = world
        .machines
        .values()
        .filter(|m| m.app == app.name && m.state != "destroyed");
    json!({
        "id": app.id,
        "name": app.name,
        "network": app.network,
        "status": if app.destroying { "suspended" } else { "deployed" },
        "machine_count": machines.count(),
        "volume_count": world.volumes.values().filter(|v| v.app == app.name).count(),
        "organization": { "name": app.org_slug, "slug": app.org_slug },
    })
}

pub(crate) fn create(ctx: &Shared, body: &[u8]) -> HttpResponse {
    let req: CreateApp = match parse(body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let Some(name) = req.app_name.or(req.name) else {
        return errors::fly(400, "app_name is required");
    };
    if !valid_name(&name) {
        return errors::fly_status(
            422,
            "Name may only contain lowercase letters, numbers and dashes, and must start with a letter",
            "unknown",
        );
    }
    let org = req.org_slug.unwrap_or_default();
    if org.is_empty() {
        return errors::fly(400, "org_slug is required");
    }
    if !ctx.config.org_slugs.is_empty() && !ctx.config.org_slugs.contains(&org) {
        return errors::fly(404, format!("organization {org} not found"));
    }
    let mut world = ctx.world();
    if world.apps.contains_key(&name) {
        return errors::fly_status(422, "Name has already been taken", "name_taken");
    }
    let app = AppRecord {
        name: name.clone(),
        id: ids::app_id(),
        org_slug: org,
        network: req.network.unwrap_or_else(|| "default".to_owned()),
        created_at: Utc::now(),
        secrets: Default::default(),
        secrets_version: 0,
        ips: Vec::new(),
        certificates: Default::default(),
        destroying: false,
        visible_at: Instant::now() + ctx.config.app_visibility_delay,
    };
    let body = json(&world, &app);
    world.apps.insert(name, app);
    HttpResponse::Created().json(body)
}

pub(crate) fn get(ctx: &Shared, name: &str) -> HttpResponse {
    let world = ctx.world();
    // A deleted app is still shown until it is really gone, as on Fly.
    let lingering = world.apps.get(name).filter(|a| a.destroying);
    match world.visible_app(name).or(lingering) {
        Some(app) => HttpResponse::Ok().json(json(&world, app)),
        None => errors::app_not_found(),
    }
}

pub(crate) fn list(ctx: &Shared, q: &Query) -> HttpResponse {
    let world = ctx.world();
    let org = q
        .iter()
        .find(|(k, _)| k == "org_slug")
        .map(|(_, v)| v.as_str());
    let apps: Vec<Value> = world
        .apps
        .values()
        .filter(|a| a.visible_at <= Instant::now() && org.is_none_or(|o| o == a.org_slug))
        .map(|a| json(&world, a))
        .collect();
    HttpResponse::Ok().json(json!({ "total_apps": apps.len(), "apps": apps }))
}

/// 202 with no body. The app lingers (`suspended`, name still taken) for `destroy_delay`, its
/// machines `destroying` and volumes `pending_destroy`; then it and everything in it is gone. A repeated
/// delete of a lingering app is answered 202 again and changes nothing.
pub(crate) fn delete(ctx: &web::Data<Shared>, name: &str) -> HttpResponse {
    let mut world = ctx.world();
    match world.apps.get_mut(name) {
        Some(a) if a.destroying => return HttpResponse::Accepted().finish(),
        Some(a) if a.visible_at <= Instant::now() => a.destroying = true,
        _ => return errors::fly(404, "Could not find App"),
    }
    for m in world.machines.values_mut().filter(|m| m.app == name) {
        if m.state != "destroyed" {
            super::lifecycle::set_state(m, "destroying", "destroy", "user");
        }
    }
    for v in world.volumes.values_mut().filter(|v| v.app == name) {
        v.pending_destroy = true;
    }
    drop(world);
    ctx.changed.notify_waiters();
    let (ctx, name) = (ctx.clone(), name.to_owned());
    tokio::spawn(async move {
        tokio::time::sleep(ctx.destroy_delay()).await;
        {
            let mut world = ctx.world();
            world.apps.remove(&name);
            world.machines.retain(|_, m| m.app != name);
            world.volumes.retain(|_, v| v.app != name);
        }
        ctx.changed.notify_waiters();
    });
    HttpResponse::Accepted().finish()
}
