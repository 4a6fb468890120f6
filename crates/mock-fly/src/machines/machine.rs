//! Machines: create (image resolved first), show, list with filters, update (new version + restart)
//! and metadata. A machine's environment holds the app's secrets as they are when it is created or
//! updated (recorded on the machine, digests only); secrets changed later reach it on its next update.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Query, image, leases, lifecycle, parse, query_flag};
use crate::ctx::Shared;
use crate::errors;
use crate::ids;
use crate::state::{MachineRecord, World};

#[derive(Deserialize)]
struct Body {
    config: Option<Value>,
    name: Option<String>,
    region: Option<String>,
    #[serde(default)]
    skip_launch: bool,
    lease_ttl: Option<i64>,
    current_version: Option<String>,
    min_secrets_version: Option<u64>,
}

/// The app's secrets a machine created or updated now boots with: its version and name → digest.
/// A `min_secrets_version` the app has not reached is refused, as Fly refuses to launch a machine
/// with secrets it does not have.
fn boot_secrets(
    world: &World,
    app: &str,
    min: Option<u64>,
) -> Result<(u64, BTreeMap<String, String>), HttpResponse> {
    let Some(app) = world.visible_app(app) else {
        return Err(errors::app_not_found());
    };
    if let Some(min) = min.filter(|m| *m > app.secrets_version) {
        return Err(errors::fly(
            400,
            format!(
                "invalid min_secrets_version {min}: the app's secrets are at version {}",
                app.secrets_version
            ),
        ));
    }
    let secrets = app
        .secrets
        .values()
        .map(|s| (s.name.clone(), s.digest.clone()))
        .collect();
    Ok((app.secrets_version, secrets))
}

pub(crate) fn machine_json(ctx: &Shared, m: &MachineRecord) -> Value {
    json!({
        "checks": super::health::checks_json(ctx, m),
        "id": m.id, "name": m.name, "state": m.state, "region": m.region,
        "instance_id": m.instance_id, "private_ip": m.private_ip,
        "config": m.config, "image_ref": m.image_ref, "host_status": "ok",
        "created_at": m.created_at.to_rfc3339(), "updated_at": m.updated_at.to_rfc3339(),
        "events": m.events,
    })
}

/// What a valid `config` yields: image, metadata, mounted volume ids.
type Checked = (String, BTreeMap<String, String>, Vec<String>);

/// Checks `config` and returns its image, metadata and mounted volume ids.
fn check_config(
    world: &World,
    app: &str,
    id: &str,
    region: &str,
    config: &Value,
) -> Result<Checked, HttpResponse> {
    if !config.is_object() {
        return Err(errors::fly(400, "config is required"));
    }
    super::validate::config(config).map_err(|e| errors::fly(400, e))?;
    let image = config["image"].as_str().unwrap_or_default().to_owned();
    if image.is_empty() {
        return Err(errors::fly(
            400,
            "invalid config.image, must be a non-empty image reference",
        ));
    }
    let metadata = match &config["metadata"] {
        Value::Null => BTreeMap::new(),
        v => serde_json::from_value(v.clone())
            .map_err(|_| errors::fly(400, "config.metadata must map strings to strings"))?,
    };
    let mut vols = Vec::new();
    for mount in config["mounts"].as_array().into_iter().flatten() {
        let vid = mount["volume"].as_str().unwrap_or_default();
        let Some(vol) = world.volumes.get(vid).filter(|v| v.app == app) else {
            return Err(errors::fly(
                400,
                format!("volume {vid:?} not found in app {app}"),
            ));
        };
        if vol.pending_destroy {
            return Err(errors::fly(
                400,
                format!("volume {vid} is pending_destroy and cannot be mounted"),
            ));
        }
        if vol.region != region {
            return Err(errors::fly(
                400,
                format!(
                    "volume {vid} is in region {}, the machine in {region}",
                    vol.region
                ),
            ));
        }
        if vol.attached_machine_id.as_deref().is_some_and(|m| m != id) {
            return Err(errors::fly(
                400,
                format!("volume {vid} is already attached to another machine"),
            ));
        }
        vols.push(vid.to_owned());
    }
    Ok((image, metadata, vols))
}

