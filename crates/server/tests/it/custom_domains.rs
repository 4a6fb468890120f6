//! `/tenants/{id}/custom-domain` through the real server and mock-fly: the CLI's strict shapes, the
//! claim rules (one per tenant, one tenant per domain), verification when Fly issues the certificate,
//! removal, bad input, another customer's tenant, and the domain freed by the tenant's deletion.

use std::time::Duration;

use mgmt_test_support::wait::{Check, eventually};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cli_types::Data;
use crate::helpers::{Options, TestApp, user};

/// The CLI's `CustomDomain` (strict: unknown fields fail here, required ones must be present).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomDomain {
    domain: String,
    status: String,
    verified: bool,
    dns_target: String,
    dns_instructions: DnsInstructions,
    created_at: Option<String>,
    verified_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsInstructions {
    record_type: String,
    host: String,
    value: String,
    ttl: u32,
}

fn path(id: &str) -> String {
    format!("/api/v1/tenants/{id}/custom-domain")
}

async fn post(app: &TestApp, token: &str, id: &str, body: &Value) -> reqwest::Response {
    app.call(Method::POST, &path(id), Some(token), Some(body))
        .await
}

async fn decode(resp: reqwest::Response) -> CustomDomain {
    let text = resp.text().await.unwrap();
    serde_json::from_str::<Data<CustomDomain>>(&text)
        .unwrap_or_else(|e| panic!("not the CLI's CustomDomain ({e}): {text}"))
        .data
}

async fn error_code(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap();
    (
        status,
        v["error"]["code"].as_str().unwrap().to_owned(),
        v["error"]["message"].as_str().unwrap().to_owned(),
    )
}

