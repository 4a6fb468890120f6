//! Tenant endpoints: list, create, get, status, delete.

use actix_web::{HttpRequest, HttpResponse, web};
use mgmt_domain::{CliStatus, Deployment, Tenant, TenantState};

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::input::tenant_id;
use crate::ports::CreateTenantCommand;
use crate::state::AppState;
use crate::wire::{
    CreateTenantRequest, Data, LastDeploy, TenantDetail, TenantStatus, TenantSummary,
};

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
    let last = state.repos.deployments.latest_for_tenant(id).await?;
    let provisioned = tenant.infrastructure_ready();
    let body = TenantStatus {
        status: tenant.cli_status().as_str().to_owned(),
        message: status_message(&tenant, last.as_ref()),
        app_url: provisioned.then(|| tenant.app_url()),
        secrets_url: provisioned.then(|| secrets_path(&tenant)),
        state: tenant.state.as_str().to_owned(),
        deployed_digest: tenant.deployed_digest.clone(),
        last_deploy: last.as_ref().map(LastDeploy::from),
    };
    Ok(HttpResponse::Ok().json(Data::new(body)))
}

/// The `secrets_url` of a tenant: a path (the CLI appends it to its API URL), never `…/secrets`, which
/// answers another shape.
pub fn secrets_path(tenant: &Tenant) -> String {
    format!("/api/v1/tenants/{}/credentials", tenant.id)
}

/// What `/status` says in words. For a ready tenant the finer state (awaiting the first deploy,
/// deploying, running which digest, the last deploy failed) is spelled out here, since the CLI prints
/// the message and `status` itself stays `ready`.
fn status_message(tenant: &Tenant, last: Option<&Deployment>) -> Option<String> {
    let running = tenant
        .deployed_digest
        .as_deref()
        .map(|d| format!("running {d}"));
    let text = match (tenant.state, tenant.cli_status()) {
        (TenantState::AwaitingDeploy, _) => {
            "ready; awaiting the first deploy: push your image and deploy it".to_owned()
        }
        (TenantState::Deploying, _) => {
            let target = last
                .and_then(|d| d.digest.clone())
                .unwrap_or_else(|| last.map(|d| d.image.clone()).unwrap_or_default());
            match running {
                Some(r) => format!("ready; deploying {target} ({r} meanwhile)"),
                None => format!("ready; deploying {target}"),
            }
        }
        (TenantState::Running, _) => format!("ready; {}", running.unwrap_or_default()),
        // A failed deploy while an earlier image still runs.
        (TenantState::Failed, CliStatus::Ready) => {
            let why = tenant
                .status_message
                .as_deref()
                .unwrap_or("the last deploy failed");
            format!("ready; {why}; still {}", running.unwrap_or_default())
        }
        _ => return tenant.status_message.clone(),
    };
    Some(text)
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
