//! Google's OAuth 2.0 / OpenID Connect endpoints: the token endpoint's RFC 6749 errors and the ID
//! token, verified as a relying party must (RS256 under the published JWKS, `iss`, `aud`, `nonce`).

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use mgmt_mock_idp::{
    GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, GOOGLE_KEY_ID, GithubEmail, MockIdp, MockUser, Provider,
};
use serde_json::Value;

use super::{
    REDIRECT_URI, Reply, VERIFIER, ada, authorize, challenge, client, mock_with_user, param,
    post_form, reply,
};

const AUTHORIZE: &str = "/google/o/oauth2/v2/auth";
const TOKEN: &str = "/google/token";

/// A code for the signed-in user, bound to [`REDIRECT_URI`] and the challenge of [`VERIFIER`].
pub async fn code(m: &MockIdp, nonce: Option<&str>) -> String {
    let ch = challenge(VERIFIER);
    let mut params = vec![
        ("client_id", GOOGLE_CLIENT_ID),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid email profile"),
        ("state", "gs-1"),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if let Some(n) = nonce {
        params.push(("nonce", n));
    }
    let q = authorize(m, AUTHORIZE, &params).await;
    assert_eq!(param(&q, "state"), Some("gs-1"));
    param(&q, "code").expect("code").to_owned()
}

pub fn good_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", GOOGLE_CLIENT_ID),
        ("client_secret", GOOGLE_CLIENT_SECRET),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
    ]
}

pub async fn exchange(m: &MockIdp, code: &str, mut form: Vec<(&str, &str)>) -> Reply {
    form.push(("code", code));
    post_form(m, TOKEN, &form, None).await
}

fn with(
    form: Vec<(&'static str, &'static str)>,
    name: &'static str,
    value: &'static str,
) -> Vec<(&'static str, &'static str)> {
    let mut f = without(form, name);
    f.push((name, value));
    f
}

fn without(
    form: Vec<(&'static str, &'static str)>,
    name: &str,
) -> Vec<(&'static str, &'static str)> {
    form.into_iter().filter(|(k, _)| *k != name).collect()
}

fn assert_oauth_error(r: &Reply, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(
        r.content_type.starts_with("application/json"),
        "{}",
        r.content_type
    );
    assert_eq!(r.json["error"], error, "{}", r.text);
    assert!(r.json.get("access_token").is_none(), "{}", r.text);
    assert!(r.json.get("id_token").is_none(), "{}", r.text);
}

