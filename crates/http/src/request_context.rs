//! Per-request context middleware: request id, `x-request-id` header, request metrics.
//!
//! The request id is the one tracing-actix-web put on the request's root span (so it is in every log line
//! of the request); it is also kept in a task-local so that an error answered as an opaque 500 can name it
//! without each handler passing it around.

use std::time::Instant;

use std::panic::AssertUnwindSafe;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use futures::FutureExt;
use tracing_actix_web::RequestId;

use crate::error::ApiError;

use crate::state::AppState;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, or `unknown` outside of one.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Runs the rest of the chain inside the request's context and records its metrics. A panic in a
/// handler becomes the opaque 500 with the request id (actix would otherwise drop the connection).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|id| id.to_string())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let method = crate::metrics::method_label(req.method());
    let started = Instant::now();
    let guarded = AssertUnwindSafe(next.call(req)).catch_unwind();
    let result = REQUEST_ID
        .scope(request_id.clone(), async {
            match guarded.await {
                Ok(outcome) => outcome.map(ServiceResponse::map_into_boxed_body),
                // The request is gone with the panicking future; actix renders the error (the 500
                // names the request id, captured here inside the request's scope).
                Err(_) => Err(ApiError::internal("a handler panicked").into()),
            }
        })
        .await;
    let (route, status) = match &result {
        Ok(res) => (
            res.request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned()),
            res.status().as_u16(),
        ),
        Err(e) => (
            "unmatched".to_owned(),
            e.as_response_error().status_code().as_u16(),
        ),
    };
    if let Some(m) = metrics {
        m.observe_request(method, route, status, started.elapsed());
    }
    log_failure(&result, status);
    result.map(|mut res| {
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            res.headers_mut()
                .insert(HeaderName::from_static("x-request-id"), v);
        }
        res
    })
}

/// The one line a failed request gets, in the request's span (tracing-actix-web's own per-error event
/// is turned off in the workspace manifest): a 429 at debug — a refused flood must not cost a log line
/// per request; the limits write a summary —, other client errors at warn, server errors at error. The
/// error's `Display` is its public message and code only.
fn log_failure(result: &Result<ServiceResponse<BoxBody>, Error>, status: u16) {
    let error = match result {
        Ok(res) => res.response().error(),
        Err(e) => Some(e),
    };
    let Some(error) = error else { return };
    match status {
        429 => tracing::debug!(status, %error, "request refused"),
        400..=499 => tracing::warn!(status, %error, "request failed"),
        _ => tracing::error!(status, %error, "request failed"),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, ResponseError, test, web};

    use super::*;

    async fn boom() -> HttpResponse {
        panic!("handler bug with internal detail")
    }

    #[actix_web::test]
    async fn a_panic_is_an_opaque_500_naming_the_request_id() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(middleware))
                .route("/boom", web::get().to(boom)),
        )
        .await;
        // actix's dispatcher renders a service error with `error_response`, as done here.
        let err = test::try_call_service(&app, test::TestRequest::get().uri("/boom").to_request())
            .await
            .unwrap_err();
        let resp = err.error_response();
        assert_eq!(resp.status(), 500);
        let bytes = actix_web::body::to_bytes(resp.into_body()).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "internal_error");
        let message = body["error"]["message"].as_str().unwrap();
        let id = message
            .split("request id ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{message}");
        assert!(!message.contains("internal detail"));
    }

    #[actix_web::test]
    async fn errors_carry_the_request_id_header() {
        let app = test::init_service(App::new().wrap(from_fn(middleware)).route(
            "/nf",
            web::get().to(|| async { ApiError::tenant_not_found().error_response() }),
        ))
        .await;
        let resp = test::call_service(&app, test::TestRequest::get().uri("/nf").to_request()).await;
        assert_eq!(resp.status(), 404);
        assert!(resp.headers().contains_key("x-request-id"));
    }
}
