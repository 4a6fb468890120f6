//! Customer secrets of a tenant's app: set, list names, unset. Values go to Fly and are never returned.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::input::{tenant_id, validate_secret_key};
use crate::state::AppState;
use crate::wire::{SecretKeys, SetSecretsRequest};

/// Most secrets set in one request.
const MAX_SECRETS: usize = 100;

#[utoipa::path(put, path = "/api/v1/tenants/{id}/secrets", tag = "secrets", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")), request_body = SetSecretsRequest,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn set(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<SetSecretsRequest>,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let customer = caller.require_active()?;
    let secrets = body.into_inner().secrets;
    if secrets.is_empty() || secrets.len() > MAX_SECRETS {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            format!("send between 1 and {MAX_SECRETS} secrets"),
        ));
    }
    for key in secrets.keys() {
        validate_secret_key(key)?;
    }
    let names: Vec<String> = secrets.keys().cloned().collect();
    state.commands()?.set_secrets(customer, id, secrets).await?;
    tracing::info!(tenant_id = %id, ?names, "secrets set");
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/tenants/{id}/secrets", tag = "secrets", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, body = SecretKeys), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let keys = state
        .commands()?
        .list_secret_names(&caller.customer, id)
        .await?;
    Ok(HttpResponse::Ok().json(SecretKeys { keys }))
}

#[utoipa::path(delete, path = "/api/v1/tenants/{id}/secrets/{key}", tag = "secrets", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id"), ("key" = String, Path, description = "secret name")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn unset(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let key = req.match_info().get("key").unwrap_or_default().to_owned();
    validate_secret_key(&key)?;
    let customer = caller.require_active()?;
    state.commands()?.unset_secret(customer, id, &key).await?;
    Ok(HttpResponse::NoContent().finish())
}
