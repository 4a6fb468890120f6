//! Bodies of the RFC 8693 token exchange (`POST /api/v1/core/oauth/token`, contract §7): the bare token
//! answer and the RFC 6749 §5.2 error body (not our usual `{"error":{"code","message"}}`: OAuth clients
//! read this shape).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `issued_token_type` of every exchanged token.
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// 200: the exchanged token. `expires_in` is an integer (the CLI fails on a float or a string).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenExchangeResponse {
    pub access_token: String,
    pub issued_token_type: String,
    pub token_type: String,
    pub expires_in: u64,
}

/// RFC 6749 §5.2: `error` is one of `invalid_request`, `invalid_client`, `invalid_grant`,
/// `unsupported_grant_type`, `invalid_target` (RFC 8693); `error_description` never echoes the token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OAuthErrorBody {
    pub error: String,
    pub error_description: String,
}
