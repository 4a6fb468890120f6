//! mock-idp is as strict as GitHub's and Google's OAuth endpoints where the login uses them: client
//! credentials, single-use codes bound to their `redirect_uri` and PKCE challenge, each provider's own
//! error shapes, GitHub's API authentication and Google's ID token checked against the published JWKS.
//! Driven over HTTP, like the server under test drives it.

mod github;
mod google;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mgmt_mock_idp::{MockIdp, MockUser, Provider};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The callback the "server under test" registers with the provider.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/auth/callback";
/// An RFC 7636 verifier (43..128 unreserved characters).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A client that, like a server following the flow, does not follow the provider's redirects itself.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A started mock with `user` signed in at both providers.
pub async fn mock_with_user(user: MockUser) -> MockIdp {
    let m = MockIdp::start().await.unwrap();
    m.set_user(Provider::Github, user.clone());
    m.set_user(Provider::Google, user);
    m
}

pub fn ada() -> MockUser {
    MockUser::verified("4242", "ada", "ada@example.test")
}

/// The query of the redirect the authorize endpoint answers with, as name/value pairs.
pub async fn authorize(m: &MockIdp, path: &str, params: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut url = url::Url::parse(&format!("{}{path}", m.url())).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    let resp = client().get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302, "authorize answers a redirect");
    let location = resp
        .headers()
        .get("location")
        .expect("Location")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        location.starts_with(REDIRECT_URI),
        "redirects to the registered callback: {location}"
    );
    url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A response's status, content type and body (JSON, or `Null` when it is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub text: String,
    pub json: Value,
}

pub async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    Reply {
        status,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        content_type,
        text,
    }
}

/// POSTs `form` URL-encoded to `path`, with `accept` when given.
pub async fn post_form(
    m: &MockIdp,
    path: &str,
    form: &[(&str, &str)],
    accept: Option<&str>,
) -> Reply {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut req = client()
        .post(format!("{}{path}", m.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    reply(req.send().await.unwrap()).await
}
