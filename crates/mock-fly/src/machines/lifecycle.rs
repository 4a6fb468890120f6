//! Machine state changes: start, stop, restart, destroy, and the background transitions
//! (starting → started after `machine_start_delay`, stopping → stopped) that make `wait` meaningful.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::{leases, parse};
use crate::ctx::Shared;
use crate::errors;
use crate::state::MachineRecord;

pub(crate) fn event(kind: &str, status: &str, source: &str) -> serde_json::Value {
    json!({
        "id": crate::ids::instance_id(),
        "type": kind,
        "status": status,
        "source": source,
        "timestamp": Utc::now().timestamp_millis(),
    })
}

/// Move to `state` now and invalidate any pending background transition.
pub(crate) fn set_state(m: &mut MachineRecord, state: &str, kind: &str, source: &str) -> u64 {
    m.state = state.to_owned();
    m.updated_at = Utc::now();
    m.events.insert(0, event(kind, state, source));
    m.generation += 1;
    m.generation
}

/// After `delay`, move machine `id` to `state` unless something else happened to it meanwhile.
pub(crate) fn schedule(
    ctx: &web::Data<Shared>,
    id: &str,
    generation: u64,
    delay: Duration,
    state: &'static str,
    kind: &'static str,
) {
    let ctx = ctx.clone();
    let id = id.to_owned();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let applied = {
            let mut world = ctx.world();
            match world.machines.get_mut(&id) {
                Some(m) if m.generation == generation && m.state != "destroyed" => {
                    set_state(m, state, kind, "flyd");
                    true
                }
                _ => false,
            }
        };
        if applied {
            ctx.changed.notify_waiters();
        }
    });
}

/// Enter `starting` and become `started` after the configured delay.
/// What happens once it runs depends on the image (see `health`: crash-looping images exit again).
pub(crate) fn begin_start(ctx: &web::Data<Shared>, m: &mut MachineRecord, kind: &str) {
    let generation = set_state(m, "starting", kind, "user");
    super::health::run(ctx, &m.id, generation);
}

fn live<'a>(
    world: &'a mut crate::state::World,
    app: &str,
    id: &str,
) -> Result<&'a mut MachineRecord, HttpResponse> {
    if world.visible_app(app).is_none() {
        return Err(errors::app_not_found());
    }
    world
        .machine_mut(app, id)
        .filter(|m| !matches!(m.state.as_str(), "destroyed" | "destroying"))
        .ok_or_else(|| errors::machine_not_found(id))
}

/// The live machine, if the request's lease `nonce` lets it be changed.
fn leased<'a>(
    world: &'a mut crate::state::World,
    app: &str,
    id: &str,
    nonce: Option<&str>,
) -> Result<&'a mut MachineRecord, HttpResponse> {
    let m = live(world, app, id)?;
    match leases::guard(m, nonce) {
        Some(refusal) => Err(refusal),
        None => Ok(m),
    }
}

pub(crate) fn start(
    ctx: &web::Data<Shared>,
    app: &str,
    id: &str,
    nonce: Option<&str>,
) -> HttpResponse {
    let resp = {
        let mut world = ctx.world();
        let m = match leased(&mut world, app, id, nonce) {
            Ok(m) => m,
            Err(resp) => return resp,
        };
        let previous = m.state.clone();
        if !matches!(
            previous.as_str(),
            "created" | "stopped" | "suspended" | "failed"
        ) {
            return errors::fly(
                412,
                format!(
                    "failed_precondition: unable to start machine from current state: '{previous}'"
                ),
            );
        }
        begin_start(ctx, m, "start");
        json!({ "previous_state": previous, "migrated": false, "new_host": "" })
    };
    ctx.changed.notify_waiters();
    HttpResponse::Ok().json(resp)
}

#[derive(Deserialize)]
struct Stop {
    signal: Option<String>,
    #[allow(dead_code)]
    timeout: Option<serde_json::Value>,
}

