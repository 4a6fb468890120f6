//! The CLI login (contract §6.1) over HTTP against mock-idp, for GitHub and Google: authorize URL →
//! the provider (302 back to our callback) → our callback's 302 to the CLI's `redirect_uri` →
//! `/auth/me` with the JWT, decoded strictly. And what must be refused.

use std::collections::HashMap;

use mgmt_mock_idp::{GithubEmail, MockIdp, MockUser, Provider};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::Value;

use crate::cli_types::Me;
use crate::helpers::{Options, TestApp};

/// Our public URL as the provider sees it; the test plays DNS by sending it to the test server.
const PUBLIC: &str = "http://api.login.test";
const CLI_REDIRECT: &str = "http://127.0.0.1:8765/callback";

struct Login {
    app: TestApp,
    idp: MockIdp,
    browser: reqwest::Client,
}

async fn start() -> Login {
    let idp = MockIdp::start().await.expect("mock-idp");
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../identity/testdata/key-a.pem"
    );
    let mut env: Vec<(&'static str, String)> = vec![
        ("PUBLIC_API_URL", PUBLIC.to_owned()),
        ("TOKEN_SIGNING_KEYS", format!("login-test={key}")),
    ];
    env.extend(idp.settings());
    let app = TestApp::spawn(Options {
        fly: false,
        workers: false,
        env,
    })
    .await;
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    Login { app, idp, browser }
}

fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

impl Login {
    async fn authorize_url(&self, provider: &str, redirect: &str) -> reqwest::Response {
        let mut url =
            url::Url::parse(&self.app.url(&format!("/api/v1/auth/oauth/{provider}"))).unwrap();
        url.query_pairs_mut().append_pair("redirect_uri", redirect);
        self.browser.get(url).send().await.unwrap()
    }

    /// The browser at the provider: returns our callback URL (rewritten to the test server).
    async fn at_provider(&self, provider: &str) -> String {
        let resp = self.authorize_url(provider, CLI_REDIRECT).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        let authorize = body["authorize_url"].as_str().unwrap().to_owned();
        assert!(authorize.starts_with(&self.idp.url()), "{authorize}");
        let q = query(&authorize);
        assert_eq!(q["code_challenge_method"], "S256");
        let resp = self.browser.get(&authorize).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND);
        let callback = resp.headers()["location"].to_str().unwrap().to_owned();
        let prefix = format!("{PUBLIC}/api/v1/auth/oauth/{provider}/callback?");
        assert!(callback.starts_with(&prefix), "{callback}");
        self.app.url(callback.strip_prefix(PUBLIC).unwrap())
    }

    /// Our callback: the Location it answers (the CLI's redirect_uri with its query).
    async fn callback(&self, url: &str) -> String {
        let resp = self.browser.get(url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND, "{:?}", resp.text().await);
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with(&format!("{CLI_REDIRECT}?")),
            "{location}"
        );
        location
    }

    async fn login(&self, provider: &str) -> HashMap<String, String> {
        let cb = self.at_provider(provider).await;
        query(&self.callback(&cb).await)
    }

    async fn me(&self, token: &str) -> Me {
        let resp = self.app.get("/api/v1/auth/me", token).await;
        assert_eq!(resp.status(), StatusCode::OK);
        serde_json::from_str(&resp.text().await.unwrap()).expect("UserMe decodes strictly")
    }

    async fn sql(&self, statement: &str) {
        use diesel_async::RunQueryDsl;
        let mut conn = self.app.db.pool.get().await.unwrap();
        diesel::sql_query(statement)
            .execute(&mut conn)
            .await
            .unwrap();
    }

    async fn customers(&self) -> i64 {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.app.db.pool.get().await.unwrap();
        diesel::sql_query("SELECT count(*) AS n FROM management.customers")
            .get_result::<N>(&mut conn)
            .await
            .unwrap()
            .n
    }
}

#[tokio::test]
async fn github_login_end_to_end_and_again_as_the_same_customer() {
    let l = start().await;
    l.idp.set_user(
        Provider::Github,
        MockUser {
            id: "4242".into(),
            login: "octo".into(),
            name: Some("Octo Cat".into()),
            emails: vec![
                GithubEmail {
                    email: "old@example.org".into(),
                    primary: false,
                    verified: true,
                },
                GithubEmail {
                    email: "octo@example.com".into(),
                    primary: true,
                    verified: true,
                },
            ],
        },
    );
    let q = l.login("github").await;
    let token = q.get("access_token").expect("access_token").clone();
    assert_eq!(token.split('.').count(), 3);
    let me = l.me(&token).await;
    assert_eq!(me.user.email, "octo@example.com");
    let first = me.customer.expect("customer").id;
    // A second login of the same GitHub account is the same customer.
    let again = l.login("github").await;
    let me2 = l.me(&again["access_token"]).await;
    assert_eq!(me2.customer.expect("customer").id, first);
}

