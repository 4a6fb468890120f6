//! `/__mock/faults`: the fault switchboard over HTTP, so a test can break a `mock-fly` *process*
//! (the chaos harness drives the real binaries) as it breaks an in-process mock with [`crate::Faults`].
//!
//! - `GET /__mock/faults` lists the active faults and how many calls each kind has acted on.
//! - `POST /__mock/faults` adds one fault, a JSON object with a `kind`:
//!   `{"kind":"fail_nth","op":"create_app","n":1,"status":503}`,
//!   `{"kind":"fail_next","op":"*","count":5,"status":503}`,
//!   `{"kind":"drop_connection","op":"create_volume","n":1}` (the call acts, its answer is lost),
//!   `{"kind":"latency","op":"wait_machine","ms":800}`,
//!   `{"kind":"rate_limit","op":"*","count":20,"retry_after":1}` (a 429 storm),
//!   `{"kind":"down","status":503,"for_ms":4000}` (Fly down; without `for_ms` until cleared),
//!   `{"kind":"up"}`, `{"kind":"linger","ms":3000}` (deletes stay visible that long; `"ms":null` resets).
//!   It answers 201 with the new listing; a body it cannot read, an unknown kind or a selector that
//!   names no operation is a 400 `{"error": ...}` and changes nothing.
//! - `DELETE /__mock/faults` removes every fault (the `fired` totals stay) and answers 200 with the listing.
//!
//! Like the other inspection routes it needs no token: it only exists in the fake.

use std::time::Duration;

use actix_web::HttpResponse;
use serde::Deserialize;

use crate::ctx::Shared;
use crate::errors;
use crate::faults::Selector;

/// Bodies of `POST /__mock/faults`. Unknown fields are refused: a misspelt `count` must not
/// silently inject a different fault.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum FaultSpec {
    FailNth {
        op: String,
        n: u32,
        status: u16,
    },
    FailNext {
        op: String,
        count: u32,
        status: u16,
    },
    DropConnection {
        op: String,
        #[serde(default = "one")]
        n: u32,
    },
    Latency {
        op: String,
        ms: u64,
    },
    RateLimit {
        op: String,
        count: u32,
        #[serde(default)]
        retry_after: Option<u64>,
    },
    Down {
        #[serde(default = "service_unavailable")]
        status: u16,
        #[serde(default)]
        for_ms: Option<u64>,
    },
    Up,
    Linger {
        ms: Option<u64>,
    },
}

fn one() -> u32 {
    1
}

fn service_unavailable() -> u16 {
    503
}

/// An injected status must be one a client can read as a failure: 4xx or 5xx.
fn check_status(status: u16) -> Result<(), String> {
    if (400..=599).contains(&status) {
        Ok(())
    } else {
        Err(format!("status must be 400 to 599, not {status}"))
    }
}

fn check_op(op: &str) -> Result<(), String> {
    if Selector::is_valid(op) {
        Ok(())
    } else {
        Err(format!(
            "selector {op:?} matches no operation (an operation name, a prefix ending in '*', or '*')"
        ))
    }
}

fn check(spec: &FaultSpec) -> Result<(), String> {
    match spec {
        FaultSpec::FailNth { op, n, status } => {
            check_op(op)?;
            check_status(*status)?;
            if *n == 0 {
                return Err("n counts from 1".into());
            }
        }
        FaultSpec::FailNext { op, status, .. } => {
            check_op(op)?;
            check_status(*status)?;
        }
        FaultSpec::DropConnection { op, n } => {
            check_op(op)?;
            if *n == 0 {
                return Err("n counts from 1".into());
            }
        }
        FaultSpec::Latency { op, ms } => {
            check_op(op)?;
            // A minute is already beyond any client's timeout; more is a typo.
            if *ms > 60_000 {
                return Err("latency is at most 60000 ms".into());
            }
        }
        FaultSpec::RateLimit { op, .. } => check_op(op)?,
        FaultSpec::Down { status, .. } => check_status(*status)?,
        FaultSpec::Up | FaultSpec::Linger { .. } => {}
    }
    Ok(())
}

pub(crate) fn list(ctx: &Shared) -> HttpResponse {
    HttpResponse::Ok().json(ctx.faults.view())
}

pub(crate) fn clear(ctx: &Shared) -> HttpResponse {
    ctx.faults.clear();
    list(ctx)
}

pub(crate) fn add(ctx: &Shared, body: &[u8]) -> HttpResponse {
    let spec: FaultSpec = match serde_json::from_slice(body) {
        Ok(s) => s,
        Err(e) => return errors::bad_json(e),
    };
    if let Err(msg) = check(&spec) {
        return errors::fly(400, msg);
    }
    let f = &ctx.faults;
    match spec {
        FaultSpec::FailNth { op, n, status } => f.fail_nth(op, n, status),
        FaultSpec::FailNext { op, count, status } => f.fail_next(op, count, status),
        FaultSpec::DropConnection { op, n } => f.drop_connection(op, n),
        FaultSpec::Latency { op, ms } => f.latency(op, Duration::from_millis(ms)),
        FaultSpec::RateLimit {
            op,
            count,
            retry_after,
        } => f.rate_limit_429(op, count, retry_after),
        FaultSpec::Down {
            status,
            for_ms: Some(ms),
        } => f.down_for(status, Duration::from_millis(ms)),
        FaultSpec::Down {
            status,
            for_ms: None,
        } => f.fail_all(status),
        FaultSpec::Up => f.set_down(false),
        FaultSpec::Linger { ms } => f.set_destroy_delay(ms.map(Duration::from_millis)),
    }
    tracing::info!(faults = ?f.view().faults.len(), "mock-fly: fault added over HTTP");
    HttpResponse::Created().json(f.view())
}
