//! Authorization: another customer's tenant is a 404 exactly like a missing one, on every endpoint;
//! missing, expired, forged, wrongly issued or malformed tokens are 401 on every protected route.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::cli_types::*;
use crate::helpers::*;

/// Every endpoint of one tenant, with a body a legitimate caller could send.
fn tenant_endpoints(id: &str, image: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, format!("/api/v1/tenants/{id}"), None),
        (Method::GET, format!("/api/v1/tenants/{id}/status"), None),
        (Method::GET, format!("/api/v1/tenants/{id}/events"), None),
        (
            Method::GET,
            format!("/api/v1/tenants/{id}/registry-token"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/tenants/{id}/deploy"),
            Some(json!({"image": image})),
        ),
        (Method::POST, format!("/api/v1/tenants/{id}/restart"), None),
        (
            Method::POST,
            format!("/api/v1/tenants/{id}/retry-provision"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/tenants/{id}/secrets"),
            Some(json!({"secrets": {"K": "v"}})),
        ),
        (Method::GET, format!("/api/v1/tenants/{id}/secrets"), None),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{id}/secrets/K"),
            None,
        ),
        (Method::DELETE, format!("/api/v1/tenants/{id}"), None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_customers_tenant_is_indistinguishable_from_a_missing_one() {
    let app = TestApp::spawn(Options::default()).await;
    let (a, b) = (app.token(&user()), app.token(&user()));
    let id = app.create_tenant(&b, "b-shop").await;
    app.wait_status(&b, &id, "awaiting_deploy", Duration::from_secs(30))
        .await;
    let before = app
        .state
        .repos
        .tenants
        .get(mgmt_domain::TenantId::parse(&id).unwrap())
        .await
        .unwrap();
    let gw = app.gateway.unwrap();
    let missing = uuid::Uuid::new_v4().to_string();

    for ((method, path, body), (_, missing_path, missing_body)) in
        tenant_endpoints(&id, &format!("{gw}/{REPOSITORY}:tenant-{id}"))
            .into_iter()
            .zip(tenant_endpoints(
                &missing,
                &format!("{gw}/{REPOSITORY}:tenant-{missing}"),
            ))
    {
        let theirs = expect_error(
            app.call(method.clone(), &path, Some(&a), body.as_ref())
                .await,
            404,
        )
        .await;
        let absent = expect_error(
            app.call(
                method.clone(),
                &missing_path,
                Some(&a),
                missing_body.as_ref(),
            )
            .await,
            404,
        )
        .await;
        assert_eq!(
            (theirs.code.as_str(), theirs.message.as_str()),
            ("tenant_not_found", "tenant not found"),
            "{method} {path}"
        );
        assert_eq!(
            (absent.code, absent.message),
            (theirs.code, theirs.message),
            "{method} {path}"
        );
    }
    let after = app.state.repos.tenants.get(before.id).await.unwrap();
    assert_eq!(
        after, before,
        "the other customer's calls changed the tenant"
    );
    let list: Data<Vec<TenantListItem>> = decode(app.get("/api/v1/tenants", &a).await).await;
    assert!(list.data.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_401_on_every_protected_route() {
    let app = TestApp::spawn(Options {
        fly: false,
        ..Default::default()
    })
    .await;
    let sub = user();
    let id = uuid::Uuid::new_v4().to_string();
    let public = [
        "/api/v1/health",
        "/api/v1/ready",
        "/api/v1/openapi.json",
        // The tokens we issue: public keys, and the exchange (its subject token is in the form).
        "/.well-known/jwks.json",
        "/api/v1/core/oauth/token",
        // The login: the CLI asks for the authorize URL without a token; the provider sends the browser
        // back to the callback.
        "/api/v1/auth/oauth/{provider}",
        "/api/v1/auth/oauth/{provider}/callback",
        // Browser pages of the checkout: a browser carries no bearer; the unguessable, single-use
        // checkout session id (or Paddle's transaction id) is the key.
        "/checkout/return",
        "/checkout/{session}",
        // Paddle's webhooks are authenticated by their `Paddle-Signature`, not a bearer.
        "/api/v1/webhooks/paddle",
    ];
    let tokens: Vec<(&str, Option<String>)> = vec![
        ("none", None),
        (
            "expired",
            Some(token_with(&sub, JWT_SECRET, Some(JWT_ISSUER), -600)),
        ),
        (
            "bad signature",
            Some(token_with(
                &sub,
                "another-secret-of-sufficient-length-000000",
                Some(JWT_ISSUER),
                600,
            )),
        ),
        (
            "wrong issuer",
            Some(token_with(&sub, JWT_SECRET, Some("https://evil.test"), 600)),
        ),
        ("no issuer", Some(token_with(&sub, JWT_SECRET, None, 600))),
        ("garbage", Some("not-a-jwt".to_owned())),
    ];
    for (method, path) in mgmt_http::ROUTES
        .iter()
        .filter(|(_, p)| !public.contains(p))
    {
        let path = path.replace("{id}", &id).replace("{key}", "K");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        for (what, token) in &tokens {
            let resp = app
                .call(method.clone(), &path, token.as_deref(), Some(&json!({})))
                .await;
            assert_eq!(
                resp.headers()
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap()),
                Some("Bearer"),
                "{what} {method} {path}"
            );
            let err = expect_error(resp, 401).await;
            assert!(
                ["missing_token", "token_expired", "invalid_token"].contains(&err.code.as_str()),
                "{what}: {err:?}"
            );
        }
        // A scheme other than Bearer is refused too.
        let resp = app
            .http
            .request(method.clone(), app.url(&path))
            .header("authorization", "Basic dTpw")
            .send()
            .await
            .unwrap();
        expect_error(resp, 401).await;
    }
    // None of these created a customer.
    assert!(
        app.state
            .repos
            .customers
            .find_by_subject(&sub)
            .await
            .unwrap()
            .is_none()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_are_refused_when_customers_must_exist() {
    let app = TestApp::spawn(Options {
        fly: false,
        env: vec![("AUTH_CREATE_CUSTOMERS", "false".into())],
        ..Default::default()
    })
    .await;
    let err = expect_error(app.get("/api/v1/auth/me", &app.token(&user())).await, 403).await;
    assert_eq!(err.code, "customer_not_found");
    app.stop().await;
}
