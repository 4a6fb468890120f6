//! `POST /api/v1/webhooks/paddle`: Paddle's notifications. No bearer: the `Paddle-Signature` over the
//! raw body is the authentication, so the body is read as bytes (at most 256 KiB) and handed over
//! untouched. 200 once stored and acted on (or a redelivery of one acted on already); 401 for a bad
//! signature and 400 for a malformed event, nothing stored; 503 when acting must be retried (Paddle
//! redelivers on any non-2xx).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// Largest body read (Paddle's events are a few KB).
const MAX_BODY: usize = 256 * 1024;

#[utoipa::path(post, path = "/api/v1/webhooks/paddle", tag = "checkout",
    params(("Paddle-Signature" = String, Header, description = "ts=…;h1=…")),
    responses((status = 200, description = "stored and acted on"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::bad_request("invalid_body", "the request body could not be read")
        })?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body exceeds {MAX_BODY} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let signature = req
        .headers()
        .get("paddle-signature")
        .and_then(|v| v.to_str().ok());
    state.signup()?.receive_webhook(signature, &body).await?;
    Ok(HttpResponse::Ok().finish())
}
