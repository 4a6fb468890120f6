//! Push and deploy endpoints: registry-token, deploy (also a rollback to an earlier digest),
//! deployments, restart, retry-provision.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::input::tenant_id;
use crate::state::AppState;
use crate::wire::{Data, DeployAccepted, DeployRequest, DeploymentView, RegistryToken, StatusOnly};

/// A short-lived credential valid only for pushing and pulling this tenant's tag through the gateway.
#[utoipa::path(get, path = "/api/v1/tenants/{id}/registry-token", tag = "deploy", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, body = Data<RegistryToken>), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn registry_token(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    caller.require_active()?;
    let tenant = state
        .repos
        .tenants
        .get_for_customer(id, caller.customer.id)
        .await?;
    let issuer = match (&state.commands, &state.credentials) {
        (None, _) => return Err(ApiError::cloud_disabled()),
        (Some(_), None) => {
            return Err(ApiError::unavailable(
                "registry_unavailable",
                "no registry gateway is configured",
            ));
        }
        (Some(_), Some(issuer)) => issuer,
    };
    if !tenant.state.accepts_deploy() {
        return Err(ApiError::conflict(
            "tenant_not_ready",
            format!(
                "the tenant is {}; push credentials are available once provisioning has finished",
                tenant.state
            ),
        ));
    }
    let cred = issuer.issue(&tenant).await?;
    tracing::info!(tenant_id = %tenant.id, expires_at = %cred.expires_at, "registry credential issued");
    let body = RegistryToken {
        registry: cred.registry,
        username: cred.username,
        token: cred.token.expose_secret().to_owned(),
        repository: cred.repository,
        tag: cred.tag,
    };
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(Data::new(body)))
}

/// Accepts a deploy of the tenant's own image and answers at once (the use case bounds its registry
/// reads, so this never waits long); progress shows in status and events. The CLI only prints the answer.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/deploy", tag = "deploy", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")), request_body = DeployRequest,
    responses((status = 202, body = Data<DeployAccepted>), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn deploy(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<DeployRequest>,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let customer = caller.require_active()?;
    let image = body.into_inner().image;
    let (tenant, deployment) = state.commands()?.deploy(customer, id, &image).await?;
    tracing::info!(tenant_id = %tenant.id, deployment_id = %deployment.id, "deploy accepted");
    let body = DeployAccepted {
        status: DEPLOYING.to_owned(),
        app_url: Some(tenant.app_url()),
    };
    Ok(HttpResponse::Accepted().json(Data::new(body)))
}

/// The tenant's deployments, newest first; a failed one carries its reason.
#[utoipa::path(get, path = "/api/v1/tenants/{id}/deployments", tag = "deploy", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, body = Data<Vec<DeploymentView>>), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn deployments(
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
    let list = state.repos.deployments.list_for_tenant(tenant.id).await?;
    let body: Vec<DeploymentView> = list.iter().map(DeploymentView::from).collect();
    Ok(HttpResponse::Ok().json(Data::new(body)))
}

/// The word a deploy answers: the rollout has been accepted and runs in the background.
const DEPLOYING: &str = "deploying";
/// The word a restart answers: it returns once the machine runs again.
const READY: &str = "ready";

#[utoipa::path(post, path = "/api/v1/tenants/{id}/restart", tag = "deploy", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, body = StatusOnly), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn restart(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let customer = caller.require_active()?;
    let tenant = state.commands()?.restart(customer, id).await?;
    tracing::info!(tenant_id = %tenant.id, "machine restarted");
    Ok(HttpResponse::Ok().json(StatusOnly {
        status: READY.to_owned(),
    }))
}

#[utoipa::path(post, path = "/api/v1/tenants/{id}/retry-provision", tag = "deploy", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 202, body = StatusOnly), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn retry_provision(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let customer = caller.require_active()?;
    let tenant = state.commands()?.retry_provision(customer, id).await?;
    Ok(HttpResponse::Accepted().json(StatusOnly {
        status: tenant.state.cli_status().as_str().to_owned(),
    }))
}
