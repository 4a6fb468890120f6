//! Simulated image behaviour: a digest can be marked to fail its health check, crash-loop or run out
//! of memory, so a machine running it reports `checks` and `exit` events as Fly does for such images.
//! Every other image starts and passes its checks.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::lifecycle::{event, set_state};
use crate::ctx::Shared;
use crate::state::MachineRecord;

/// How an image behaves once a machine boots it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageBehaviour {
    /// Starts and answers its health check.
    #[default]
    Healthy,
    /// Starts, but its HTTP check answers 503 (`critical`).
    FailsHealthCheck,
    /// The process exits with code 1 shortly after each start; flyd restarts it a few times, then
    /// leaves the machine `stopped`.
    CrashLoop,
    /// As `CrashLoop`, but the kernel kills it for memory (exit code 137, `oom_killed`).
    OutOfMemory,
}

impl ImageBehaviour {
    /// The `/__mock/images/{digest}/{behaviour}` spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "healthy" => Self::Healthy,
            "fails-health-check" => Self::FailsHealthCheck,
            "crash-loop" => Self::CrashLoop,
            "oom" => Self::OutOfMemory,
            _ => return None,
        })
    }

    fn crashes(self) -> Option<(i64, bool)> {
        match self {
            Self::CrashLoop => Some((1, false)),
            Self::OutOfMemory => Some((137, true)),
            _ => None,
        }
    }
}

/// Restarts flyd attempts after a crash before it gives up (Fly's `always` policy retries a few
/// times quickly, then the machine stays down).
const MAX_RESTARTS: u64 = 3;

/// The digest an image reference pins (`…@sha256:…`), or the reference itself.
fn digest_of(image: &str) -> &str {
    image.rsplit_once('@').map_or(image, |(_, d)| d)
}

/// The behaviour configured for the machine's image.
pub(crate) fn behaviour_of(ctx: &Shared, image: &str) -> ImageBehaviour {
    ctx.image_behaviour(digest_of(image))
}

/// `POST /__mock/images/{digest}/{behaviour}`.
pub(crate) fn mark(ctx: &Shared, digest: &str, behaviour: &str) -> HttpResponse {
    match ImageBehaviour::parse(behaviour) {
        Some(b) => {
            ctx.set_image_behaviour(digest, b);
            HttpResponse::Ok().json(json!({ "digest": digest, "behaviour": b }))
        }
        None => crate::errors::fly(
            400,
            format!(
                "unknown behaviour {behaviour:?}: healthy, fails-health-check, crash-loop or oom"
            ),
        ),
    }
}

/// Fly's `checks` of a machine answer: one entry per configured check, passing only while the
/// machine is started and its image answers.
pub(crate) fn checks_json(ctx: &Shared, m: &MachineRecord) -> Value {
    let Some(checks) = m.config["checks"].as_object() else {
        return json!([]);
    };
    let behaviour = behaviour_of(ctx, &m.image);
    let started = m.state == "started";
    let out: Vec<Value> = checks
        .iter()
        .map(|(name, c)| {
            let port = c["port"].as_u64().unwrap_or_default();
            let path = c["path"].as_str().unwrap_or("/");
            let target = match c["type"].as_str() {
                Some("http") => format!("GET http://[{}]:{port}{path}", m.private_ip),
                _ => format!("TCP [{}]:{port}", m.private_ip),
            };
            let (status, output) = match (started, behaviour) {
                (true, ImageBehaviour::Healthy) => ("passing", format!("{target}: 200 OK")),
                (true, ImageBehaviour::FailsHealthCheck) => (
                    "critical",
                    format!("{target}: 503 Service Unavailable Output: \"database unreachable\""),
                ),
                _ => ("critical", format!("{target}: connect: connection refused")),
            };
            json!({
                "name": name, "status": status, "output": output,
                "updated_at": m.updated_at.to_rfc3339(),
            })
        })
        .collect();
    Value::Array(out)
}

/// Becomes `started` after the start delay; a crashing image then exits after another delay and is
/// restarted by flyd until `MAX_RESTARTS`, after which the machine stays `stopped`.
pub(crate) fn run(ctx: &web::Data<Shared>, id: &str, generation: u64) {
    let ctx = ctx.clone();
    let id = id.to_owned();
    tokio::spawn(async move {
        let delay = ctx.config.machine_start_delay;
        let mut restarts = 0u64;
        let mut generation = generation;
        loop {
            tokio::time::sleep(delay).await;
            let crash = {
                let mut world = ctx.world();
                let Some(m) = world
                    .machines
                    .get_mut(&id)
                    .filter(|m| m.generation == generation && m.state != "destroyed")
                else {
                    return;
                };
                generation = set_state(m, "started", "start", "flyd");
                behaviour_of(&ctx, &m.image).crashes()
            };
            ctx.changed.notify_waiters();
            let Some((code, oom)) = crash else { return };
            // The process runs briefly before it dies.
            tokio::time::sleep(delay.max(Duration::from_millis(20))).await;
            {
                let mut world = ctx.world();
                let Some(m) = world
                    .machines
                    .get_mut(&id)
                    .filter(|m| m.generation == generation && m.state != "destroyed")
                else {
                    return;
                };
                let restarting = restarts < MAX_RESTARTS;
                let state = if restarting { "starting" } else { "stopped" };
                generation = set_state(m, state, "exit", "flyd");
                let mut exit = event("exit", state, "flyd");
                exit["request"] = json!({
                    "exit_event": {
                        "exit_code": code, "oom_killed": oom, "requested_stop": false,
                        "restarting": restarting, "exited_at": chrono::Utc::now().to_rfc3339(),
                    },
                    "restart_count": restarts,
                });
                m.events[0] = exit;
                if !restarting {
                    drop(world);
                    ctx.changed.notify_waiters();
                    return;
                }
            }
            restarts += 1;
            ctx.changed.notify_waiters();
        }
    });
}
