//! GitHub's OAuth app endpoints and the two API calls the login makes (`/user`, `/user/emails`).

use mgmt_mock_idp::{
    GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, GithubEmail, MockIdp, MockUser, Provider,
};
use serde_json::json;

use super::{
    REDIRECT_URI, Reply, VERIFIER, ada, authorize, challenge, client, mock_with_user, param,
    post_form, reply,
};

const AUTHORIZE: &str = "/github/login/oauth/authorize";
const TOKEN: &str = "/github/login/oauth/access_token";

/// A code for the signed-in user, bound to [`REDIRECT_URI`] and the challenge of [`VERIFIER`].
async fn code(m: &MockIdp) -> String {
    let ch = challenge(VERIFIER);
    let q = authorize(
        m,
        AUTHORIZE,
        &[
            ("client_id", GITHUB_CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "read:user user:email"),
            ("state", "st-1"),
            ("code_challenge", &ch),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(param(&q, "state"), Some("st-1"), "state is echoed");
    param(&q, "code").expect("code").to_owned()
}

async fn exchange(m: &MockIdp, code: &str, secret: &str, redirect: &str, verifier: &str) -> Reply {
    post_form(
        m,
        TOKEN,
        &[
            ("client_id", GITHUB_CLIENT_ID),
            ("client_secret", secret),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ],
        Some("application/json"),
    )
    .await
}

async fn good_exchange(m: &MockIdp, code: &str) -> Reply {
    exchange(m, code, GITHUB_CLIENT_SECRET, REDIRECT_URI, VERIFIER).await
}

/// GitHub answers token errors with HTTP 200 and a JSON body when JSON was asked for.
fn assert_token_error(r: &Reply, error: &str) {
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.content_type.starts_with("application/json"),
        "{}",
        r.content_type
    );
    assert_eq!(r.json["error"], error, "{}", r.text);
    assert!(r.json["error_description"].is_string(), "{}", r.text);
    assert!(r.json["error_uri"].is_string(), "{}", r.text);
    assert!(r.json.get("access_token").is_none(), "{}", r.text);
}

async fn api(m: &MockIdp, path: &str, auth: Option<&str>) -> Reply {
    let mut req = client()
        .get(format!("{}/github/api{path}", m.url()))
        .header("accept", "application/vnd.github+json");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    reply(req.send().await.unwrap()).await
}

fn assert_bad_credentials(r: &Reply) {
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.json["message"], "Bad credentials", "{}", r.text);
    assert!(r.json["documentation_url"].is_string(), "{}", r.text);
}

#[tokio::test]
async fn the_whole_flow_yields_a_token_that_reads_the_user_and_the_emails() {
    let m = mock_with_user(MockUser {
        emails: vec![
            GithubEmail {
                email: "old@example.test".into(),
                primary: false,
                verified: false,
            },
            GithubEmail {
                email: "ada@example.test".into(),
                primary: true,
                verified: true,
            },
        ],
        ..ada()
    })
    .await;
    let c = code(&m).await;
    let r = good_exchange(&m, &c).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["token_type"], "bearer");
    let token = r.json["access_token"].as_str().expect("access_token");
    assert!(token.starts_with("gho_"), "{token}");
    assert_eq!(m.token_requests(), 1);

    let user = api(&m, "/user", Some(&format!("Bearer {token}"))).await;
    assert_eq!(user.status, 200, "{}", user.text);
    assert_eq!(user.json["id"], json!(4242), "a number, as GitHub's");
    assert_eq!(user.json["login"], "ada");
    assert_eq!(
        user.json["email"],
        json!(null),
        "the public address is unset"
    );
    // GitHub also accepts the older `token` scheme.
    let emails = api(&m, "/user/emails", Some(&format!("token {token}"))).await;
    assert_eq!(emails.status, 200, "{}", emails.text);
    assert_eq!(
        emails.json,
        json!([
            {"email": "old@example.test", "primary": false, "verified": false, "visibility": null},
            {"email": "ada@example.test", "primary": true, "verified": true, "visibility": "private"},
        ])
    );
}

