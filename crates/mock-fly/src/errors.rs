//! Error responses in the two wire formats the mock speaks: Fly's `{"error": ...}` and the registry's
//! `{"errors": [{"code", "message", "detail"}]}`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Value, json};

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Fly's error body: `{"error": "<message>"}`.
pub(crate) fn fly(code: u16, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status(code)).json(json!({ "error": message.into() }))
}

/// Fly's error body with a machine-readable `status` (`name_taken`, `unknown`, ...).
pub(crate) fn fly_status(code: u16, message: impl Into<String>, fly_status: &str) -> HttpResponse {
    HttpResponse::build(status(code)).json(json!({ "error": message.into(), "status": fly_status }))
}

/// 404 for an app that does not exist (or is not yet visible).
pub(crate) fn app_not_found() -> HttpResponse {
    fly(404, "app not found")
}

pub(crate) fn machine_not_found(id: &str) -> HttpResponse {
    fly(404, format!("machine not found: {id}"))
}

/// A request body that is not the JSON the endpoint expects.
pub(crate) fn bad_json(err: impl std::fmt::Display) -> HttpResponse {
    fly(400, format!("invalid request body: {err}"))
}

/// The registry's error body, always with `Docker-Distribution-API-Version`. A `null` detail is
/// left out, as distribution's `omitempty` does.
pub(crate) fn registry(code: u16, err_code: &str, message: &str, detail: Value) -> HttpResponse {
    let mut error = json!({ "code": err_code, "message": message });
    if !detail.is_null() {
        error["detail"] = detail;
    }
    HttpResponse::build(status(code))
        .insert_header(("Docker-Distribution-API-Version", "registry/2.0"))
        .json(json!({ "errors": [error] }))
}
