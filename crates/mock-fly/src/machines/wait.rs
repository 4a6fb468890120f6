//! `GET .../wait?state=&version=|instance_id=&timeout=`: blocks until the machine (at that version)
//! reaches one of the states, or answers 408 when the timeout (default and max 60 s) runs out.

use std::time::Duration;

use actix_web::HttpResponse;
use serde_json::json;
use tokio::time::Instant;

use super::Query;
use crate::ctx::Shared;
use crate::errors;

const STATES: [&str; 6] = [
    "started",
    "stopped",
    "suspended",
    "destroyed",
    "failed",
    "settled",
];

fn matches(wanted: &[String], state: &str) -> bool {
    wanted.iter().any(|w| {
        w == state
            || (w == "settled"
                && matches!(
                    state,
                    "started" | "stopped" | "suspended" | "failed" | "destroyed"
                ))
    })
}

pub(crate) async fn wait(ctx: &Shared, app: &str, id: &str, q: &Query) -> HttpResponse {
    fn get<'a>(q: &'a Query, key: &'static str) -> impl Iterator<Item = &'a str> {
        q.iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    let mut wanted: Vec<String> = get(q, "state")
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if wanted.is_empty() {
        wanted.push("started".to_owned());
    }
    if let Some(bad) = wanted.iter().find(|s| !STATES.contains(&s.as_str())) {
        return errors::fly(
            400,
            format!(
                "invalid state {bad:?}, expected one of {}",
                STATES.join(", ")
            ),
        );
    }
    let version = get(q, "version")
        .chain(get(q, "instance_id"))
        .next()
        .map(str::to_owned);
    let timeout = match get(q, "timeout").next() {
        None => 60,
        Some(t) => match t.parse::<u64>() {
            Ok(t) => t.min(60),
            Err(_) => return errors::fly(400, format!("invalid timeout {t:?}, expected seconds")),
        },
    };
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        // Registered before looking, so a change between the look and the await is not missed.
        let notified = ctx.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let world = ctx.world();
            if world.visible_app(app).is_none() {
                return errors::app_not_found();
            }
            let Some(m) = world.machines.get(id).filter(|m| m.app == app) else {
                return errors::machine_not_found(id);
            };
            let right_version = version.as_deref().is_none_or(|v| v == m.instance_id);
            if right_version && matches(&wanted, &m.state) {
                return HttpResponse::Ok().json(json!({
                    "ok": true,
                    "state": m.state,
                    "version": m.instance_id,
                    "event_id": m.events.first().and_then(|e| e["id"].as_str()).unwrap_or_default(),
                }));
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return errors::fly(
                408,
                format!(
                    "deadline_exceeded: machine {id} did not reach state {} within {timeout}s",
                    wanted.join(",")
                ),
            );
        }
    }
}
