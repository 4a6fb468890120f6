//! The one HTTP error type: every failure becomes a status and the `{"error": {"code", "message"}}` body.
//!
//! Each source error has an explicit `From` mapping so the status a client sees is decided here, in one
//! place. Anything unexpected is logged with the request id and its whole chain of causes
//! ([`ErrorChain`]) and answered as an opaque 500 that names only that id, so internals never reach a
//! client.

use std::fmt;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use mgmt_domain::{RepoError, TenantIdError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::ports::BoxError;
use crate::request_context;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Internal cause: logged with its chain of sources, never sent.
    source: Option<BoxError>,
    /// The request an internal error happened in, captured when it was made (it may be rendered
    /// outside the request's task, e.g. after a panic).
    request_id: Option<String>,
    /// `Retry-After` seconds (429, 503 of the limits).
    retry_after: Option<u64>,
}

/// The error body, `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code a client can branch on.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// Longest message echoed back: input may be hostile and large.
const MAX_MESSAGE: usize = 300;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let mut message: String = message.into();
        if message.len() > MAX_MESSAGE {
            let cut = (0..=MAX_MESSAGE)
                .rev()
                .find(|i| message.is_char_boundary(*i))
                .unwrap_or(0);
            message.truncate(cut);
            message.push('…');
        }
        Self {
            status,
            code,
            message,
            source: None,
            request_id: None,
            retry_after: None,
        }
    }

    /// 429 with `Retry-After` (the per-customer limits).
    pub fn too_many_requests(
        code: &'static str,
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, code, message).with_retry_after(retry_after_secs)
    }

    /// Adds `Retry-After: secs` to the answer.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn tenant_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "tenant_not_found",
            "tenant not found",
        )
    }

    pub fn cloud_disabled() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cloud_disabled",
            "cloud provisioning is disabled on this server",
        )
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// An opaque 500; `cause` (an error, or a message) is logged with its chain of sources and the
    /// request id, but never sent.
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        );
        e.source = Some(cause.into());
        e.request_id = Some(request_context::current_request_id());
        e
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The internal cause of a 500 (never sent to the client).
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

pub use mgmt_domain::ErrorChain;

impl fmt::Display for ApiError {
    // Only the public message: actix and tracing-actix-web log errors through Display.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let request_id = self
            .request_id
            .clone()
            .unwrap_or_else(request_context::current_request_id);
        let message = if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            match self.source.as_deref() {
                Some(cause) => {
                    tracing::error!(request_id = %request_id, error = %ErrorChain(cause), "internal error");
                }
                None => tracing::error!(request_id = %request_id, "internal error"),
            }
            format!("internal error; quote request id {request_id} when reporting it")
        } else {
            self.message.clone()
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message,
            },
        };
        let mut resp = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Some(secs) = self.retry_after {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        resp.json(body)
    }
}

impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::NotFound { entity: "tenant" } => Self::tenant_not_found(),
            RepoError::NotFound { entity } => Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{entity} not found"),
            ),
            RepoError::Conflict { what } => Self::conflict("conflict", what),
            RepoError::LimitReached { what } => Self::forbidden("quota_exceeded", what),
            RepoError::StaleVersion { entity } => Self::conflict(
                "concurrent_update",
                format!("the {entity} changed meanwhile; retry"),
            ),
            RepoError::Unavailable(detail) => {
                tracing::warn!(%detail, "storage unavailable");
                Self::unavailable(
                    "storage_unavailable",
                    "storage is unavailable; retry shortly",
                )
            }
            other => Self::internal(other),
        }
    }
}

impl From<TenantIdError> for ApiError {
    fn from(e: TenantIdError) -> Self {
        Self::bad_request("invalid_tenant_id", e.to_string())
    }
}

impl From<crate::ports::CommandError> for ApiError {
    fn from(e: crate::ports::CommandError) -> Self {
        use crate::ports::CommandError as C;
        match e {
            C::NotFound => Self::tenant_not_found(),
            C::InvalidInput(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", m),
            C::InvalidImage(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_image", m),
            C::Conflict(m) => Self::conflict("conflict", m),
            C::NotReady(m) => Self::conflict("tenant_not_ready", m),
            C::NotConfigured(m) => Self::conflict("not_configured", m),
            C::QuotaExceeded(m) => Self::forbidden("quota_exceeded", m),
            C::CustomDomainNotFound => Self::new(
                StatusCode::NOT_FOUND,
                "custom_domain_not_found",
                "the tenant has no custom domain",
            ),
            C::SubscriptionNotFound => Self::new(
                StatusCode::NOT_FOUND,
                "subscription_not_found",
                "the tenant has no subscription",
            ),
            C::DomainTaken(m) => Self::conflict("domain_taken", m),
            C::UpstreamRefused(m) => Self::new(StatusCode::BAD_GATEWAY, "upstream_refused", m),
            C::ImageNotFound(m) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "image_not_found", m)
            }
            C::Unavailable(cause) => {
                tracing::warn!(error = %ErrorChain(cause.as_ref()), "upstream unavailable");
                Self::unavailable(
                    "upstream_unavailable",
                    "an upstream service is unavailable; retry shortly",
                )
            }
            internal @ C::Internal(_) => Self::internal(internal),
        }
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(e: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError as A;
        match e {
            A::UnknownCustomer => Self::forbidden("customer_not_found", e.to_string()),
            A::Storage(repo) => repo.into(),
            other => Self::unauthorized(other.code(), other.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn the_chain_names_every_cause() {
        let e = Outer(Middle(std::io::Error::other("connection reset")));
        assert_eq!(
            ErrorChain(&e).to_string(),
            "outer: middle: connection reset"
        );
    }

    #[test]
    fn an_internal_error_keeps_its_cause_and_sends_none_of_it() {
        let e = ApiError::from(crate::ports::CommandError::internal(Outer(Middle(
            std::io::Error::other("connection reset"),
        ))));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let cause = e.cause().expect("a 500 keeps its cause");
        assert_eq!(
            ErrorChain(cause).to_string(),
            "the command failed unexpectedly: outer: middle: connection reset"
        );
        assert!(!e.to_string().contains("connection reset"), "{e}");
    }

    /// A writer the test subscriber appends to.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_500_logs_the_whole_chain_and_answers_none_of_it() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let response = tracing::subscriber::with_default(subscriber, || {
            let e = ApiError::internal(Outer(Middle(std::io::Error::other("connection reset"))));
            e.error_response()
        });
        let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
        assert!(
            log.contains("internal error") && log.contains("outer: middle: connection reset"),
            "{log}"
        );
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
