//! Authentication: the 401 challenge and token endpoint of the Bearer flow, Basic credentials, and
//! refusal of expired, tampered, foreign and deleted tenants' credentials.

use std::time::Duration;

use crate::common::*;
use chrono::Utc;
use mgmt_domain::TenantState;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_requests_get_a_bearer_challenge_and_the_token_flow_works() {
    let (_reg, up) = registry();
    let gw = start_gateway(up.config()).await;
    let (_t, cred) = gw.tenant("t").await;
    let http = reqwest::Client::new();

    let res = http.get(format!("{}/v2/", gw.url)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        challenge,
        format!(
            r#"Bearer realm="http://{}/v2/token",service="{}""#,
            gw.host, gw.host
        )
    );
    assert_eq!(error_code(res).await, "UNAUTHORIZED");
    let res = http
        .get(format!("{}/v2/{REPO}/manifests/{}", gw.url, cred.tag))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .ends_with(&format!(r#"scope="repository:{REPO}:pull,push""#))
    );

    // Token endpoint: Basic with the credential (any username) gives a Bearer token.
    let res = http
        .get(format!(
            "{}/v2/token?service={}&scope=repository:{REPO}:pull,push",
            gw.url, gw.host
        ))
        .basic_auth("whoever", Some(cred.token.expose_secret()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(body["access_token"].as_str(), Some(token.as_str()));
    assert!(body["expires_in"].as_i64().unwrap() > 3000);
    let res = http
        .get(format!("{}/v2/", gw.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    // ... and Basic works directly too.
    let res = gw.req(Method::GET, "/v2/", &cred).send().await.unwrap();
    assert_eq!(res.status(), 200);

    let res = http
        .get(format!("{}/v2/token", gw.url))
        .basic_auth("x", Some("not-a-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let res = http
        .get(format!("{}/v2/token", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tampered_and_foreign_credentials_are_refused() {
    let (_reg, up) = registry();
    let gw = start_gateway(up.config()).await;
    let (t, cred) = gw.tenant("t").await;
    let http = reqwest::Client::new();
    let expired = gw
        .issuer
        .issue_at(t.id, Utc::now() - chrono::Duration::hours(2));
    let token = cred.token.expose_secret();
    // Claims rewritten to another tenant, signature kept.
    let other = gw.issuer.issue(mgmt_domain::TenantId::new_random());
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[1] = other.token.expose_secret().split('.').nth(1).unwrap();
    let tampered = parts.join(".");
    let foreign = mgmt_registry_gateway::CredentialIssuer::new(
        SecretString::from("another-deployment-key-0123456789abcdef".to_owned()),
        Duration::from_secs(3600),
        gw.host.clone(),
        REPO.to_owned(),
    )
    .issue(t.id);
    for (what, bad) in [
        ("expired", expired.token.expose_secret().to_owned()),
        ("tampered", tampered),
        ("foreign key", foreign.token.expose_secret().to_owned()),
        ("garbage", "abc".to_owned()),
    ] {
        let url = format!("{}/v2/{REPO}/manifests/{}", gw.url, cred.tag);
        let res = http
            .get(&url)
            .basic_auth("x", Some(&bad))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{what}");
        assert!(res.headers().contains_key("www-authenticate"), "{what}");
        let body = res.text().await.unwrap();
        assert!(body.contains("UNAUTHORIZED"), "{what}: {body}");
        let res = http.get(&url).bearer_auth(&bad).send().await.unwrap();
        assert_eq!(res.status(), 401, "{what} as bearer");
    }
    let res = http
        .get(format!("{}/v2/", gw.url))
        .basic_auth("x", Some(expired.token.expose_secret()))
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_tenants_credential_is_refused_at_once() {
    let (_reg, up) = registry();
    let gw = start_gateway(up.config()).await;
    let (t, cred) = gw.tenant("doomed").await;
    let dir = tempfile::tempdir().unwrap();
    let image = random_image(&dir, "v1", 1, 10_000, false);
    push_as(&gw, &image, &cred.tag, &cred)
        .await
        .expect("push while alive");

    let mut tenant = gw.repos.tenants.get(t.id).await.unwrap();
    tenant.transition(TenantState::Deleting, None).unwrap();
    gw.repos.tenants.update(&tenant).await.unwrap();

    let res = gw.req(Method::GET, "/v2/", &cred).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("no longer exists"));
    assert_eq!(
        gw.answer(
            Method::GET,
            &format!("/v2/token?scope=repository:{REPO}:push"),
            &cred
        )
        .await
        .0,
        401
    );
    assert!(
        push_as(&gw, &image, &cred.tag, &cred).await.is_err(),
        "a deleting tenant pushed"
    );

    // An unknown tenant (never existed) is refused the same way.
    let ghost = gw.issuer.issue(mgmt_domain::TenantId::new_random());
    let res = gw.req(Method::GET, "/v2/", &ghost).send().await.unwrap();
    assert_eq!(res.status(), 401);
}
