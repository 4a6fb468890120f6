//! Who is calling: the tenant credential from `Authorization` (Basic password or Bearer token) and the
//! 401 challenge that tells clients where to get a token. Whether the tenant may still act is asked of the
//! push records on every request (`handlers::caller`).

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::credentials::{CredentialError, CredentialIssuer, TenantScope};
use crate::error::RegistryError;

/// Path of the token endpoint of the Bearer flow (under `/v2` so the gateway owns one path prefix).
pub const TOKEN_PATH: &str = "/v2/token";

/// The credential a request carries, if any. Basic: the password is the credential, whatever the
/// username (`docker login` users type anything). Bearer: the credential itself, as the token endpoint
/// hands it back.
pub fn presented_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(rest).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (_, password) = decoded.split_once(':')?;
        return Some(password.to_owned());
    }
    None
}

/// `WWW-Authenticate` of a 401: the Bearer flow at this gateway's token endpoint.
pub fn challenge(scheme: &str, host: &str, scope: Option<&str>) -> String {
    let mut value = format!(r#"Bearer realm="{scheme}://{host}{TOKEN_PATH}",service="{host}""#);
    if let Some(scope) = scope {
        value.push_str(&format!(r#",scope="{scope}""#));
    }
    value
}

/// Verifies the request's credential; a 401 carrying `challenge` when absent or invalid.
pub fn authenticate(
    req: &HttpRequest,
    issuer: &CredentialIssuer,
    challenge: String,
) -> Result<TenantScope, RegistryError> {
    let Some(token) = presented_token(req) else {
        return Err(RegistryError::unauthorized(
            "authentication required",
            challenge,
        ));
    };
    issuer.verify(&token).map_err(|e| {
        let message = match e {
            CredentialError::Expired => "registry credential expired: request a new one",
            _ => "registry credential is invalid",
        };
        RegistryError::unauthorized(message, challenge)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn basic_password_and_bearer_are_both_the_credential() {
        let basic = format!("Basic {}", STANDARD.encode("anyone:tok.en.value"));
        let req = TestRequest::default()
            .insert_header((AUTHORIZATION, basic))
            .to_http_request();
        assert_eq!(presented_token(&req).as_deref(), Some("tok.en.value"));
        let req = TestRequest::default()
            .insert_header((AUTHORIZATION, "Bearer abc.def"))
            .to_http_request();
        assert_eq!(presented_token(&req).as_deref(), Some("abc.def"));
        for junk in ["Basic !!!", "Digest x", "Bearer", "Basic bm9jb2xvbg=="] {
            let req = TestRequest::default()
                .insert_header((AUTHORIZATION, junk))
                .to_http_request();
            assert_eq!(presented_token(&req), None, "{junk}");
        }
        assert_eq!(
            presented_token(&TestRequest::default().to_http_request()),
            None
        );
    }
}
