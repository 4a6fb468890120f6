//! The CLI login (contract §6.1): `GET /auth/oauth/{provider}` hands out the provider's authorize URL,
//! and the provider sends the browser back to `GET /auth/oauth/{provider}/callback`, which answers a
//! 302 to the CLI's `redirect_uri` with `access_token` (or `error`). Neither takes a bearer.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use secrecy::ExposeSecret;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ports::{LoginCallbackOutcome, LoginCallbackQuery, LoginFlow, LoginStartError};
use crate::state::AppState;
use crate::wire::{AuthorizeQuery, AuthorizeUrl, CallbackQuery};

fn flow(state: &AppState) -> ApiResult<&std::sync::Arc<dyn LoginFlow>> {
    state.login.as_ref().ok_or_else(|| {
        ApiError::unavailable(
            "login_not_configured",
            "login through an identity provider is not configured on this server",
        )
    })
}

/// The provider's authorize URL for a CLI login.
#[utoipa::path(get, path = "/api/v1/auth/oauth/{provider}", tag = "auth",
    params(("provider" = String, Path, description = "`github` or `google`"), AuthorizeQuery),
    responses((status = 200, body = AuthorizeUrl), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(provider = %path.as_str()))]
pub async fn authorize(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<AuthorizeQuery>,
) -> ApiResult<HttpResponse> {
    let url = flow(&state)?
        .authorize_url(path.as_str(), &query.redirect_uri)
        .await
        .map_err(|e| match e {
            LoginStartError::UnknownProvider(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "provider_not_found", e.to_string())
            }
            LoginStartError::NotConfigured(_) => {
                ApiError::unavailable("provider_not_configured", e.to_string())
            }
            LoginStartError::RedirectRefused(m) => ApiError::bad_request("invalid_redirect_uri", m),
            LoginStartError::Unavailable(cause) => ApiError::internal(cause),
        })?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(AuthorizeUrl { authorize_url: url }))
}

/// The provider's redirect back to us: 302 to the CLI's `redirect_uri`.
#[utoipa::path(get, path = "/api/v1/auth/oauth/{provider}/callback", tag = "auth",
    params(("provider" = String, Path, description = "`github` or `google`"), CallbackQuery),
    responses((status = 302, description = "to the CLI's redirect_uri with `access_token` or `error`"),
        (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(provider = %path.as_str()))]
pub async fn callback(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<CallbackQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.into_inner();
    let outcome = flow(&state)?
        .callback(
            path.as_str(),
            LoginCallbackQuery {
                code: q.code,
                state: q.state,
                error: q.error,
                error_description: q.error_description,
            },
        )
        .await;
    match outcome {
        // The Location holds the JWT: never cached, never sent on as a Referer.
        LoginCallbackOutcome::Redirect(location) => Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, location.expose_secret()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .finish()),
        LoginCallbackOutcome::Refused { code, message } => {
            Err(ApiError::bad_request(code, message))
        }
    }
}