#[tokio::test]
async fn google_login_end_to_end_and_a_separate_customer_for_the_same_email() {
    let l = start().await;
    l.idp.set_user(
        Provider::Google,
        MockUser::verified("1100001", "g", "same@example.com"),
    );
    l.idp.set_user(
        Provider::Github,
        MockUser::verified("77", "gh", "same@example.com"),
    );
    let g = l.login("google").await;
    let me = l.me(&g["access_token"]).await;
    assert_eq!(me.user.email, "same@example.com");
    let gh = l.login("github").await;
    let me_gh = l.me(&gh["access_token"]).await;
    // Same email, other provider: not linked silently.
    assert_ne!(me.customer.unwrap().id, me_gh.customer.unwrap().id);
}

#[tokio::test]
async fn state_is_single_use_and_must_be_ours() {
    let l = start().await;
    l.idp.set_user(
        Provider::Github,
        MockUser::verified("1", "a", "a@example.com"),
    );
    let cb = l.at_provider("github").await;
    assert!(l.login_ok(&cb).await);
    // Replayed: refused with our error body (the state is gone).
    let resp = l.browser.get(&cb).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_state");
    // Forged.
    let forged = l
        .app
        .url("/api/v1/auth/oauth/github/callback?code=x&state=forged");
    let resp = l.browser.get(&forged).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // A GitHub state at Google's callback is refused (and consumed).
    let cb = l.at_provider("github").await;
    let other = cb.replace("/oauth/github/", "/oauth/google/");
    let resp = l.browser.get(&other).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = l.browser.get(&cb).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_expired_state_redirects_with_an_error() {
    let l = start().await;
    l.idp.set_user(
        Provider::Github,
        MockUser::verified("1", "a", "a@example.com"),
    );
    let cb = l.at_provider("github").await;
    l.sql("UPDATE management.login_states SET expires_at = now() - interval '1 second'")
        .await;
    let q = query(&l.callback(&cb).await);
    assert_eq!(q["error"], "expired_state");
    assert!(!q.contains_key("access_token"));
}

#[tokio::test]
async fn foreign_redirect_uris_and_unknown_providers_are_refused() {
    let l = start().await;
    for bad in [
        "https://evil.example/cb",
        "http://localhost:8765/callback",
        "http://127.0.0.1/cb",
        "nope",
    ] {
        let resp = l.authorize_url("github", bad).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_redirect_uri");
    }
    let resp = l.authorize_url("gitlab", CLI_REDIRECT).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = l
        .browser
        .get(l.app.url("/api/v1/auth/oauth/github"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unverified_emails_and_provider_errors_end_in_an_error_redirect() {
    let l = start().await;
    // GitHub: no primary verified address.
    l.idp.set_user(
        Provider::Github,
        MockUser {
            id: "9".into(),
            login: "u".into(),
            name: None,
            emails: vec![
                GithubEmail {
                    email: "p@example.com".into(),
                    primary: true,
                    verified: false,
                },
                GithubEmail {
                    email: "s@example.com".into(),
                    primary: false,
                    verified: true,
                },
            ],
        },
    );
    assert_eq!(l.login("github").await["error"], "email_not_verified");
    // Google: email_verified=false.
    let mut g = MockUser::verified("5", "g", "g@example.com");
    g.emails[0].verified = false;
    l.idp.set_user(Provider::Google, g);
    assert_eq!(l.login("google").await["error"], "email_not_verified");
    // A provider email the CLI would refuse.
    l.idp.set_user(
        Provider::Github,
        MockUser::verified("10", "x", "x@localhost"),
    );
    assert_eq!(l.login("github").await["error"], "invalid_email");
    // The user cancels.
    l.idp.set_user(
        Provider::Github,
        MockUser::verified("11", "y", "y@example.com"),
    );
    l.idp.deny_next(Provider::Github);
    assert_eq!(l.login("github").await["error"], "access_denied");
    // The token endpoint fails.
    for provider in [Provider::Github, Provider::Google] {
        l.idp.fail_next_token(provider, 503);
    }
    l.idp.set_user(
        Provider::Google,
        MockUser::verified("12", "z", "z@example.com"),
    );
    let q = l.login("github").await;
    assert_eq!(q["error"], "provider_error");
    assert!(!q.contains_key("access_token"));
    assert_eq!(l.login("google").await["error"], "provider_error");
    // A bad code (GitHub answers 200 with an error body).
    let cb = l.at_provider("github").await;
    let mut u = url::Url::parse(&cb).unwrap();
    let state = query(&cb)["state"].clone();
    u.query_pairs_mut()
        .clear()
        .append_pair("code", "wrong")
        .append_pair("state", &state);
    assert_eq!(
        query(&l.callback(u.as_str()).await)["error"],
        "provider_error"
    );
    // None of the failures created a customer.
    assert_eq!(l.customers().await, 0);
}

impl Login {
    async fn login_ok(&self, cb: &str) -> bool {
        query(&self.callback(cb).await).contains_key("access_token")
    }
}
