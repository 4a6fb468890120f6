//! Wire behaviour of the registry client against a local fake: challenge-driven auth (Basic, Bearer
//! with per-scope caching and one retry on `invalid_token`), Accept headers, the digest computed when
//! the header is missing, credentials never following a redirect to another host, and the breaker.

use std::time::Duration;

use mgmt_domain::media_type::{OCI_INDEX, OCI_MANIFEST};
use mgmt_fly_client::registry::MANIFEST_ACCEPT;
use mgmt_fly_client::resilience::{BreakerConfig, BreakerState, RetryPolicy};
use mgmt_fly_client::{FlyError, HttpRegistry, Registry, RegistryConfig};
use secrecy::SecretString;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const BASIC: &str = "Basic dXNlcjpwYXNz"; // user:pass

fn client(server: &MockServer) -> HttpRegistry {
    let mut cfg = RegistryConfig::new(server.uri(), "user", SecretString::from("pass".to_string()));
    cfg.retry = RetryPolicy {
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    cfg.breaker = BreakerConfig {
        failure_threshold: 2,
        cool_down: Duration::from_secs(60),
    };
    HttpRegistry::new(cfg).unwrap()
}

fn found() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("docker-content-digest", DIGEST)
        .insert_header("content-type", OCI_INDEX)
}

/// `HEAD /v2/app/manifests/<tag>`, carrying `authorization` when given.
fn head_manifest(tag: &str, authorization: Option<&str>) -> MockBuilder {
    let head = Mock::given(method("HEAD")).and(path(format!("/v2/app/manifests/{tag}")));
    match authorization {
        Some(value) => head.and(header("authorization", value)),
        None => head,
    }
}

/// What distribution with htpasswd answers without credentials.
fn basic_challenge() -> ResponseTemplate {
    ResponseTemplate::new(401).insert_header("www-authenticate", r#"Basic realm="r""#)
}

/// The token endpoint a bearer challenge names as its realm.
fn token_endpoint() -> MockBuilder {
    Mock::given(method("GET")).and(path("/token"))
}

/// The token endpoint's answer.
fn token(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// A token-auth challenge for pulling `app`, with the token error when given.
fn bearer_challenge(server: &MockServer, error: Option<&str>) -> ResponseTemplate {
    let mut value = format!(
        r#"Bearer realm="{}/token",service="reg.test",scope="repository:app:pull""#,
        server.uri()
    );
    if let Some(e) = error {
        value.push_str(&format!(r#",error="{e}""#));
    }
    ResponseTemplate::new(401).insert_header("www-authenticate", value.as_str())
}

#[tokio::test]
async fn bearer_tokens_are_fetched_with_basic_and_cached_per_scope() {
    let server = MockServer::start().await;
    token_endpoint()
        .and(header("authorization", BASIC))
        .and(query_param("service", "reg.test"))
        .and(query_param("scope", "repository:app:pull"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"token": "T1", "expires_in": 300})),
        )
        .expect(1)
        .mount(&server)
        .await;
    head_manifest("v1", Some("Bearer T1"))
        .respond_with(found())
        .expect(2)
        .mount(&server)
        .await;
    head_manifest("v1", None)
        .respond_with(bearer_challenge(&server, None))
        .expect(1)
        .mount(&server)
        .await;
    let reg = client(&server);
    for _ in 0..2 {
        let got = reg.resolve("app", "v1").await.unwrap().unwrap();
        assert_eq!(got.digest, DIGEST);
        assert_eq!(got.media_type, OCI_INDEX);
    }
    assert!(!format!("{reg:?}").contains("T1"), "token in Debug output");
    assert!(
        !format!("{reg:?}").contains("\"pass\""),
        "password in Debug output"
    );
    let requests = server.received_requests().await.unwrap();
    let accept = requests
        .iter()
        .find(|r| r.url.path().contains("manifests"))
        .unwrap()
        .headers
        .get("accept")
        .unwrap();
    for media_type in MANIFEST_ACCEPT {
        assert!(
            accept.to_str().unwrap().contains(media_type),
            "Accept lacks {media_type}"
        );
    }
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(token(json!({"access_token": "OLD"})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    token_endpoint()
        .respond_with(token(json!({"access_token": "NEW"})))
        .mount(&server)
        .await;
    // OLD works once, then the registry calls it invalid (revoked, expired early).
    head_manifest("v1", Some("Bearer OLD"))
        .respond_with(found())
        .up_to_n_times(1)
        .mount(&server)
        .await;
    head_manifest("v1", Some("Bearer OLD"))
        .respond_with(bearer_challenge(&server, Some("invalid_token")))
        .expect(1)
        .mount(&server)
        .await;
    head_manifest("v1", Some("Bearer NEW"))
        .respond_with(found())
        .expect(1)
        .mount(&server)
        .await;
    head_manifest("v1", None)
        .respond_with(bearer_challenge(&server, None))
        .expect(1)
        .mount(&server)
        .await;
    let reg = client(&server);
    assert_eq!(
        reg.resolve("app", "v1").await.unwrap().unwrap().digest,
        DIGEST
    );
    assert_eq!(
        reg.resolve("app", "v1").await.unwrap().unwrap().digest,
        DIGEST
    );
    let token_calls = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/token")
        .count();
    assert_eq!(token_calls, 2);
}

#[tokio::test]
async fn a_token_refused_again_is_unauthorized() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(token(json!({"token": "T"})))
        .expect(1)
        .mount(&server)
        .await;
    head_manifest("v1", None)
        .respond_with(bearer_challenge(&server, Some("insufficient_scope")))
        .expect(2)
        .mount(&server)
        .await;
    assert!(matches!(
        client(&server).resolve("app", "v1").await,
        Err(FlyError::Unauthorized(_))
    ));
}

#[tokio::test]
async fn basic_challenge_gets_basic_and_401_is_unauthorized_not_absent() {
    let server = MockServer::start().await;
    head_manifest("v1", Some(BASIC))
        .respond_with(found())
        .mount(&server)
        .await;
    head_manifest("v1", None)
        .respond_with(basic_challenge())
        .mount(&server)
        .await;
    head_manifest("denied", None)
        .respond_with(basic_challenge())
        .mount(&server)
        .await;
    head_manifest("forbidden", None)
        .respond_with(ResponseTemplate::new(403))
        .mount(&server)
        .await;
    let reg = client(&server);
    assert_eq!(
        reg.resolve("app", "v1").await.unwrap().unwrap().digest,
        DIGEST
    );
    assert!(matches!(
        reg.resolve("app", "denied").await,
        Err(FlyError::Unauthorized(_))
    ));
    assert!(matches!(
        reg.resolve("app", "forbidden").await,
        Err(FlyError::Unauthorized(_))
    ));
}

#[tokio::test]
async fn digest_is_computed_when_the_header_is_missing() {
    let server = MockServer::start().await;
    let body = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST}).to_string();
    head_manifest("v1", None)
        .respond_with(ResponseTemplate::new(200).insert_header("content-type", OCI_MANIFEST))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/app/manifests/v1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(body.clone().into_bytes(), OCI_MANIFEST),
        )
        .mount(&server)
        .await;
    let got = client(&server).resolve("app", "v1").await.unwrap().unwrap();
    assert_eq!(
        got.digest,
        format!("sha256:{}", hex::encode(Sha256::digest(&body)))
    );
    assert_eq!(got.size, Some(body.len() as u64));
}