pub(crate) fn stop(
    ctx: &web::Data<Shared>,
    app: &str,
    id: &str,
    nonce: Option<&str>,
    body: &[u8],
) -> HttpResponse {
    let req: Stop = match parse(body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    const SIGNALS: [&str; 7] = [
        "SIGHUP", "SIGINT", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGTERM",
    ];
    if let Some(sig) = req.signal.as_deref().filter(|s| !SIGNALS.contains(s)) {
        return errors::fly(400, format!("invalid signal {sig:?}"));
    }
    {
        let mut world = ctx.world();
        let m = match leased(&mut world, app, id, nonce) {
            Ok(m) => m,
            Err(resp) => return resp,
        };
        // Stopping a machine that is not running is a no-op on Fly, not an error.
        if matches!(m.state.as_str(), "started" | "starting" | "replacing") {
            let generation = set_state(m, "stopping", "stop", "user");
            schedule(
                ctx,
                id,
                generation,
                ctx.config.machine_stop_delay,
                "stopped",
                "exit",
            );
        }
    }
    ctx.changed.notify_waiters();
    HttpResponse::Ok().json(json!({ "ok": true }))
}

/// As on Fly, a restart stops the machine and starts it again: `stopping` at once, `stopped` after
/// `machine_stop_delay`, then `starting` and `started` after `machine_start_delay`. The machine keeps
/// its version (instance id) and its environment (secrets are fixed at create/update).
pub(crate) fn restart(
    ctx: &web::Data<Shared>,
    app: &str,
    id: &str,
    nonce: Option<&str>,
) -> HttpResponse {
    {
        let mut world = ctx.world();
        let m = match leased(&mut world, app, id, nonce) {
            Ok(m) => m,
            Err(resp) => return resp,
        };
        if !matches!(m.state.as_str(), "started" | "starting") {
            return errors::fly(
                412,
                format!(
                    "failed_precondition: machine {id} is not started (state '{}')",
                    m.state
                ),
            );
        }
        let generation = set_state(m, "stopping", "restart", "user");
        let ctx2 = ctx.clone();
        let id = id.to_owned();
        let delay = ctx.config.machine_stop_delay;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let applied = {
                let mut world = ctx2.world();
                match world.machines.get_mut(&id) {
                    Some(m) if m.generation == generation && m.state != "destroyed" => {
                        set_state(m, "stopped", "exit", "flyd");
                        begin_start(&ctx2, m, "restart");
                        true
                    }
                    _ => false,
                }
            };
            if applied {
                ctx2.changed.notify_waiters();
            }
        });
    }
    ctx.changed.notify_waiters();
    HttpResponse::Ok().json(json!({ "ok": true }))
}

/// Without `force`, a running machine is refused; the machine is `destroying` for `destroy_delay`,
/// then `destroyed` (the record stays so `wait` and `GET` can still see it) and its volumes detached.
pub(crate) fn delete(
    ctx: &web::Data<Shared>,
    app: &str,
    id: &str,
    nonce: Option<&str>,
    force: bool,
) -> HttpResponse {
    {
        let mut world = ctx.world();
        let m = match leased(&mut world, app, id, nonce) {
            Ok(m) => m,
            Err(resp) => return resp,
        };
        if !force
            && !matches!(
                m.state.as_str(),
                "created" | "stopped" | "suspended" | "failed"
            )
        {
            return errors::fly(
                412,
                format!(
                    "failed_precondition: unable to destroy machine, not currently stopped (state '{}'); use force=true",
                    m.state
                ),
            );
        }
        // Asynchronous as on Fly: `destroying` now, `destroyed` (volumes released) after the delay.
        let generation = set_state(m, "destroying", "destroy", "user");
        m.lease = None;
        let (ctx2, id) = (ctx.clone(), id.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(ctx2.destroy_delay()).await;
            {
                let mut world = ctx2.world();
                let Some(m) = world
                    .machines
                    .get_mut(&id)
                    .filter(|m| m.generation == generation)
                else {
                    return;
                };
                set_state(m, "destroyed", "destroy", "flyd");
                let vols = std::mem::take(&mut m.volumes);
                for v in vols {
                    if let Some(vol) = world.volumes.get_mut(&v) {
                        vol.attached_machine_id = None;
                    }
                }
            }
            ctx2.changed.notify_waiters();
        });
    }
    ctx.changed.notify_waiters();
    HttpResponse::Ok().json(json!({ "ok": true }))
}
