//! Subscription cancel: the CLI decodes the answer as a unit value, so success is `200` with the JSON
//! literal `null` (a 204 or `{}` makes it report a failure although the cancel happened).

use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::input::tenant_id;
use crate::state::AppState;

/// Cancels the tenant's subscription at the end of its billing period; idempotent. Errors: 404
/// `tenant_not_found` / `subscription_not_found`; 503 `billing_disabled` (not configured) or
/// `upstream_unavailable` (the provider is unreachable; nothing was recorded, retry); 502
/// `upstream_refused` (the provider refused for a reason a retry will not change); 409 `conflict`
/// (another change is pending at the provider).
#[utoipa::path(post, path = "/api/v1/tenants/{id}/subscription/cancel", tag = "billing",
    security(("bearer" = [])), params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, content_type = "application/json", description = "the JSON literal `null`"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let customer = caller.require_active()?;
    state.billing()?.cancel_subscription(customer, id).await?;
    tracing::info!(tenant_id = %id, "subscription cancel confirmed");
    Ok(HttpResponse::Ok()
        .insert_header(ContentType::json())
        .body("null"))
}