#[tokio::test]
async fn credentials_never_follow_a_redirect_to_another_host() {
    let registry = MockServer::start().await;
    let storage = MockServer::start().await;
    Mock::given(method("HEAD"))
        .and(path(format!("/v2/app/blobs/{DIGEST}")))
        .and(header("authorization", BASIC))
        .respond_with(ResponseTemplate::new(307).insert_header(
            "location",
            format!("{}/blob-store/x?sig=1", storage.uri()).as_str(),
        ))
        .mount(&registry)
        .await;
    Mock::given(method("HEAD"))
        .and(path(format!("/v2/app/blobs/{DIGEST}")))
        .respond_with(basic_challenge())
        .mount(&registry)
        .await;
    Mock::given(method("HEAD"))
        .and(path("/blob-store/x"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&storage)
        .await;
    assert!(client(&registry).blob_exists("app", DIGEST).await.unwrap());
    let seen = storage.received_requests().await.unwrap();
    assert!(
        seen.iter()
            .all(|r| r.headers.get("authorization").is_none()),
        "credentials leaked to storage"
    );
}

#[tokio::test]
async fn registry_breaker_is_its_own_and_404_is_absent() {
    let server = MockServer::start().await;
    head_manifest("gone", None)
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    head_manifest("v1", None)
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let reg = client(&server);
    assert_eq!(reg.resolve("app", "gone").await.unwrap(), None);
    assert!(matches!(
        reg.resolve("app", "v1").await,
        Err(FlyError::Transient(_))
    ));
    assert_eq!(reg.breaker_state(), BreakerState::Open);
    assert!(matches!(
        reg.resolve("app", "gone").await,
        Err(FlyError::CircuitOpen {
            upstream: "registry"
        })
    ));
    assert!(matches!(
        reg.resolve("../x", "v1").await,
        Err(FlyError::InvalidArgument(_))
    ));
}
