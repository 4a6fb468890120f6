//! The tokens we issue, as the CLI and the tenants meet them: `GET /.well-known/jwks.json` (our public
//! keys, contract §8.6) and `POST /api/v1/core/oauth/token`, the RFC 8693 token exchange of CLI
//! revision H (§7).
//!
//! The exchange takes the customer's login JWT as `subject_token`, verifies it exactly like a bearer
//! (signature, expiry, issuer/audience, revocation) and answers a short-lived token of the same subject
//! whose audiences are the tenants it owns. Its errors are RFC 6749 §5.2 bodies, since that is what an
//! OAuth client reads; the subject token is never echoed in them or logged.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{TimeZone, Utc};
use futures::StreamExt;
use mgmt_domain::TenantState;
use mgmt_domain::email::is_valid_email;
use secrecy::ExposeSecret;

use crate::auth::{AuthError, authenticate};
use crate::error::{ApiError, ErrorBody};
use crate::ports::ExchangeRequest;
use crate::state::AppState;
use crate::wire::{OAuthErrorBody, TOKEN_TYPE_ACCESS_TOKEN, TokenExchangeResponse};

/// The one grant this endpoint serves.
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The subject token types accepted: the CLI sends `access_token`; our tokens are also JWTs.
const SUBJECT_TOKEN_TYPES: [&str; 2] = [
    TOKEN_TYPE_ACCESS_TOKEN,
    "urn:ietf:params:oauth:token-type:jwt",
];
/// The CLI's public client id (revision H sends it; 0.11.2–0.22.x send none).
pub const CLIENT_ID_CLI: &str = "sp_web";

/// `GET /.well-known/jwks.json`: every signing key's public half (cacheable for five minutes, so a
/// tenant sees a new key quickly after a rotation).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, content_type = "application/json", body = Object),
        (status = 503, body = ErrorBody)))]
pub async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let tokens = state.tokens.as_ref().ok_or_else(issuer_disabled)?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .body(tokens.jwks_json().to_owned()))
}

fn issuer_disabled() -> ApiError {
    ApiError::unavailable(
        "token_issuer_disabled",
        "this server issues no tokens (TOKEN_SIGNING_KEYS is not configured)",
    )
}

/// An RFC 6749 §5.2 error answer.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        let status = if error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    fn respond(self) -> HttpResponse {
        HttpResponse::build(self.status)
            .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .insert_header((PRAGMA, HeaderValue::from_static("no-cache")))
            .json(OAuthErrorBody {
                error: self.error.to_owned(),
                error_description: self.description,
            })
    }
}

