//! The one entry point of every request: route, record, inject faults, authenticate, then hand over
//! to the resource. The routing table is [`classify`]: anything it does not know is a loud 404.

use std::sync::{Mutex, MutexGuard};

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use serde::Serialize;

use crate::faults::Faults;
use crate::state::State;
use crate::webhooks::{Hub, Outgoing};
use crate::{control, errors, subscriptions, transactions};

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub api_key: String,
    pub faults: Faults,
    state: Mutex<State>,
    log: Mutex<(Vec<RecordedRequest>, Vec<String>)>,
    pub hub: std::sync::Arc<Hub>,
    outbox: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Outgoing>>>,
    /// `http://127.0.0.1:PORT` once bound.
    pub base: Mutex<String>,
    /// Where the payment page sends the browser after paying (`?_ptxn=` is appended).
    pub success_url: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn new(api_key: String) -> Self {
        Self {
            api_key,
            faults: Faults::default(),
            state: Mutex::new(State::default()),
            log: Mutex::new((Vec::new(), Vec::new())),
            hub: std::sync::Arc::new(Hub::default()),
            outbox: Mutex::new(None),
            base: Mutex::new(String::new()),
            success_url: Mutex::new(None),
        }
    }

    pub(crate) fn set_outbox(&self, tx: tokio::sync::mpsc::UnboundedSender<Outgoing>) {
        *self.outbox.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    }

    /// Queues a notification (sent only while a destination is configured).
    pub(crate) fn emit(&self, event_type: &str, data: serde_json::Value) -> String {
        let event = self.hub.event(event_type, data);
        let id = event.id.clone();
        if let Some(tx) = self
            .outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let _ = tx.send(event);
        }
        id
    }

    /// The mock's own payment page (the account's default payment link).
    pub(crate) fn checkout_base(&self) -> String {
        format!(
            "{}/checkout",
            self.base.lock().unwrap_or_else(|p| p.into_inner())
        )
    }

    pub(crate) fn configure_webhooks(&self, url: String, secret: String) {
        *self
            .hub
            .destination
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = crate::webhooks::Destination {
            url: Some(url),
            secret,
        };
    }

    pub(crate) fn success_url(&self) -> Option<String> {
        self.success_url
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn log(&self) -> MutexGuard<'_, (Vec<RecordedRequest>, Vec<String>)> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.log().0.clone()
    }

    pub(crate) fn unknown_routes(&self) -> Vec<String> {
        self.log().1.clone()
    }
}

/// The routes: Paddle's API (authenticated, faults apply) and the mock's control routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    GetSubscription(String),
    CancelSubscription(String),
    CreateTransaction,
    /// The hosted payment page and its button (a browser's, no API key).
    CheckoutPage,
    CheckoutPay,
    Control(control::Control),
}

impl Route {
    /// The operation name faults match on.
    fn op(&self) -> &'static str {
        match self {
            Route::GetSubscription(_) => "get_subscription",
            Route::CancelSubscription(_) => "cancel_subscription",
            Route::CreateTransaction => "create_transaction",
            Route::CheckoutPage | Route::CheckoutPay | Route::Control(_) => "control",
        }
    }
}

pub(crate) fn classify(method: &Method, path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let route = match (method.as_str(), segs.as_slice()) {
        ("GET", ["subscriptions", id]) if !id.is_empty() => {
            Route::GetSubscription((*id).to_owned())
        }
        ("POST", ["subscriptions", id, "cancel"]) if !id.is_empty() => {
            Route::CancelSubscription((*id).to_owned())
        }
        ("POST", ["transactions"]) => Route::CreateTransaction,
        ("GET", ["checkout"]) => Route::CheckoutPage,
        ("POST", ["checkout", "pay"]) => Route::CheckoutPay,
        (_, ["__mock", ..]) => Route::Control(control::classify(method, &segs[1..])?),
        _ => return None,
    };
    Some(route)
}

