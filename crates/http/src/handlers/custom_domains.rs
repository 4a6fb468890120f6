//! A tenant's custom domain: set, show (with the certificate's state asked of Fly), remove.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::input::tenant_id;
use crate::state::AppState;
use crate::wire::{CustomDomain, Data, SetCustomDomainRequest};

/// Claims a domain for the tenant and requests its certificate; answers the DNS record to create.
/// 201 when claimed now, 200 when the tenant had this domain already.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/custom-domain", tag = "custom-domain",
    security(("bearer" = [])), params(("id" = String, Path, description = "tenant id")),
    request_body = SetCustomDomainRequest,
    responses((status = 201, body = Data<CustomDomain>), (status = 200, body = Data<CustomDomain>),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "another domain is set (remove it first), or the domain is taken (`domain_taken`)"),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn set(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<SetCustomDomainRequest>,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let customer = caller.require_active()?;
    let outcome = state
        .commands()?
        .set_custom_domain(customer, id, &body.domain)
        .await?;
    let body = Data::new(CustomDomain::from(&outcome.domain));
    if outcome.created {
        tracing::info!(tenant_id = %id, domain = %outcome.domain.domain, "custom domain set");
        Ok(HttpResponse::Created().json(body))
    } else {
        Ok(HttpResponse::Ok().json(body))
    }
}

/// The tenant's custom domain; 404 `custom_domain_not_found` when none.
#[utoipa::path(get, path = "/api/v1/tenants/{id}/custom-domain", tag = "custom-domain",
    security(("bearer" = [])), params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, body = Data<CustomDomain>), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let domain = state
        .commands()?
        .custom_domain(&caller.customer, id)
        .await?;
    Ok(HttpResponse::Ok().json(Data::new(CustomDomain::from(&domain))))
}

/// Removes the custom domain and its certificate (none is fine).
#[utoipa::path(delete, path = "/api/v1/tenants/{id}/custom-domain", tag = "custom-domain",
    security(("bearer" = [])), params(("id" = String, Path, description = "tenant id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = tenant_id(&req)?;
    let customer = caller.require_active()?;
    state.commands()?.remove_custom_domain(customer, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
