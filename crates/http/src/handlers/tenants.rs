//! Tenant endpoints: list, create, get, status, delete.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::input::tenant_id;
use crate::ports::CreateTenantCommand;
use crate::state::AppState;
use crate::wire::{CreateTenantRequest, Data, TenantDetail, TenantStatus, TenantSummary};

/// The caller's tenants (deleted ones excluded), oldest first.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, body = Data<Vec<TenantSummary>>), (status = 401, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    let tenants = state
        .repos
        .tenants
        .list_for_customer(caller.customer.id)
        .await?;
    let body: Vec<TenantSummary> = tenants.iter().map(TenantSummary::from).collect();
    Ok(HttpResponse::Ok().json(Data::new(body)))
}

/// Creates a tenant; provisioning runs in the background (poll status or follow events).
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])),
    request_body = CreateTenantRequest,
    responses((status = 202, body = Data<TenantDetail>), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateTenantRequest>,
) -> ApiResult<HttpResponse> {
    let customer = caller.require_active()?;
    let body = body.into_inner();
    let cmd = CreateTenantCommand {
        name: body.name,
        plan_id: body.plan,
        region: body.region,
    };
    let tenant = state.commands()?.create_tenant(customer, cmd).await?;
    tracing::info!(tenant_id = %tenant.id, "tenant created");
    Ok(HttpResponse::Accepted().json(Data::new(TenantDetail::from(&tenant))))
}

#[utoipa::path(get, path = "/api/v1/tenants/{id}", tag = "tenants", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id (lowercase hyphenated UUID)")),
    responses((status = 200, body = Data<TenantDetail>), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let tenant = state
        .repos
        .tenants
        .get_for_customer(id, caller.customer.id)
        .await?;
    Ok(HttpResponse::Ok().json(Data::new(TenantDetail::from(&tenant))))
}

/// The CLI polls this: `ready` is done, `failed` failed, anything else means keep polling.
#[utoipa::path(get, path = "/api/v1/tenants/{id}/status", tag = "tenants", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, body = Data<TenantStatus>), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn status(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let tenant = state
        .repos
        .tenants
        .get_for_customer(id, caller.customer.id)
        .await?;
    let has_app = tenant.state.accepts_deploy() && tenant.machine_id.is_some();
    let body = TenantStatus {
        status: tenant.state.cli_status().as_str().to_owned(),
        message: tenant.status_message.clone(),
        app_url: has_app.then(|| tenant.app_url()),
        secrets_url: None,
    };
    Ok(HttpResponse::Ok().json(Data::new(body)))
}

/// Deletes the tenant: every resource is cleaned up by a durable background job.
#[utoipa::path(delete, path = "/api/v1/tenants/{id}", tag = "tenants", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 202, body = Data<TenantDetail>), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let customer = caller.require_active()?;
    let tenant = state.commands()?.delete_tenant(customer, id).await?;
    tracing::info!(tenant_id = %tenant.id, "tenant deletion accepted");
    Ok(HttpResponse::Accepted().json(Data::new(TenantDetail::from(&tenant))))
}
