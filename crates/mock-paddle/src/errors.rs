//! Paddle's error envelope, with the codes and statuses its documentation lists.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Value, json};

/// `{"meta": {"request_id"}}` of every answer.
pub(crate) fn meta() -> Value {
    json!({ "request_id": uuid::Uuid::new_v4().to_string() })
}

/// `{"error": {"type", "code", "detail", "documentation_url"}, "meta"}`; `area` is the documentation
/// folder (`shared`, `subscriptions`).
pub(crate) fn error(status: u16, area: &str, code: &str, detail: &str) -> HttpResponse {
    error_with(status, area, code, detail, None)
}

pub(crate) fn error_with(
    status: u16,
    area: &str,
    code: &str,
    detail: &str,
    field_errors: Option<Value>,
) -> HttpResponse {
    let kind = if status >= 500 {
        "api_error"
    } else {
        "request_error"
    };
    let mut body = json!({
        "error": {
            "type": kind,
            "code": code,
            "detail": detail,
            "documentation_url": format!("https://developer.paddle.com/errors/{area}/{code}"),
        },
        "meta": meta(),
    });
    if let Some(errors) = field_errors {
        body["error"]["errors"] = errors;
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(body)
}

/// 400 `invalid_field` naming the field.
pub(crate) fn invalid_field(field: &str, message: &str) -> HttpResponse {
    error_with(
        400,
        "shared",
        "invalid_field",
        "Request does not pass validation.",
        Some(json!([{ "field": field, "message": message }])),
    )
}

/// 404 `not_found` for an entity.
pub(crate) fn not_found(id: &str) -> HttpResponse {
    error(
        404,
        "shared",
        "not_found",
        &format!("Entity {id} not found"),
    )
}