/// `POST /api/v1/core/oauth/token` (form-encoded, no Authorization).
#[utoipa::path(post, path = "/api/v1/core/oauth/token", tag = "auth",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "grant_type, subject_token, subject_token_type, resource, client_id (optional)"),
    responses((status = 200, body = TokenExchangeResponse),
        (status = 400, body = OAuthErrorBody), (status = 401, body = OAuthErrorBody),
        (status = 413, body = OAuthErrorBody), (status = 415, body = OAuthErrorBody),
        (status = 503, body = OAuthErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn exchange(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match exchange_inner(&state, &req, payload).await {
        Ok(response) => response,
        Err(e) => {
            tracing::info!(
                error = e.error,
                status = e.status.as_u16(),
                "token exchange refused"
            );
            e.respond()
        }
    }
}

async fn exchange_inner(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::new(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        )
        .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    let body = read_limited(payload, state.settings.form_limit).await?;
    let form = Form::parse(&body)?;

    match form.get("grant_type")? {
        None => return Err(OAuthError::new("invalid_request", "grant_type is required")),
        Some(GRANT_TOKEN_EXCHANGE) => {}
        Some(_) => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!("only {GRANT_TOKEN_EXCHANGE} is supported"),
            ));
        }
    }
    if let Some(client) = form.get("client_id")?
        && client != CLIENT_ID_CLI
    {
        return Err(OAuthError::new("invalid_client", "unknown client_id"));
    }
    let subject_token = form
        .get("subject_token")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::new("invalid_request", "subject_token is required"))?;
    match form.get("subject_token_type")? {
        None => {
            return Err(OAuthError::new(
                "invalid_request",
                "subject_token_type is required",
            ));
        }
        Some(t) if SUBJECT_TOKEN_TYPES.contains(&t) => {}
        Some(_) => {
            return Err(OAuthError::new(
                "invalid_request",
                "subject_token_type must be urn:ietf:params:oauth:token-type:access_token or :jwt",
            ));
        }
    }
    let tokens = state.tokens.as_ref().ok_or_else(|| {
        OAuthError::new("temporarily_unavailable", "this server issues no tokens")
            .with_status(StatusCode::SERVICE_UNAVAILABLE)
    })?;
    match form.get("resource")? {
        None => return Err(OAuthError::new("invalid_request", "resource is required")),
        Some(r) if r == tokens.issuer() => {}
        Some(_) => {
            return Err(OAuthError::new(
                "invalid_target",
                format!("resource must be {}", tokens.issuer()),
            ));
        }
    }

    let caller = authenticate(state, subject_token)
        .await
        .map_err(|e| match e {
            AuthError::Storage(_) => {
                tracing::warn!(error = %e, "token exchange: storage unavailable");
                OAuthError::new("temporarily_unavailable", "try again later")
                    .with_status(StatusCode::SERVICE_UNAVAILABLE)
            }
            other => OAuthError::new(
                "invalid_grant",
                format!("subject_token is not accepted: {other}"),
            ),
        })?;
    let tenants = state
        .repos
        .tenants
        .list_for_customer(caller.customer.id)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "token exchange: listing tenants failed");
            OAuthError::new("temporarily_unavailable", "try again later")
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
        })?;
    let claims = &caller.claims;
    let email = claims
        .email
        .clone()
        .filter(|e| is_valid_email(e))
        .unwrap_or_else(|| caller.customer.email.clone());
    let username = claims
        .username
        .clone()
        .or_else(|| claims.name.clone())
        .or_else(|| caller.customer.name.clone())
        .unwrap_or_else(|| email.clone());
    let auth_time = claims
        .auth_time
        .or(claims.iat)
        .and_then(|t| Utc.timestamp_opt(t, 0).single())
        .unwrap_or_else(Utc::now);
    let request = ExchangeRequest {
        subject: claims.sub.clone(),
        email,
        username,
        tenant_ids: tenants
            .iter()
            .filter(|t| !matches!(t.state, TenantState::Deleted))
            .map(|t| t.id)
            .collect(),
        auth_time,
    };
    let issued = tokens.exchange(&request).map_err(|e| {
        tracing::error!(error = %mgmt_domain::ErrorChain(&*e), "token exchange: minting failed");
        OAuthError::new("temporarily_unavailable", "try again later")
            .with_status(StatusCode::SERVICE_UNAVAILABLE)
    })?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((PRAGMA, HeaderValue::from_static("no-cache")))
        .json(TokenExchangeResponse {
            access_token: issued.token.expose_secret().to_owned(),
            issued_token_type: TOKEN_TYPE_ACCESS_TOKEN.to_owned(),
            token_type: "Bearer".to_owned(),
            expires_in: issued.expires_in,
        }))
}

/// The body, refused past `limit` bytes (413) without reading the rest.
async fn read_limited(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, OAuthError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| OAuthError::new("invalid_request", "the body could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(OAuthError::new(
                "invalid_request",
                format!("the body exceeds {limit} bytes"),
            )
            .with_status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The form's parameters, in order.
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        serde_urlencoded::from_bytes(body)
            .map(Self)
            .map_err(|_| OAuthError::new("invalid_request", "the body is not a valid form"))
    }

    /// A parameter's value; RFC 6749 §3.2: a parameter must not appear more than once.
    fn get(&self, name: &'static str) -> Result<Option<&str>, OAuthError> {
        let mut values = self.0.iter().filter(|(k, _)| k == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(OAuthError::new(
                "invalid_request",
                format!("{name} is given more than once"),
            ));
        }
        Ok(first)
    }
}