/// Verifies `id_token` as a relying party: the key by `kid` from the JWKS the mock publishes, RS256,
/// the mock's issuer and our client id as audience. Returns the claims.
async fn verify(m: &MockIdp, id_token: &str) -> Value {
    let jwks = reply(
        client()
            .get(format!("{}/google/oauth2/v3/certs", m.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(jwks.status, 200, "{}", jwks.text);
    let header = decode_header(id_token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let kid = header.kid.expect("kid");
    assert_eq!(kid, GOOGLE_KEY_ID);
    let key = jwks.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the kid is published");
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    let dk =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[m.google_issuer()]);
    v.set_audience(&[GOOGLE_CLIENT_ID]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    decode::<Value>(id_token, &dk, &v).unwrap().claims
}

#[tokio::test]
async fn the_id_token_verifies_against_the_published_jwks_and_carries_the_claims() {
    let m = mock_with_user(ada()).await;
    let c = code(&m, Some("n-0S6_WzA2Mj")).await;
    let r = exchange(&m, &c, good_form()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["token_type"], "Bearer");
    assert!(r.json["expires_in"].is_u64(), "{}", r.text);
    assert!(
        r.json["access_token"]
            .as_str()
            .unwrap()
            .starts_with("ya29.")
    );
    let claims = verify(&m, r.json["id_token"].as_str().expect("id_token")).await;
    assert_eq!(claims["iss"], m.google_issuer());
    assert_eq!(claims["aud"], GOOGLE_CLIENT_ID);
    assert_eq!(claims["azp"], GOOGLE_CLIENT_ID);
    assert_eq!(claims["sub"], "4242");
    assert_eq!(claims["email"], "ada@example.test");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat && exp - iat <= 3600, "{claims}");
}

#[tokio::test]
async fn the_id_token_reports_an_unverified_address_as_such_and_has_no_nonce_unless_asked() {
    let m = mock_with_user(MockUser {
        emails: vec![GithubEmail {
            email: "eve@example.test".into(),
            primary: true,
            verified: false,
        }],
        ..ada()
    })
    .await;
    let c = code(&m, None).await;
    let r = exchange(&m, &c, good_form()).await;
    let claims = verify(&m, r.json["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["email"], "eve@example.test");
    assert_eq!(claims["email_verified"], false);
    assert!(claims.get("nonce").is_none(), "{claims}");
}

#[tokio::test]
async fn the_id_token_fails_verification_for_another_audience_or_a_tampered_payload() {
    let m = mock_with_user(ada()).await;
    let c = code(&m, Some("n1")).await;
    let r = exchange(&m, &c, good_form()).await;
    let id_token = r.json["id_token"].as_str().unwrap();
    let jwks = reply(
        client()
            .get(format!("{}/google/oauth2/v3/certs", m.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let key = &jwks.json["keys"][0];
    let dk =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&["someone-else.apps.googleusercontent.com"]);
    assert!(decode::<Value>(id_token, &dk, &v).is_err());
    // Swap the payload for one claiming another user: the signature no longer matches.
    let parts: Vec<&str> = id_token.split('.').collect();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
    payload["email"] = "mallory@example.test".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        engine.encode(serde_json::to_vec(&payload).unwrap()),
        parts[2]
    );
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[GOOGLE_CLIENT_ID]);
    assert!(decode::<Value>(&forged, &dk, &v).is_err());
    assert!(decode::<Value>(id_token, &dk, &v).is_ok());
}

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client_401() {
    let m = mock_with_user(ada()).await;
    let c = code(&m, None).await;
    let r = exchange(&m, &c, with(good_form(), "client_secret", "GOCSPX-wrong")).await;
    assert_oauth_error(&r, 401, "invalid_client");
}

#[tokio::test]
async fn a_code_used_twice_is_invalid_grant_400() {
    let m = mock_with_user(ada()).await;
    let c = code(&m, None).await;
    assert_eq!(exchange(&m, &c, good_form()).await.status, 200);
    assert_oauth_error(&exchange(&m, &c, good_form()).await, 400, "invalid_grant");
    assert_oauth_error(
        &exchange(&m, "4/never-issued", good_form()).await,
        400,
        "invalid_grant",
    );
}

#[tokio::test]
async fn a_code_is_bound_to_its_redirect_uri_which_is_required() {
    let m = mock_with_user(ada()).await;
    let c = code(&m, None).await;
    let r = exchange(
        &m,
        &c,
        with(good_form(), "redirect_uri", "http://127.0.0.1:9/elsewhere"),
    )
    .await;
    assert_oauth_error(&r, 400, "redirect_uri_mismatch");
    let c = code(&m, None).await;
    let r = exchange(&m, &c, without(good_form(), "redirect_uri")).await;
    assert_oauth_error(&r, 400, "redirect_uri_mismatch");
}

#[tokio::test]
async fn a_wrong_or_missing_pkce_verifier_is_invalid_grant() {
    let m = mock_with_user(ada()).await;
    let c = code(&m, None).await;
    let r = exchange(
        &m,
        &c,
        with(
            good_form(),
            "code_verifier",
            "another-verifier-of-the-right-length-0123456789",
        ),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_grant");
    let c = code(&m, None).await;
    let r = exchange(&m, &c, without(good_form(), "code_verifier")).await;
    assert_oauth_error(&r, 400, "invalid_grant");
    // A verifier outside RFC 7636's alphabet/length, even if its hash were right, is refused.
    let c = code(&m, None).await;
    let r = exchange(&m, &c, with(good_form(), "code_verifier", "short")).await;
    assert_oauth_error(&r, 400, "invalid_grant");
}

#[tokio::test]
async fn another_grant_type_is_unsupported_grant_type() {
    let m = mock_with_user(ada()).await;
    let c = code(&m, None).await;
    let r = exchange(&m, &c, with(good_form(), "grant_type", "password")).await;
    assert_oauth_error(&r, 400, "unsupported_grant_type");
}

#[tokio::test]
async fn a_github_code_is_not_a_google_code() {
    let m = mock_with_user(ada()).await;
    let q = authorize(
        &m,
        "/github/login/oauth/authorize",
        &[
            ("client_id", mgmt_mock_idp::GITHUB_CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
        ],
    )
    .await;
    let c = param(&q, "code").unwrap().to_owned();
    assert_oauth_error(&exchange(&m, &c, good_form()).await, 400, "invalid_grant");
}

#[tokio::test]
async fn authorize_requires_response_type_code_and_the_openid_scope() {
    let m = mock_with_user(ada()).await;
    let q = authorize(
        &m,
        AUTHORIZE,
        &[
            ("client_id", GOOGLE_CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "token"),
            ("scope", "openid email"),
            ("state", "s"),
        ],
    )
    .await;
    assert_eq!(param(&q, "error"), Some("unsupported_response_type"));
    assert_eq!(param(&q, "state"), Some("s"));
    let q = authorize(
        &m,
        AUTHORIZE,
        &[
            ("client_id", GOOGLE_CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "email"),
        ],
    )
    .await;
    assert_eq!(param(&q, "error"), Some("invalid_scope"));
    let q = authorize(
        &m,
        AUTHORIZE,
        &[
            ("client_id", GOOGLE_CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", "abc"),
            ("code_challenge_method", "plain"),
        ],
    )
    .await;
    assert_eq!(param(&q, "error"), Some("invalid_request"));
    m.deny_next(Provider::Google);
    let q = authorize(
        &m,
        AUTHORIZE,
        &[
            ("client_id", GOOGLE_CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(param(&q, "error"), Some("access_denied"));
}

#[tokio::test]
async fn a_token_fault_is_answered_with_its_status() {
    let m = mock_with_user(ada()).await;
    m.fail_next_token(Provider::Google, 500);
    let c = code(&m, None).await;
    assert_eq!(exchange(&m, &c, good_form()).await.status, 500);
}
