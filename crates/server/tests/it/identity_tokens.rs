//! The tokens we issue (issue 15, part A) through the real server: the JWKS, our RS256 tokens on
//! `/auth/me`, revocation by jti and by subject, expiry, a removed key, alg confusion and `none`, the
//! RFC 8693 exchange and its errors, and a tenant-side check of §8.6 independent of our verifier.

use std::time::Duration;

/// A form body: (field, value) pairs in order.
type Form = Vec<(&'static str, String)>;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use mgmt_domain::TenantId;
use mgmt_identity::{IssuerConfig, LoginSubject, SigningKey, SigningKeys, TokenIssuer};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::Value;

use crate::helpers::{Options, PUBLIC_API_URL, TestApp, signing_key_path, user};

const EXCHANGE: &str = "/api/v1/core/oauth/token";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";

fn issuer_with(kid: &str, file: &str, login_ttl: Duration) -> TokenIssuer {
    let pem = std::fs::read_to_string(signing_key_path(file)).unwrap();
    TokenIssuer::new(
        SigningKeys::new(vec![SigningKey::from_pem(kid, &pem).unwrap()]).unwrap(),
        IssuerConfig {
            issuer: PUBLIC_API_URL.into(),
            login_ttl,
            exchange_ttl: Duration::from_secs(300),
        },
    )
}

/// A login token as the server's own key (`k1`, key-a) signs it.
fn login(sub: &str, tenants: Vec<TenantId>) -> mgmt_identity::IssuedToken {
    issuer_with("k1", "key-a.pem", Duration::from_secs(3600))
        .mint_login(&LoginSubject {
            subject: sub.into(),
            email: format!("{sub}@example.com"),
            username: sub.into(),
            tenant_ids: tenants,
        })
        .unwrap()
}

fn no_fly() -> Options {
    Options {
        fly: false,
        workers: false,
        env: vec![("AUTH_REVOCATION_CACHE_SECS", "0".into())],
    }
}

async fn exchange(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    app.http
        .post(app.url(EXCHANGE))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn jwks_publishes_our_key_and_our_rs256_tokens_work_on_auth_me() {
    let app = TestApp::spawn(no_fly()).await;
    let resp = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=300"
    );
    let jwks: Value = resp.json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kid"].as_str(),
            key["kty"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some("k1"), Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert!(key["n"].is_string() && key["e"].is_string() && key.get("d").is_none());

    let sub = user();
    let token = login(&sub, vec![]);
    let me = app
        .get("/api/v1/auth/me", token.token.expose_secret())
        .await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"]["id"], sub.as_str());
    assert_eq!(me["user"]["email"], format!("{sub}@example.com"));
}

#[tokio::test]
async fn revoked_expired_removed_key_confused_and_unsigned_tokens_get_401() {
    let app = TestApp::spawn(no_fly()).await;
    // Revoked by jti.
    let sub = user();
    let a = login(&sub, vec![]);
    let b = login(&sub, vec![]);
    assert_eq!(
        app.get("/api/v1/auth/me", a.token.expose_secret())
            .await
            .status(),
        200
    );
    app.state
        .repos
        .revocations
        .revoke_token(&a.jti, a.expires_at)
        .await
        .unwrap();
    assert_eq!(
        app.get("/api/v1/auth/me", a.token.expose_secret())
            .await
            .status(),
        401
    );
    assert_eq!(
        app.get("/api/v1/auth/me", b.token.expose_secret())
            .await
            .status(),
        200
    );
    // Revoked by subject: every token issued until now.
    app.state
        .repos
        .revocations
        .revoke_subject(&sub, chrono::Utc::now())
        .await
        .unwrap();
    let resp = app.get("/api/v1/auth/me", b.token.expose_secret()).await;
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "token_revoked");

    // Expired.
    let expired = issuer_with("k1", "key-a.pem", Duration::from_secs(60));
    let mut claims: Value = {
        let t = expired
            .mint_login(&LoginSubject {
                subject: user(),
                email: "x@example.com".into(),
                username: "x".into(),
                tenant_ids: vec![],
            })
            .unwrap();
        let payload = t
            .token
            .expose_secret()
            .split('.')
            .nth(1)
            .unwrap()
            .to_owned();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    claims["exp"] = Value::from(chrono::Utc::now().timestamp() - 120);
    claims["iat"] = Value::from(chrono::Utc::now().timestamp() - 200);
    let pem = std::fs::read_to_string(signing_key_path("key-a.pem")).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("k1".into());
    let expired = encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(app.get("/api/v1/auth/me", &expired).await.status(), 401);

    // A key that is not (or no longer) listed: same kid, other key; and another kid.
    for (kid, file) in [("k1", "key-b.pem"), ("k-removed", "key-b.pem")] {
        let t = issuer_with(kid, file, Duration::from_secs(600))
            .mint_login(&LoginSubject {
                subject: user(),
                email: "y@example.com".into(),
                username: "y".into(),
                tenant_ids: vec![],
            })
            .unwrap();
        assert_eq!(
            app.get("/api/v1/auth/me", t.token.expose_secret())
                .await
                .status(),
            401,
            "{kid}"
        );
    }

    // Alg confusion: HS256 signed with the public key's bytes (PEM text and JWKS `n`) as the secret.
    let jwks: Value = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    claims["exp"] = Value::from(chrono::Utc::now().timestamp() + 600);
    for secret in [
        jwks["keys"][0]["n"].as_str().unwrap().as_bytes().to_vec(),
        serde_json::to_vec(&jwks["keys"][0]).unwrap(),
    ] {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("k1".into());
        let forged = encode(&h, &claims, &EncodingKey::from_secret(&secret)).unwrap();
        assert_eq!(app.get("/api/v1/auth/me", &forged).await.status(), 401);
    }
    // alg none.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    assert_eq!(app.get("/api/v1/auth/me", &none).await.status(), 401);
}

/// §8.6 as a tenant checks it, with nothing of ours: JWKS over HTTP, kid, RS256, iss, array aud.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TenantSideClaims {
    sub: String,
    iat: i64,
    exp: i64,
    iss: String,
    aud: Vec<String>,
    jti: String,
    scope: String,
    username: String,
    email: String,
    user_type: String,
    token_type: String,
    auth_time: i64,
}

async fn tenant_side_check(app: &TestApp, token: &str, tenant: &str) -> TenantSideClaims {
    let jwks: JwkSet = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("kid in JWKS");
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        panic!("not an RSA key");
    };
    let key = DecodingKey::from_rsa_components(&rsa.n, &rsa.e).unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[PUBLIC_API_URL]);
    v.set_audience(&[tenant]);
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(payload["aud"].is_array(), "aud is a JSON array");
    let claims = decode::<TenantSideClaims>(token, &key, &v).unwrap().claims;
    assert!(claims.aud.iter().any(|a| a == tenant));
    assert_eq!(claims.iss, PUBLIC_API_URL);
    assert_eq!(
        (
            claims.scope.as_str(),
            claims.user_type.as_str(),
            claims.token_type.as_str()
        ),
        ("user", "user", "Bearer")
    );
    claims
}

