//! The one entry point of every request: route, record, inject faults, authenticate, rate-limit,
//! then hand over to the Machines API or the registry.

use std::time::Duration;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use serde_json::json;

use crate::ctx::{RecordedRequest, Shared};
use crate::faults::Action;
use crate::ops::Op;
use crate::route::{Route, classify};
use crate::snapshot::StateSnapshot;
use crate::{auth, errors, faults_http, machines, registry};

pub(crate) async fn entry(
    req: HttpRequest,
    payload: web::Payload,
    ctx: web::Data<Shared>,
) -> HttpResponse {
    let route = classify(req.method(), req.path());
    let op = route.as_ref().map(Route::op);
    let resp = match route {
        None => unknown(&ctx, req.method(), req.path()),
        Some(Route::Inspect(op)) => inspect(&ctx, op),
        Some(Route::IssueCertificate(host)) => machines::certs::issue(&ctx, &host),
        Some(Route::ImageBehaviour(digest, b)) => machines::health::mark(&ctx, &digest, &b),
        Some(Route::Faults(op)) => faults_route(&ctx, op, payload).await,
        Some(route) => gated(&ctx, &req, route, payload).await,
    };
    ctx.record(RecordedRequest {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        status: resp.status().as_u16(),
        op: op.map(|o| o.as_str().to_owned()),
    });
    resp
}

/// Loud on purpose: a client calling a route the mock lacks is either a client bug or a gap in the mock.
fn unknown(ctx: &Shared, method: &Method, path: &str) -> HttpResponse {
    let line = format!("{method} {path}");
    tracing::error!(route = %line, "mock-fly: UNKNOWN ROUTE; neither the mock nor (probably) Fly serves it");
    ctx.report_unknown(line.clone());
    errors::fly(404, format!("mock-fly: unknown route {line}"))
}

fn inspect(ctx: &Shared, op: Op) -> HttpResponse {
    match op {
        Op::MockState => HttpResponse::Ok().json(StateSnapshot::of(&ctx.world())),
        _ => HttpResponse::Ok().json(json!({
            "requests": ctx.requests(),
            "unknown_routes": ctx.unknown_routes(),
        })),
    }
}

/// `/__mock/faults`: list, add (JSON body, at most 64 KiB) or clear.
async fn faults_route(ctx: &Shared, op: Op, payload: web::Payload) -> HttpResponse {
    match op {
        Op::MockFaultsSet => match payload.to_bytes_limited(64 * 1024).await {
            Ok(Ok(body)) => faults_http::add(ctx, &body),
            Ok(Err(e)) => errors::bad_json(e),
            Err(_) => errors::fly(413, "fault body larger than 64 KiB"),
        },
        Op::MockFaultsClear => faults_http::clear(ctx),
        _ => faults_http::list(ctx),
    }
}

fn rate_key(segs: &[String]) -> &str {
    match segs {
        [_, _, kind, id, ..] if kind == "machines" => id,
        [_, app, ..] => app,
        _ => "org",
    }
}

async fn gated(
    ctx: &web::Data<Shared>,
    req: &HttpRequest,
    route: Route,
    payload: web::Payload,
) -> HttpResponse {
    let op = route.op();
    let (latency, action) = ctx.faults.decide(op);
    if latency > Duration::ZERO {
        tokio::time::sleep(latency).await;
    }
    match action {
        Some(Action::Fail(status)) => return injected(op, status),
        Some(Action::TooMany(retry_after)) => return too_many(op, retry_after),
        _ => {}
    }
    let token = ctx.config.token.as_str();
    if op.is_registry() && !auth::registry_ok(req, token) {
        let mut resp =
            errors::registry(401, "UNAUTHORIZED", "authentication required", json!(null));
        resp.headers_mut().insert(
            actix_web::http::header::WWW_AUTHENTICATE,
            actix_web::http::header::HeaderValue::from_static("Basic realm=\"mock-fly registry\""),
        );
        return resp;
    }
    if !op.is_registry() && !auth::machines_ok(req, token) {
        return errors::fly(401, "You must be authenticated to view this.");
    }
    let resp = match route {
        Route::Machines { op, segs } => {
            if ctx.config.rate_limits && !ctx.limiter.allow(op, rate_key(&segs)) {
                return too_many(op, None);
            }
            machines::dispatch(ctx, req, op, &segs, payload).await
        }
        Route::Registry { op, path } => registry::dispatch(ctx, req, op, path, payload).await,
        Route::Inspect(op) => inspect(ctx, op),
        Route::IssueCertificate(host) => machines::certs::issue(ctx, &host),
        Route::ImageBehaviour(digest, b) => machines::health::mark(ctx, &digest, &b),
        Route::Faults(op) => faults_route(ctx, op, payload).await,
    };
    if action == Some(Action::Drop) {
        tracing::warn!(op = %op, "mock-fly: dropping the connection as injected");
        return dropped(resp.status());
    }
    resp
}

fn injected(op: Op, status: u16) -> HttpResponse {
    let msg = format!("mock-fly injected fault on {op}");
    if op.is_registry() {
        errors::registry(status, "UNKNOWN", &msg, json!(null))
    } else {
        errors::fly(status, msg)
    }
}

fn too_many(op: Op, retry_after: Option<u64>) -> HttpResponse {
    let mut resp = if op.is_registry() {
        errors::registry(429, "TOOMANYREQUESTS", "too many requests", json!(null))
    } else {
        errors::fly(429, "rate limit exceeded")
    };
    if let Some(secs) = retry_after {
        resp.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(secs),
        );
    }
    resp
}

/// A response whose body fails at once: actix aborts the connection and the client never
/// receives a complete answer.
fn dropped(status: actix_web::http::StatusCode) -> HttpResponse {
    let body = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other(
            "mock-fly: injected dropped connection",
        ))
    });
    HttpResponse::build(status).streaming(body)
}
