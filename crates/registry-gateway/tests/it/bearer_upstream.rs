//! An upstream that wants the Bearer token flow (as Docker Hub, GHCR or a distribution with token auth
//! do): the gateway fetches a token with the org's Basic credentials, caches it, and renews it when the
//! upstream refuses it.

use std::net::TcpListener;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::*;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mgmt_domain::media_type::OCI_MANIFEST;
use reqwest::Method;

/// The one manifest the fake serves.
fn manifest() -> String {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"digest": format!("sha256:{}", "0".repeat(64)), "size": 1},
        "layers": [],
    })
    .to_string()
}

/// The fake's state: which token is currently valid and what the token endpoint was asked.
#[derive(Default)]
struct Fake {
    valid_token: Mutex<String>,
    issued: AtomicUsize,
    token_queries: Mutex<Vec<String>>,
}

async fn token(req: HttpRequest, fake: web::Data<Fake>) -> HttpResponse {
    let expected = format!("Basic {}", STANDARD.encode("org:org-secret"));
    if req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return HttpResponse::Unauthorized().finish();
    }
    fake.token_queries
        .lock()
        .unwrap()
        .push(req.query_string().to_owned());
    let n = fake.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let tok = format!("tok-{n}");
    *fake.valid_token.lock().unwrap() = tok.clone();
    HttpResponse::Ok().json(serde_json::json!({"token": tok, "expires_in": 300}))
}

async fn registry(req: HttpRequest, fake: web::Data<Fake>) -> HttpResponse {
    let valid = format!("Bearer {}", fake.valid_token.lock().unwrap());
    if req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(valid.as_str())
    {
        let realm = format!("http://{}/token", req.connection_info().host());
        return HttpResponse::Unauthorized()
            .insert_header((
                "www-authenticate",
                format!(r#"Bearer realm="{realm}",service="fake""#),
            ))
            .finish();
    }
    match req.path() {
        "/v2/" => HttpResponse::Ok().json(serde_json::json!({})),
        p if p.starts_with(&format!("/v2/{REPO}/manifests/")) => HttpResponse::Ok()
            .insert_header(("content-type", OCI_MANIFEST))
            .insert_header((
                "docker-content-digest",
                "sha256:1111111111111111111111111111111111111111111111111111111111111111",
            ))
            .body(manifest()),
        other => panic!("fake upstream: unexpected route {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_follows_an_upstream_bearer_challenge_and_renews_refused_tokens() {
    let fake = web::Data::new(Fake::default());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let data = fake.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/token", web::get().to(token))
            .default_service(web::to(registry))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);

    let up = Upstream {
        url: format!("http://{addr}"),
        username: "org".into(),
        password: "org-secret".into(),
    };
    let gw = start_gateway(up.config()).await;
    let (_t, cred) = gw.tenant("t").await;
    let path = format!("/v2/{REPO}/manifests/{}", cred.tag);

    let res = gw.req(Method::GET, &path, &cred).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), manifest());
    assert_eq!(fake.issued.load(Ordering::SeqCst), 1);
    let query = fake.token_queries.lock().unwrap()[0].clone();
    assert!(
        query.contains("scope=repository%3Ashared%3Apull%2Cpush") && query.contains("service=fake"),
        "{query}"
    );

    // The token is reused while valid...
    let res = gw.req(Method::HEAD, &path, &cred).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(fake.issued.load(Ordering::SeqCst), 1);
    // ... and renewed (the request retried) when the upstream stops accepting it.
    *fake.valid_token.lock().unwrap() = "revoked".into();
    let res = gw.req(Method::GET, &path, &cred).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(fake.issued.load(Ordering::SeqCst), 2);
    handle.stop(false).await;
}