#[tokio::test]
async fn exchange_issues_a_tenant_token_with_and_without_client_id_and_the_cli_retry_works() {
    let app = TestApp::spawn(Options {
        env: vec![("AUTH_REVOCATION_CACHE_SECS", "0".into())],
        ..Options::default()
    })
    .await;
    let sub = user();
    let first = login(&sub, vec![]);
    let tenant = app
        .create_tenant(first.token.expose_secret(), "exchange")
        .await;
    // The login token of a customer who owns the tenant now (part B mints it at login).
    let subject = login(&sub, vec![TenantId::parse(&tenant).unwrap()]);
    tenant_side_check(&app, subject.token.expose_secret(), &tenant).await;

    for client in [Some("sp_web"), None] {
        let mut form = vec![
            ("grant_type", GRANT),
            ("subject_token", subject.token.expose_secret()),
            ("subject_token_type", ACCESS),
            ("resource", PUBLIC_API_URL),
        ];
        if let Some(c) = client {
            form.push(("client_id", c));
        }
        let resp = exchange(&app, &form).await;
        assert_eq!(resp.status(), 200, "{client:?}");
        assert_eq!(
            resp.headers()["cache-control"].to_str().unwrap(),
            "no-store"
        );
        let body: Value = resp.json().await.unwrap();
        assert!(body["expires_in"].is_u64(), "integer expires_in: {body}");
        assert_eq!(body["expires_in"], 300);
        assert_eq!(body["issued_token_type"], ACCESS);
        assert_eq!(body["token_type"], "Bearer");
        let token = body["access_token"].as_str().unwrap();
        let claims = tenant_side_check(&app, token, &tenant).await;
        assert_eq!(claims.sub, sub);
        assert_ne!(claims.jti, subject.jti);
        let status = app
            .get(&format!("/api/v1/tenants/{tenant}/status"), token)
            .await;
        assert_eq!(status.status(), 200);
    }

    // The H CLI's retry: an exchanged token that has expired → 401 → a new exchange → success.
    let short = issuer_with("k1", "key-a.pem", Duration::from_secs(1))
        .mint_login(&LoginSubject {
            subject: sub.clone(),
            email: format!("{sub}@example.com"),
            username: sub.clone(),
            tenant_ids: vec![TenantId::parse(&tenant).unwrap()],
        })
        .unwrap();
    // JWT_LEEWAY_SECS=5 in the tests: wait past it.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let path = format!("/api/v1/tenants/{tenant}/status");
    assert_eq!(
        app.get(&path, short.token.expose_secret()).await.status(),
        401
    );
    let again: Value = exchange(
        &app,
        &[
            ("grant_type", GRANT),
            ("subject_token", subject.token.expose_secret()),
            ("subject_token_type", ACCESS),
            ("resource", PUBLIC_API_URL),
            ("client_id", "sp_web"),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        app.get(&path, again["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    // Revoking the user revokes the exchanged tokens too.
    app.state
        .repos
        .revocations
        .revoke_subject(&sub, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        app.get(&path, again["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn exchange_errors_are_rfc6749_bodies() {
    let app = TestApp::spawn(no_fly()).await;
    let sub = user();
    let good = login(&sub, vec![]);
    let good = good.token.expose_secret().to_owned();
    let revoked = login(&sub, vec![]);
    app.state
        .repos
        .revocations
        .revoke_token(&revoked.jti, revoked.expires_at)
        .await
        .unwrap();
    let forged = issuer_with("k1", "key-b.pem", Duration::from_secs(600))
        .mint_login(&LoginSubject {
            subject: sub.clone(),
            email: "z@example.com".into(),
            username: "z".into(),
            tenant_ids: vec![],
        })
        .unwrap();
    // The good form with one edit.
    let edited = |edit: &dyn Fn(&mut Form)| -> Form {
        let mut f: Form = vec![
            ("grant_type", GRANT.into()),
            ("subject_token", good.clone()),
            ("subject_token_type", ACCESS.into()),
            ("resource", PUBLIC_API_URL.into()),
        ];
        edit(&mut f);
        f
    };
    let without = |field: usize| {
        edited(&|f| {
            f.remove(field);
        })
    };
    let cases: Vec<(Form, u16, &str)> = vec![
        (
            vec![("grant_type", "client_credentials".into())],
            400,
            "unsupported_grant_type",
        ),
        (
            edited(&|f| f[0].1 = "password".into()),
            400,
            "unsupported_grant_type",
        ),
        (
            edited(&|f| f[3].1 = "https://other.example".into()),
            400,
            "invalid_target",
        ),
        (
            edited(&|f| f[3].1 = format!("{PUBLIC_API_URL}/")),
            400,
            "invalid_target",
        ),
        (
            edited(&|f| f.push(("client_id", "evil".into()))),
            401,
            "invalid_client",
        ),
        (without(1), 400, "invalid_request"),
        (without(2), 400, "invalid_request"),
        (without(3), 400, "invalid_request"),
        (without(0), 400, "invalid_request"),
        (
            edited(&|f| f.push(("resource", PUBLIC_API_URL.into()))),
            400,
            "invalid_request",
        ),
        (
            edited(&|f| f[1].1 = "not-a-jwt".into()),
            400,
            "invalid_grant",
        ),
        (
            edited(&|f| f[1].1 = revoked.token.expose_secret().to_owned()),
            400,
            "invalid_grant",
        ),
        (
            edited(&|f| f[1].1 = forged.token.expose_secret().to_owned()),
            400,
            "invalid_grant",
        ),
    ];
    for (form, status, error) in cases {
        let resp = exchange(
            &app,
            &form
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;
        assert_eq!(resp.status(), status, "{form:?}");
        let text = resp.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"], error, "{text}");
        assert!(body["error_description"].is_string());
        assert!(!text.contains(&good), "the subject token is never echoed");
    }
    // A JSON body is refused.
    let resp = app
        .http
        .post(app.url(EXCHANGE))
        .json(&serde_json::json!({"grant_type": GRANT, "subject_token": good}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    // An oversized form is refused.
    let big = "x".repeat(64 * 1024);
    let resp = exchange(&app, &[("grant_type", GRANT), ("subject_token", &big)]).await;
    assert_eq!(resp.status(), 413);
}