#[tokio::test]
async fn without_accept_json_the_token_answer_is_form_encoded() {
    let m = mock_with_user(ada()).await;
    let c = code(&m).await;
    let form = [
        ("client_id", GITHUB_CLIENT_ID),
        ("client_secret", GITHUB_CLIENT_SECRET),
        ("code", c.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let ok = post_form(&m, TOKEN, &form, None).await;
    assert_eq!(ok.status, 200);
    assert!(
        ok.content_type
            .starts_with("application/x-www-form-urlencoded"),
        "{}",
        ok.content_type
    );
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(ok.text.as_bytes())
        .into_owned()
        .collect();
    assert!(
        pairs
            .iter()
            .any(|(k, v)| k == "access_token" && v.starts_with("gho_")),
        "{}",
        ok.text
    );
    // The same code again: the error is form-encoded too, still with HTTP 200.
    let again = post_form(&m, TOKEN, &form, None).await;
    assert_eq!(again.status, 200);
    assert!(
        again.text.contains("error=bad_verification_code"),
        "{}",
        again.text
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_as_incorrect_client_credentials() {
    let m = mock_with_user(ada()).await;
    let c = code(&m).await;
    let r = exchange(&m, &c, "not-the-secret", REDIRECT_URI, VERIFIER).await;
    assert_token_error(&r, "incorrect_client_credentials");
    // An unknown client id likewise.
    let c = code(&m).await;
    let r = post_form(
        &m,
        TOKEN,
        &[
            ("client_id", "Iv1.someoneelse"),
            ("client_secret", GITHUB_CLIENT_SECRET),
            ("code", c.as_str()),
            ("code_verifier", VERIFIER),
        ],
        Some("application/json"),
    )
    .await;
    assert_token_error(&r, "incorrect_client_credentials");
}

#[tokio::test]
async fn a_code_is_single_use() {
    let m = mock_with_user(ada()).await;
    let c = code(&m).await;
    assert_eq!(good_exchange(&m, &c).await.json["token_type"], "bearer");
    let r = good_exchange(&m, &c).await;
    assert_token_error(&r, "bad_verification_code");
    // A code never issued likewise.
    assert_token_error(
        &good_exchange(&m, "no-such-code").await,
        "bad_verification_code",
    );
}

#[tokio::test]
async fn a_code_is_bound_to_its_redirect_uri() {
    let m = mock_with_user(ada()).await;
    let c = code(&m).await;
    let r = exchange(
        &m,
        &c,
        GITHUB_CLIENT_SECRET,
        "http://127.0.0.1:9/elsewhere",
        VERIFIER,
    )
    .await;
    assert_token_error(&r, "redirect_uri_mismatch");
    // The failed attempt used the code up.
    assert_token_error(&good_exchange(&m, &c).await, "bad_verification_code");
}

#[tokio::test]
async fn a_wrong_or_missing_pkce_verifier_is_refused() {
    let m = mock_with_user(ada()).await;
    let c = code(&m).await;
    let wrong = "a-different-verifier-that-is-long-enough-0123456789";
    assert_token_error(
        &exchange(&m, &c, GITHUB_CLIENT_SECRET, REDIRECT_URI, wrong).await,
        "bad_verification_code",
    );
    let c = code(&m).await;
    let r = post_form(
        &m,
        TOKEN,
        &[
            ("client_id", GITHUB_CLIENT_ID),
            ("client_secret", GITHUB_CLIENT_SECRET),
            ("code", c.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ],
        Some("application/json"),
    )
    .await;
    assert_token_error(&r, "bad_verification_code");
}

#[tokio::test]
async fn the_api_refuses_a_missing_or_bad_bearer_with_bad_credentials() {
    let m = mock_with_user(ada()).await;
    for path in ["/user", "/user/emails"] {
        assert_bad_credentials(&api(&m, path, None).await);
        assert_bad_credentials(&api(&m, path, Some("Bearer gho_forged")).await);
        assert_bad_credentials(&api(&m, path, Some("Basic Zm9vOmJhcg==")).await);
    }
    // A Google access token is no GitHub token.
    let c = super::google::code(&m, None).await;
    let r = super::google::exchange(&m, &c, super::google::good_form()).await;
    let google_token = r.json["access_token"].as_str().unwrap().to_owned();
    assert_bad_credentials(&api(&m, "/user", Some(&format!("Bearer {google_token}"))).await);
}

#[tokio::test]
async fn authorize_refuses_an_unknown_client_without_redirecting_and_relays_a_denial() {
    let m = mock_with_user(ada()).await;
    let mut url = url::Url::parse(&format!("{}{AUTHORIZE}", m.url())).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "Iv1.unknown")
        .append_pair("redirect_uri", REDIRECT_URI);
    let resp = client().get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    assert!(resp.headers().get("location").is_none(), "no open redirect");

    m.deny_next(Provider::Github);
    let q = authorize(
        &m,
        AUTHORIZE,
        &[
            ("client_id", GITHUB_CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("state", "st-9"),
        ],
    )
    .await;
    assert_eq!(param(&q, "error"), Some("access_denied"));
    assert_eq!(param(&q, "state"), Some("st-9"));
    assert_eq!(param(&q, "code"), None);
    // Only the next one.
    assert!(
        param(
            &authorize(
                &m,
                AUTHORIZE,
                &[
                    ("client_id", GITHUB_CLIENT_ID),
                    ("redirect_uri", REDIRECT_URI)
                ]
            )
            .await,
            "code"
        )
        .is_some()
    );
}

#[tokio::test]
async fn a_token_fault_is_answered_once() {
    let m = mock_with_user(ada()).await;
    m.fail_next_token(Provider::Github, 503);
    let c = code(&m).await;
    assert_eq!(good_exchange(&m, &c).await.status, 503);
    let c = code(&m).await;
    assert_eq!(good_exchange(&m, &c).await.status, 200);
    assert_eq!(m.token_requests(), 2);
}