pub(crate) async fn entry(req: HttpRequest, body: Bytes, ctx: web::Data<Shared>) -> HttpResponse {
    let resp = match classify(req.method(), req.path()) {
        None => unknown(&ctx, &req),
        Some(Route::Control(c)) => control::handle(&ctx, c, &body),
        Some(Route::CheckoutPage) => transactions::page(&ctx, req.query_string()),
        Some(Route::CheckoutPay) => transactions::pay(&ctx, &body),
        Some(route) => paddle(&ctx, &req, route, &body).await,
    };
    ctx.log().0.push(RecordedRequest {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        status: resp.status().as_u16(),
    });
    resp
}

/// Loud on purpose: a client calling a route the fake lacks is a client bug or a gap in the fake.
fn unknown(ctx: &Shared, req: &HttpRequest) -> HttpResponse {
    let line = format!("{} {}", req.method(), req.path());
    tracing::error!(route = %line, "mock-paddle: UNKNOWN ROUTE");
    ctx.log().1.push(line.clone());
    errors::error(
        404,
        "shared",
        "not_found",
        &format!("mock-paddle: unknown route {line}"),
    )
}

/// Paddle's bearer authentication, with its documented answers.
fn authenticate(ctx: &Shared, req: &HttpRequest) -> Result<(), HttpResponse> {
    let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) else {
        return Err(errors::error(
            403,
            "shared",
            "authentication_missing",
            "Authentication header missing.",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| !t.is_empty());
    match token {
        None => Err(errors::error(
            403,
            "shared",
            "authentication_malformed",
            "Authentication header included, but incorrectly formatted.",
        )),
        Some(t) if t != ctx.api_key => Err(errors::error(
            403,
            "shared",
            "invalid_token",
            "Invalid or revoked API key.",
        )),
        Some(_) => Ok(()),
    }
}

async fn paddle(ctx: &Shared, req: &HttpRequest, route: Route, body: &[u8]) -> HttpResponse {
    let decision = ctx.faults.decide(route.op());
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    if let Some(status) = decision.status {
        return errors::error(
            status,
            "shared",
            if status >= 500 {
                "internal_error"
            } else {
                "bad_request"
            },
            "mock-paddle: injected fault",
        );
    }
    if let Err(resp) = authenticate(ctx, req) {
        return resp;
    }
    let resp = match route {
        Route::GetSubscription(id) => subscriptions::get(ctx, &id),
        Route::CancelSubscription(id) => subscriptions::cancel(ctx, &id, body),
        Route::CreateTransaction => transactions::create(ctx, body),
        Route::CheckoutPage => transactions::page(ctx, req.query_string()),
        Route::CheckoutPay => transactions::pay(ctx, body),
        Route::Control(c) => control::handle(ctx, c, body),
    };
    if decision.drop_after_acting {
        tracing::warn!(
            op = route_name(req),
            "mock-paddle: acted, dropping the answer as injected"
        );
        return dropped(resp.status());
    }
    resp
}

fn route_name(req: &HttpRequest) -> String {
    format!("{} {}", req.method(), req.path())
}

/// A response whose body fails at once: actix aborts the connection and the client never receives
/// a complete answer.
fn dropped(status: actix_web::http::StatusCode) -> HttpResponse {
    let body = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("mock-paddle: injected lost answer"))
    });
    HttpResponse::build(status).streaming(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paddle_and_control_routes() {
        assert_eq!(
            classify(&Method::POST, "/subscriptions/sub_1/cancel"),
            Some(Route::CancelSubscription("sub_1".into()))
        );
        assert_eq!(
            classify(&Method::GET, "/subscriptions/sub_1"),
            Some(Route::GetSubscription("sub_1".into()))
        );
        assert!(classify(&Method::GET, "/subscriptions/sub_1/cancel").is_none());
        assert!(classify(&Method::POST, "/subscriptions//cancel").is_none());
        assert!(classify(&Method::GET, "/customers").is_none());
    }
}