async fn ready_tenant(app: &TestApp, token: &str, name: &str) -> String {
    let id = app.create_tenant(token, name).await;
    app.wait_status(token, &id, "ready", Duration::from_secs(30))
        .await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_show_verify_and_remove_a_custom_domain() {
    let app = TestApp::spawn(Options::default()).await;
    let token = app.token(&user());
    let id = ready_tenant(&app, &token, "shop").await;

    // None yet: a 404 whose code says `not_found`, as the CLI's `domain status` looks for.
    let (status, code, _) = error_code(app.get(&path(&id), &token).await).await;
    assert_eq!((status, code.as_str()), (404, "custom_domain_not_found"));

    let resp = post(
        &app,
        &token,
        &id,
        &json!({"domain": "  Shop.Example.COM. "}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let d = decode(resp).await;
    assert_eq!(d.domain, "shop.example.com");
    assert!(!d.verified && d.verified_at.is_none());
    assert_eq!(d.status, "pending_validation");
    assert!(d.dns_target.ends_with(".fly.dev"), "{}", d.dns_target);
    assert_eq!(d.dns_instructions.record_type, "CNAME");
    assert_eq!(d.dns_instructions.host, "shop.example.com");
    assert_eq!(d.dns_instructions.value, d.dns_target);
    assert_eq!(d.dns_instructions.ttl, 300);
    assert!(d.created_at.is_some());

    // The certificate is on the tenant's app at Fly.
    let mock = app.mock.as_ref().unwrap();
    let holder = mock
        .state()
        .apps
        .into_iter()
        .find(|a| a.certificates.contains_key("shop.example.com"))
        .expect("Fly holds the certificate");
    assert_eq!(d.dns_target, format!("{}.fly.dev", holder.name));

    // The same domain again is the existing one; another one must wait for a removal.
    let again = post(&app, &token, &id, &json!({"domain": "shop.example.com"})).await;
    assert_eq!(again.status(), 200);
    assert_eq!(decode(again).await.domain, "shop.example.com");
    let (status, code, message) =
        error_code(post(&app, &token, &id, &json!({"domain": "www.example.com"})).await).await;
    assert_eq!((status, code.as_str()), (409, "conflict"));
    assert!(message.contains("remove it first"), "{message}");

    // Pending until Fly issues the certificate; then verified, and the first time sticks.
    let pending = decode(app.get(&path(&id), &token).await).await;
    assert!(!pending.verified);
    assert!(mock.issue_certificate("shop.example.com"));
    let verified = decode(app.get(&path(&id), &token).await).await;
    assert!(verified.verified, "{verified:?}");
    assert_eq!(verified.status, "active");
    let first = verified.verified_at.clone().expect("verified_at");
    let later = decode(app.get(&path(&id), &token).await).await;
    assert_eq!(later.verified_at.as_deref(), Some(first.as_str()));

    // Removal deletes the certificate and is idempotent; the CLI then sees "no domain".
    let resp = app
        .call(Method::DELETE, &path(&id), Some(&token), None)
        .await;
    assert_eq!(resp.status(), 204);
    assert!(
        mock.state()
            .apps
            .iter()
            .all(|a| !a.certificates.contains_key("shop.example.com"))
    );
    let resp = app
        .call(Method::DELETE, &path(&id), Some(&token), None)
        .await;
    assert_eq!(resp.status(), 204);
    let (status, code, _) = error_code(app.get(&path(&id), &token).await).await;
    assert_eq!((status, code.as_str()), (404, "custom_domain_not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_is_one_tenants_and_another_customer_sees_nothing() {
    let app = TestApp::spawn(Options::default()).await;
    let (alice, bob) = (app.token(&user()), app.token(&user()));
    let a = ready_tenant(&app, &alice, "alice-site").await;
    let b = ready_tenant(&app, &bob, "bob-site").await;

    let resp = post(&app, &alice, &a, &json!({"domain": "taken.example.org"})).await;
    assert_eq!(resp.status(), 201);

    // Bob cannot see, set or remove on Alice's tenant: it does not exist for him.
    for (method, body) in [
        (Method::GET, None),
        (Method::POST, Some(json!({"domain": "x.example.org"}))),
        (Method::DELETE, None),
    ] {
        let resp = app
            .call(method.clone(), &path(&a), Some(&bob), body.as_ref())
            .await;
        let (status, code, _) = error_code(resp).await;
        assert_eq!(
            (status, code.as_str()),
            (404, "tenant_not_found"),
            "{method}"
        );
    }

    // The domain is Alice's: Bob is told it is taken, never by whom.
    let (status, code, message) =
        error_code(post(&app, &bob, &b, &json!({"domain": "TAKEN.example.org."})).await).await;
    assert_eq!((status, code.as_str()), (409, "domain_taken"));
    assert!(!message.contains(&a), "{message}");

    // Deleting Alice's tenant frees the domain (its app, and the certificate, go with it).
    let resp = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tenants/{a}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(resp.status(), 202);
    eventually(Duration::from_secs(30), || async {
        let resp = post(&app, &bob, &b, &json!({"domain": "taken.example.org"})).await;
        match resp.status().as_u16() {
            201 => Check::Done(()),
            409 => Check::not_yet("still taken"),
            other => Check::Fail(anyhow::anyhow!(
                "unexpected {other}: {}",
                resp.text().await.unwrap()
            )),
        }
    })
    .await
    .expect("the domain is free once the tenant is deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_with_the_error_body() {
    let app = TestApp::spawn(Options::default()).await;
    let token = app.token(&user());
    let id = ready_tenant(&app, &token, "strict").await;

    for domain in [
        "",
        "localhost",
        "*.example.com",
        "10.1.2.3",
        "exa mple.com",
        "bücher.de",
        "-bad.example.com",
        "abc.sites.example.test",
        "sites.example.test",
        &format!("{}.com", "a".repeat(64)),
    ] {
        let (status, code, _) =
            error_code(post(&app, &token, &id, &json!({"domain": domain})).await).await;
        assert_eq!(
            (status, code.as_str()),
            (422, "invalid_input"),
            "{domain:?}"
        );
    }
    for (body, want) in [
        (json!({"domain": "ok.example.com", "extra": 1}), 422),
        (json!({"domain": 7}), 422),
        (json!({}), 422),
    ] {
        let (status, _, _) = error_code(post(&app, &token, &id, &body).await).await;
        assert_eq!(status, want, "{body}");
    }
    let resp = app
        .http
        .post(app.url(&path(&id)))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(resp).await.0, 400);
    let (status, code, _) = error_code(
        app.get("/api/v1/tenants/not-a-uuid/custom-domain", &token)
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_tenant_id"));
    let resp = app.call(Method::GET, &path(&id), None, None).await;
    assert_eq!(resp.status(), 401);
    // Nothing was claimed by any of it.
    let (status, _, _) = error_code(app.get(&path(&id), &token).await).await;
    assert_eq!(status, 404);
}
