//! Liveness (`/health`: the process answers) and readiness (`/ready`: the database answers). `/metrics`
//! is served on the private metrics listener (`crate::metrics`).

use actix_web::{HttpResponse, web};

use crate::error::{ApiError, ApiResult, ErrorBody, ErrorChain};
use crate::ports::BoxError;
use crate::state::AppState;
use crate::wire::Health;

#[utoipa::path(get, path = "/api/v1/health", tag = "health", responses((status = 200, body = Health)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

#[utoipa::path(get, path = "/api/v1/ready", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub async fn ready(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let outcome = match &state.readiness {
        Some(check) => check.check().await,
        // Without a dedicated probe, a cheap query proves the database answers.
        None => state
            .repos
            .plans
            .list()
            .await
            .map(|_| ())
            .map_err(BoxError::from),
    };
    match outcome {
        Ok(()) => Ok(HttpResponse::Ok().json(Health {
            status: "ready".into(),
        })),
        Err(cause) => {
            tracing::warn!(error = %ErrorChain(cause.as_ref()), "not ready");
            Err(ApiError::unavailable(
                "not_ready",
                "the database is not reachable",
            ))
        }
    }
}