pub(crate) fn create(ctx: &web::Data<Shared>, app: &str, body: &[u8]) -> HttpResponse {
    let req: Body = match parse(body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let mut world = ctx.world();
    if world.visible_app(app).is_none() {
        return errors::app_not_found();
    }
    let id = ids::machine_id();
    let region = req.region.clone().unwrap_or_else(|| "iad".to_owned());
    if !super::validate::known_region(&region) {
        return errors::fly(400, format!("invalid region {region:?}"));
    }
    let config = req.config.unwrap_or(Value::Null);
    let (image, metadata, vols) = match check_config(&world, app, &id, &region, &config) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let image_ref = match image::resolve(ctx, &world, &image) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let (secrets_version, secrets) = match boot_secrets(&world, app, req.min_secrets_version) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let now = Utc::now();
    let mut m = MachineRecord {
        id: id.clone(),
        app: app.to_owned(),
        name: req
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(ids::machine_name),
        region: req.region.unwrap_or_else(|| "iad".to_owned()),
        state: "created".to_owned(),
        instance_id: ids::instance_id(),
        private_ip: ids::private_ip(),
        image,
        config,
        metadata,
        image_ref,
        created_at: now,
        updated_at: now,
        events: vec![lifecycle::event("launch", "created", "user")],
        lease: None,
        volumes: vols.clone(),
        secrets_version,
        secrets,
        generation: 0,
    };
    for v in &vols {
        if let Some(vol) = world.volumes.get_mut(v) {
            vol.attached_machine_id = Some(id.clone());
        }
    }
    let mut body = machine_json(ctx, &m);
    if let Some(ttl) = req.lease_ttl.filter(|t| *t > 0) {
        let lease = leases::new_lease(&m, ttl, String::new());
        body["nonce"] = json!(lease.nonce);
        m.lease = Some(lease);
    }
    if !req.skip_launch {
        lifecycle::begin_start(ctx, &mut m, "start");
    }
    world.machines.insert(id, m);
    drop(world);
    ctx.changed.notify_waiters();
    HttpResponse::Ok().json(body)
}

pub(crate) fn get(ctx: &Shared, app: &str, id: &str) -> HttpResponse {
    let mut world = ctx.world();
    if world.visible_app(app).is_none() {
        return errors::app_not_found();
    }
    match world.machine_mut(app, id) {
        Some(m) => HttpResponse::Ok().json(machine_json(ctx, m)),
        None => errors::machine_not_found(id),
    }
}

pub(crate) fn metadata(ctx: &Shared, app: &str, id: &str) -> HttpResponse {
    let mut world = ctx.world();
    if world.visible_app(app).is_none() {
        return errors::app_not_found();
    }
    match world.machine_mut(app, id) {
        Some(m) => HttpResponse::Ok().json(&m.metadata),
        None => errors::machine_not_found(id),
    }
}

/// Filters: `include_deleted`, `region`, `state` (comma list), `metadata.<key>=<value>`, `summary`.
pub(crate) fn list(ctx: &Shared, app: &str, q: &Query) -> HttpResponse {
    let world = ctx.world();
    if world.visible_app(app).is_none() {
        return errors::app_not_found();
    }
    let deleted = query_flag(q, "include_deleted");
    let summary = query_flag(q, "summary");
    let states: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "state")
        .flat_map(|(_, v)| v.split(','))
        .collect();
    let out: Vec<Value> = world
        .machines
        .values()
        .filter(|m| m.app == app && (deleted || m.state != "destroyed"))
        .filter(|m| states.is_empty() || states.contains(&m.state.as_str()))
        .filter(|m| {
            q.iter().all(|(k, v)| match k.strip_prefix("metadata.") {
                Some(key) => m.metadata.get(key) == Some(v),
                None if k == "region" => &m.region == v,
                None => true,
            })
        })
        .map(|m| {
            let mut j = machine_json(ctx, m);
            if summary {
                let o = j.as_object_mut().expect("object");
                o.remove("config");
                o.remove("events");
            }
            j
        })
        .collect();
    HttpResponse::Ok().json(out)
}

/// A new version (instance id) with the new config; the machine restarts unless `skip_launch`.
pub(crate) fn update(
    ctx: &web::Data<Shared>,
    app: &str,
    id: &str,
    nonce: Option<&str>,
    body: &[u8],
) -> HttpResponse {
    let req: Body = match parse(body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let mut world = ctx.world();
    if world.visible_app(app).is_none() {
        return errors::app_not_found();
    }
    let Some(m) = world
        .machines
        .get(id)
        .filter(|m| m.app == app && !matches!(m.state.as_str(), "destroyed" | "destroying"))
    else {
        return errors::machine_not_found(id);
    };
    if let Some(refusal) = leases::guard(m, nonce) {
        return refusal;
    }
    if let Some(v) = req
        .current_version
        .as_deref()
        .filter(|v| *v != m.instance_id)
    {
        return errors::fly(
            412,
            format!(
                "failed_precondition: machine version mismatch, current {} requested {v}",
                m.instance_id
            ),
        );
    }
    let config = req.config.unwrap_or(Value::Null);
    let region = m.region.clone();
    let (image, metadata, vols) = match check_config(&world, app, id, &region, &config) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let image_ref = match image::resolve(ctx, &world, &image) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let (secrets_version, secrets) = match boot_secrets(&world, app, req.min_secrets_version) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    for vol in world.volumes.values_mut() {
        if vol.attached_machine_id.as_deref() == Some(id) {
            vol.attached_machine_id = None;
        }
        if vols.contains(&vol.id) {
            vol.attached_machine_id = Some(id.to_owned());
        }
    }
    let m = world.machines.get_mut(id).expect("checked above");
    m.instance_id = ids::instance_id();
    m.image = image;
    m.config = config;
    m.metadata = metadata;
    m.image_ref = image_ref;
    m.volumes = vols;
    m.secrets_version = secrets_version;
    m.secrets = secrets;
    if let Some(name) = req.name.filter(|n| !n.is_empty()) {
        m.name = name;
    }
    if req.skip_launch {
        let state = if m.state == "created" {
            "created"
        } else {
            "stopped"
        };
        lifecycle::set_state(m, state, "update", "user");
    } else {
        lifecycle::begin_start(ctx, m, "update");
    }
    let body = machine_json(ctx, m);
    drop(world);
    ctx.changed.notify_waiters();
    HttpResponse::Ok().json(body)
}
