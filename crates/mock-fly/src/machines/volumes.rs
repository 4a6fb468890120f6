//! Volumes: create, list, get, delete (refused while a live machine has it mounted; then the volume
//! lingers as `pending_destroy` for `destroy_delay` before it disappears, as on Fly).

use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::parse;
use crate::ctx::Shared;
use crate::errors;
use crate::ids;
use crate::state::VolumeRecord;

#[derive(Deserialize)]
struct Create {
    name: Option<String>,
    region: Option<String>,
    size_gb: Option<i64>,
    encrypted: Option<bool>,
}

/// Fly volume names: lowercase letters, digits and underscores, at most 30 characters.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 30
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

fn volume_json(v: &VolumeRecord) -> Value {
    let state = if v.pending_destroy {
        "pending_destroy"
    } else {
        "created"
    };
    let mut j = json!({
        "id": v.id,
        "name": v.name,
        "state": state,
        "size_gb": v.size_gb,
        "region": v.region,
        "zone": "a1b2",
        "encrypted": v.encrypted,
        "fstype": "ext4",
        "type": "local",
        "host_status": "ok",
        "snapshot_retention": 5,
        "auto_backup_enabled": true,
        "created_at": v.created_at.to_rfc3339(),
    });
    if let Some(m) = &v.attached_machine_id {
        j["attached_machine_id"] = json!(m);
        j["attached_alloc_id"] = json!(m);
    }
    j
}

pub(crate) fn create(ctx: &Shared, app: &str, body: &[u8]) -> HttpResponse {
    let req: Create = match parse(body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let name = req.name.unwrap_or_default();
    if !valid_name(&name) {
        return errors::fly(
            400,
            "volume name must be 1-30 lowercase letters, numbers or underscores",
        );
    }
    let size_gb = req.size_gb.unwrap_or(1);
    if !(1..=500).contains(&size_gb) {
        return errors::fly(400, "size_gb must be between 1 and 500");
    }
    let region = req.region.unwrap_or_else(|| "iad".to_owned());
    if !super::validate::known_region(&region) {
        return errors::fly(400, format!("invalid region {region:?}"));
    }
    let mut world = ctx.world();
    if world.visible_app(app).is_none() {
        return errors::app_not_found();
    }
    let vol = VolumeRecord {
        id: ids::volume_id(),
        app: app.to_owned(),
        name,
        region,
        size_gb,
        encrypted: req.encrypted.unwrap_or(true),
        created_at: Utc::now(),
        attached_machine_id: None,
        pending_destroy: false,
    };
    let body = volume_json(&vol);
    world.volumes.insert(vol.id.clone(), vol);
    HttpResponse::Ok().json(body)
}

pub(crate) fn list(ctx: &Shared, app: &str) -> HttpResponse {
    let world = ctx.world();
    if world.visible_app(app).is_none() {
        return errors::app_not_found();
    }
    let vols: Vec<Value> = world
        .volumes
        .values()
        .filter(|v| v.app == app)
        .map(volume_json)
        .collect();
    HttpResponse::Ok().json(vols)
}

pub(crate) fn get(ctx: &Shared, app: &str, id: &str) -> HttpResponse {
    let world = ctx.world();
    if world.visible_app(app).is_none() {
        return errors::app_not_found();
    }
    match world.volumes.get(id).filter(|v| v.app == app) {
        Some(v) => HttpResponse::Ok().json(volume_json(v)),
        None => errors::fly(404, "Volume not found"),
    }
}

pub(crate) fn delete(ctx: &web::Data<Shared>, app: &str, id: &str) -> HttpResponse {
    let mut world = ctx.world();
    if world.visible_app(app).is_none() {
        return errors::app_not_found();
    }
    let Some(vol) = world.volumes.get(id).filter(|v| v.app == app) else {
        return errors::fly(404, "Volume not found");
    };
    if vol.pending_destroy {
        // Fly refuses to destroy a volume twice; a caller must wait for it to go.
        return errors::fly(
            400,
            format!("failed_precondition: volume {id} is already pending_destroy"),
        );
    }
    if let Some(m) = &vol.attached_machine_id {
        let live = world
            .machines
            .get(m)
            .is_some_and(|m| m.state != "destroyed");
        if live {
            return errors::fly(
                412,
                format!(
                    "failed_precondition: volume {id} is attached to machine {m}, destroy the machine first"
                ),
            );
        }
    }
    let vol = world.volumes.get_mut(id).expect("checked above");
    vol.pending_destroy = true;
    let body = volume_json(vol);
    drop(world);
    let (ctx, id) = (ctx.clone(), id.to_owned());
    tokio::spawn(async move {
        tokio::time::sleep(ctx.destroy_delay()).await;
        ctx.world().volumes.remove(&id);
    });
    HttpResponse::Ok().json(body)
}
