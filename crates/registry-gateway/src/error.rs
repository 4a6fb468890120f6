//! Refusals in the registry's own error format (`{"errors":[{"code","message"}]}`).
//!
//! Registry clients read the `code` to decide what to do next (skopeo uploads a layer after a HEAD answers
//! `BLOB_UNKNOWN`, but aborts the push on `DENIED`), so each refusal picks its code and status deliberately.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::json;

/// A refusal or failure answered by the gateway itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// `WWW-Authenticate` value sent with a 401.
    pub challenge: Option<String>,
    /// `Retry-After` seconds sent with a 429 or 503.
    pub retry_after: Option<u64>,
}

impl RegistryError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            challenge: None,
            retry_after: None,
        }
    }

    /// 401: no credential, or one that is invalid, expired or belongs to a deleted tenant.
    pub fn unauthorized(message: impl Into<String>, challenge: String) -> Self {
        Self {
            challenge: Some(challenge),
            ..Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
        }
    }

    /// 403: a valid credential asked for something outside its tenant's scope.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "DENIED", message)
    }

    /// 404 for a blob the tenant may not see: indistinguishable from a missing one.
    pub fn blob_unknown() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            "blob unknown to registry",
        )
    }

    /// 404 for a manifest digest the tenant may not see.
    pub fn manifest_unknown() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
        )
    }

    /// 400: a pushed manifest references a blob or manifest the tenant has not uploaded or pushed.
    pub fn manifest_blob_unknown(digest: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            format!("blob unknown to registry: {digest}"),
        )
    }

    pub fn manifest_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", message)
    }

    /// 429: a rate or concurrency limit; the client may retry after `retry_after`.
    pub fn too_many_requests(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Self {
            retry_after: Some(retry_after.as_secs_f64().ceil().max(1.0) as u64),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS", message)
        }
    }

    /// 404 for an upload session that does not exist or is another tenant's (indistinguishable).
    pub fn blob_upload_unknown() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
        )
    }

    /// 400: an upload request the gateway cannot read one way only (e.g. a malformed query).
    pub fn blob_upload_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", message)
    }

    /// 400: a `digest` parameter that is not a digest.
    pub fn digest_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", message)
    }

    /// 404 for a path that is not part of the Registry v2 API.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "not a registry API route",
        )
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", message)
    }

    /// 502: the upstream registry failed or refused the gateway; details stay in the server log.
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "UNAVAILABLE", message)
    }

    /// 503: the gateway's own storage is unavailable; the client may retry.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message)
    }

    pub fn to_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((CONTENT_TYPE, "application/json"));
        res.insert_header(("Docker-Distribution-API-Version", "registry/2.0"));
        if let Some(challenge) = &self.challenge {
            res.insert_header((WWW_AUTHENTICATE, challenge.as_str()));
        }
        if let Some(secs) = self.retry_after {
            res.insert_header((RETRY_AFTER, secs.to_string()));
        }
        res.body(json!({"errors": [{"code": self.code, "message": self.message}]}).to_string())
    }
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

pub use mgmt_domain::ErrorChain;

impl actix_web::ResponseError for RegistryError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response()
    }
}
