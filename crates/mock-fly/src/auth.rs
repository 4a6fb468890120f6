//! Credential checks: `Bearer`/`FlyV1` tokens on the Machines API, Basic `x:<token>` on the registry.

use actix_web::HttpRequest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn authorization(req: &HttpRequest) -> Option<&str> {
    req.headers().get("authorization")?.to_str().ok()
}

/// `Authorization: Bearer <token>` or `FlyV1 <token>` with exactly the configured token.
pub(crate) fn machines_ok(req: &HttpRequest, token: &str) -> bool {
    let Some(value) = authorization(req) else {
        return false;
    };
    let Some((scheme, cred)) = value.split_once(' ') else {
        return false;
    };
    (scheme.eq_ignore_ascii_case("bearer") || scheme == "FlyV1") && same(cred.trim(), token)
}

/// `Authorization: Basic base64(<user>:<token>)`; registry.fly.io documents the user `x` but only
/// the password carries authority, so any non-empty user name is accepted.
pub(crate) fn registry_ok(req: &HttpRequest, token: &str) -> bool {
    let Some(value) = authorization(req) else {
        return false;
    };
    let Some((scheme, cred)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = STANDARD.decode(cred.trim()) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    match decoded.split_once(':') {
        Some((user, pass)) => !user.is_empty() && same(pass, token),
        None => false,
    }
}
