//! Refusals in the registry's own error format (`{"errors":[{"code","message"}]}`).
//!
//! Registry clients read the `code` to decide what to do next (skopeo uploads a layer after a HEAD answers
//! `BLOB_UNKNOWN`, but aborts the push on `DENIED`), so each refusal picks its code and status deliberately.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::json;

/// A refusal or failure answered by the gateway itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// `WWW-Authenticate` value sent with a 401.
    pub challenge: Option<String>,
}

impl RegistryError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            challenge: None,
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

    pub fn size_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID", message)
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

impl actix_web::ResponseError for RegistryError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response()
    }
}
