//! The owner's tenant credentials: the `secrets_url` target (`GET .../credentials`), password rotation
//! and external database access. These answers carry secrets, so they are never cached
//! (`cache-control: no-store`) and the handlers log tenant ids only.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::input::tenant_id;
use crate::state::AppState;
use crate::wire::{
    Data, ExternalDbAccess, ExternalDbAccessRequest, RotateCredentials, TenantSecrets,
};

/// `status` of a rotation's answer.
const ROTATED: &str = "rotated";

fn no_store() -> actix_web::HttpResponseBuilder {
    let mut resp = HttpResponse::Ok();
    resp.insert_header(("cache-control", "no-store"));
    resp
}

/// The tenant's credentials (bare `TenantSecrets`): what `/status` names as `secrets_url`.
#[utoipa::path(get, path = "/api/v1/tenants/{id}/credentials", tag = "tenants", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, body = TenantSecrets), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let customer = caller.require_active()?;
    let c = state.commands()?.credentials(customer, id).await?;
    tracing::info!(tenant_id = %id, "tenant credentials read by the owner");
    Ok(no_store().json(TenantSecrets {
        jwt_secret: c.jwt_secret,
        database_url: c.database_url,
        internal_database_url: c.internal_database_url,
        app_url: c.app_url,
    }))
}

/// Gives the tenant's database a new password; the app's `DATABASE_URL` and its machine follow.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/rotate-credentials", tag = "tenants", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, body = RotateCredentials), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn rotate(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let customer = caller.require_active()?;
    let r = state.commands()?.rotate_credentials(customer, id).await?;
    tracing::info!(tenant_id = %id, "tenant credentials rotated");
    Ok(no_store().json(RotateCredentials {
        status: ROTATED.to_owned(),
        message:
            "database password rotated; the app's DATABASE_URL uses the new one and a running \
                  machine is redeployed with it (before the first deploy, that deploy uses it)"
                .to_owned(),
        internal_database_url: r.internal_database_url,
        external_database_url: r.external_database_url,
    }))
}

/// Records whether the tenant's database may be reached through the public endpoint.
#[utoipa::path(put, path = "/api/v1/tenants/{id}/external-db-access", tag = "tenants", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")), request_body = ExternalDbAccessRequest,
    responses((status = 200, body = Data<ExternalDbAccess>), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn set_external_db_access(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<ExternalDbAccessRequest>,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let customer = caller.require_active()?;
    let enabled = body.into_inner().enabled;
    let a = state
        .commands()?
        .set_external_db_access(customer, id, enabled)
        .await?;
    tracing::info!(tenant_id = %id, enabled, "external database access set");
    Ok(no_store().json(Data::new(ExternalDbAccess {
        tenant_id: id.to_string(),
        external_db_access: a.enabled,
        database_url: a.database_url,
    })))
}
