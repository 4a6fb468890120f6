//! Input handling: JSON/path/query extractor errors as the error body, path id parsing, unknown routes.
//!
//! serde's messages can quote the offending value ("invalid type: string \"hunter2\""), and a request body
//! may hold secrets, so value-quoting messages are replaced by a position; field names are kept.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use mgmt_domain::{SecretName, TenantId};

use crate::error::ApiError;

fn describe_serde(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.starts_with("invalid type")
        || text.starts_with("invalid value")
        || text.starts_with("invalid length")
    {
        format!(
            "a value has the wrong type or form at line {} column {}",
            e.line(),
            e.column()
        )
    } else {
        text
    }
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match &err {
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON (Content-Type: application/json)",
        ),
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body exceeds {limit} bytes"),
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            describe_serde(e),
        ),
        JsonPayloadError::Deserialize(e) => {
            ApiError::bad_request("malformed_json", describe_serde(e))
        }
        _ => ApiError::bad_request("invalid_body", "the request body could not be read"),
    }
}

/// Extractor configurations to register on the app.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .content_type_required(true)
        .error_handler(|err, _req| json_error(err).into())
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req| {
        ApiError::bad_request("invalid_path", err.to_string()).into()
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::bad_request("invalid_query", err.to_string()).into()
    })
}

/// The tenant id of the path (`{id}`), strictly parsed: a malformed id is 400 `invalid_tenant_id`.
pub fn tenant_id(req: &HttpRequest) -> Result<TenantId, ApiError> {
    let raw = req.match_info().get("id").unwrap_or_default();
    Ok(TenantId::parse(raw)?)
}

/// A secret name by the domain's rule ([`SecretName`]); else 422 `invalid_secret_key` saying why.
pub fn validate_secret_key(key: &str) -> Result<SecretName, ApiError> {
    SecretName::parse(key).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_secret_key",
            e.to_string(),
        )
    })
}

/// Unknown routes (and unknown methods) answer the error body too.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let msg = format!("no route for {} {}", req.method(), req.path());
    actix_web::ResponseError::error_response(&ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        msg,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_never_quote_values() {
        let e =
            serde_json::from_str::<std::collections::BTreeMap<String, u8>>(r#"{"K": "hunter2"}"#)
                .unwrap_err();
        let msg = describe_serde(&e);
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("line 1"));
    }

    #[test]
    fn secret_keys() {
        for ok in ["A", "_X", "DATABASE_URL", "a1", &"A".repeat(128)] {
            assert_eq!(validate_secret_key(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "1A", "A-B", "A B", "Ä", &"A".repeat(129)] {
            assert!(validate_secret_key(bad).is_err(), "{bad}");
        }
    }
}
