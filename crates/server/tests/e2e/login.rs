//! The CLI login (contract §6.1) against the real `management-api` binary and mock-idp: the authorize
//! URL fetched without Authorization, the provider's 302 back to our callback, our callback's 302 to the
//! CLI's loopback `redirect_uri` with `access_token`, then `/auth/me` with that token, decoded strictly.

use std::collections::HashMap;

use anyhow::{Context as _, ensure};
use base64::Engine as _;
use mgmt_mock_idp::{MockUser, Provider};
use reqwest::StatusCode;
use reqwest::redirect::Policy;

use crate::contract::auth_me;
use crate::contract::client::CliClient;
use crate::stack::Stack;

/// What the CLI binds and sends as `redirect_uri` (nothing listens there: the Location is not fetched).
const CLI_REDIRECT: &str = "http://127.0.0.1:8765/callback";

fn query(url: &str) -> anyhow::Result<HashMap<String, String>> {
    Ok(url::Url::parse(url)
        .with_context(|| format!("not a URL: {url}"))?
        .query_pairs()
        .into_owned()
        .collect())
}

/// The Location of a 302 answered to a GET of `url`.
async fn redirect_of(browser: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let resp = browser.get(url).send().await?;
    let status = resp.status();
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|l| l.to_str().map(str::to_owned))
        .transpose()?;
    match location {
        Some(location) if status == StatusCode::FOUND => Ok(location),
        _ => anyhow::bail!(
            "GET {url}: expected a 302 with a Location, got {status}: {}",
            resp.text().await.unwrap_or_default()
        ),
    }
}

/// The CLI's login through `provider` as `email`, ending with `/auth/me` answering for that user.
pub async fn run(stack: &Stack, provider: Provider, email: &str) -> anyhow::Result<()> {
    let name = match provider {
        Provider::Github => "github",
        Provider::Google => "google",
    };
    let idp = stack.idp()?;
    idp.set_user(provider, MockUser::verified("4242", "e2e-login", email));
    // Both the CLI's fetch and the "browser": a redirect is the answer under test, not followed.
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()?;

    stack.step(&format!("{name}: GET the authorize URL (no Authorization)"));
    let mut url = url::Url::parse(&format!("{}/api/v1/auth/oauth/{name}", stack.api_url))?;
    url.query_pairs_mut()
        .append_pair("redirect_uri", CLI_REDIRECT);
    ensure!(
        url.as_str()
            .ends_with("?redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback"),
        "not the CLI's encoding: {url}"
    );
    let resp = browser.get(url).send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    ensure!(status.is_success(), "{status}: {text}");
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Authorize {
        authorize_url: String,
    }
    let authorize: Authorize = serde_json::from_str(&text)
        .with_context(|| format!("not a bare {{authorize_url}}: {text}"))?;
    ensure!(
        authorize.authorize_url.starts_with(&idp.url()),
        "authorize_url is not the provider's: {}",
        authorize.authorize_url
    );

    stack.step(&format!(
        "{name}: the browser at the provider (302 to our callback)"
    ));
    let callback = redirect_of(&browser, &authorize.authorize_url).await?;
    let prefix = format!("{}/api/v1/auth/oauth/{name}/callback?", stack.api_url);
    ensure!(
        callback.starts_with(&prefix),
        "not our callback: {callback}"
    );

    stack.step(&format!(
        "{name}: our callback (302 to the CLI's redirect_uri)"
    ));
    let location = redirect_of(&browser, &callback).await?;
    ensure!(
        location.starts_with(&format!("{CLI_REDIRECT}?access_token=")),
        "not the CLI's redirect_uri with access_token: {location}"
    );
    let token = query(&location)?
        .remove("access_token")
        .context("no access_token")?;

    stack.step(&format!(
        "{name}: the token as the CLI reads it (payload, exp)"
    ));
    let parts: Vec<&str> = token.split('.').collect();
    ensure!(parts.len() == 3, "a JWT has 3 parts: {}", parts.len());
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .context("the payload is not unpadded base64url")?;
    let claims: serde_json::Value = serde_json::from_slice(&payload)?;
    ensure!(
        claims["exp"].is_u64(),
        "exp is not an integer: {}",
        claims["exp"]
    );

    stack.step(&format!("{name}: GET /api/v1/auth/me with the new token"));
    let cli = CliClient::new(&stack.api_url, &token)?;
    let me = auth_me(&cli).await?;
    ensure!(me.user.email == email, "email {:?}", me.user.email);
    Ok(())
}
