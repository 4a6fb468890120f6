//! The two providers: the authorization-code exchange (with PKCE) through the `oauth2` crate, and
//! how each tells us who the user is and which email it verified.
//!
//! - GitHub is plain OAuth 2.0: the access token reads `GET /user` (the stable numeric `id`) and
//!   `GET /user/emails` (the primary address, only if `verified`).
//! - Google is OpenID Connect: the ID token from the token endpoint is verified here with
//!   `jsonwebtoken` against Google's JWKS (RS256 only, `kid` resolved, `iss`, `aud` = our client id,
//!   `exp`, our `nonce`, `email_verified`). `openidconnect` would do the same but brings its own JOSE
//!   and crypto stack and HTTP plumbing for one provider; `jsonwebtoken` is already the workspace's JWT
//!   crate (and what the tenants use to check our tokens), so the check stays small and reviewable.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
};
use serde::Deserialize;

/// One provider's OAuth client settings (URLs already validated).
#[derive(Clone)]
pub struct ProviderConfig {
    pub client_id: String,
    pub client_secret: secrecy::SecretString,
    pub authorize_url: String,
    pub token_url: String,
    /// GitHub: the REST API base (`https://api.github.com`); Google: the JWKS URL.
    pub api_url: String,
    /// Google only: the expected `iss` of ID tokens.
    pub issuer: String,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("client_id", &self.client_id)
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// Who the provider says the user is, email verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUser {
    pub id: String,
    pub email: String,
    pub username: String,
    pub name: Option<String>,
}

/// Why the provider did not give us a verified user. `code` is what the CLI receives as `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct ProviderFailure {
    pub code: &'static str,
    pub description: String,
}

impl ProviderFailure {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
    fn provider(description: impl Into<String>) -> Self {
        Self::new("provider_error", description)
    }
}

/// The `id_token` of Google's token response (absent at GitHub).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type TokenResp = StandardTokenResponse<IdTokenField, BasicTokenType>;
type Client = oauth2::Client<
    BasicErrorResponse,
    TokenResp,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The HTTP client the `oauth2` crate calls: ours, so the workspace keeps one reqwest, without
/// redirects (a token endpoint that redirects is refused rather than followed with the code).
#[derive(Debug, Clone)]
pub struct Http(reqwest::Client);

impl Http {
    pub fn new() -> Result<Self, reqwest::Error> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .map(Http)
    }

    async fn send(&self, req: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, reqwest::Error> {
        let req = reqwest::Request::try_from(req)?;
        let resp = self.0.execute(req).await?;
        let mut out = http::Response::builder().status(resp.status());
        for (k, v) in resp.headers() {
            out = out.header(k, v);
        }
        let body = resp.bytes().await?.to_vec();
        Ok(out.body(body).unwrap_or_default())
    }
}

/// One configured provider.
pub struct Provider {
    kind: mgmt_domain::LoginProvider,
    config: ProviderConfig,
    client: Client,
    http: Http,
    jwks: Mutex<Option<(Instant, JwkSet)>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("kind", &self.kind)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// How long Google's JWKS is reused before it is fetched again (an unknown `kid` refetches at once).
const JWKS_TTL: Duration = Duration::from_secs(300);

impl Provider {
    /// `callback` is our own callback URL for this provider.
    pub fn new(
        kind: mgmt_domain::LoginProvider,
        config: ProviderConfig,
        callback: &str,
        http: Http,
    ) -> Result<Self, String> {
        use secrecy::ExposeSecret;
        let bad = |what: &str| format!("{kind}: invalid {what} URL");
        let client = oauth2::Client::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                config.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(AuthUrl::new(config.authorize_url.clone()).map_err(|_| bad("authorize"))?)
            .set_token_uri(
                oauth2::TokenUrl::new(config.token_url.clone()).map_err(|_| bad("token"))?,
            )
            .set_redirect_uri(RedirectUrl::new(callback.to_owned()).map_err(|_| bad("callback"))?)
            // Both document the client credentials as form parameters of the token request.
            .set_auth_type(AuthType::RequestBody);
        url::Url::parse(&config.api_url).map_err(|_| bad("API/JWKS"))?;
        Ok(Self {
            kind,
            config,
            client,
            http,
            jwks: Mutex::new(None),
        })
    }

    pub fn kind(&self) -> mgmt_domain::LoginProvider {
        self.kind
    }

    /// The URL to send the browser to, and the PKCE verifier to keep for the exchange.
    pub fn authorize_url(&self, state: &str, nonce: &str) -> (String, PkceCodeVerifier) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_owned();
        let mut req = self
            .client
            .authorize_url(move || CsrfToken::new(state))
            .set_pkce_challenge(challenge);
        req = match self.kind {
            // Only what the login needs: the profile and the (private) email addresses.
            mgmt_domain::LoginProvider::Github => req
                .add_scope(Scope::new("read:user".into()))
                .add_scope(Scope::new("user:email".into())),
            mgmt_domain::LoginProvider::Google => req
                .add_scope(Scope::new("openid".into()))
                .add_scope(Scope::new("email".into()))
                .add_scope(Scope::new("profile".into()))
                .add_extra_param("nonce", nonce.to_owned()),
        };
        let (url, _) = req.url();
        (url.to_string(), verifier)
    }

    /// Exchanges the code and returns the user with a verified email.
    pub async fn user(
        &self,
        code: &str,
        verifier: PkceCodeVerifier,
        nonce: &str,
    ) -> Result<ProviderUser, ProviderFailure> {
        let http = self.http.clone();
        let send = move |req: oauth2::HttpRequest| {
            let http = http.clone();
            async move { http.send(req).await }
        };
        let token = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(verifier)
            .request_async(&send)
            .await
            .map_err(|e| token_failure(self.kind, e))?;
        match self.kind {
            mgmt_domain::LoginProvider::Github => {
                use secrecy::ExposeSecret;
                let access = secrecy::SecretString::from(token.access_token().secret().clone());
                self.github_user(access.expose_secret()).await
            }
            mgmt_domain::LoginProvider::Google => {
                let id_token = token.extra_fields().id_token.clone().ok_or_else(|| {
                    ProviderFailure::provider("the token response carried no ID token")
                })?;
                self.google_user(&id_token, nonce).await
            }
        }
    }

    async fn github_get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
    ) -> Result<T, ProviderFailure> {
        let url = format!("{}{path}", self.config.api_url.trim_end_matches('/'));
        let resp = self
            .http
            .0
            .get(url)
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            // GitHub refuses API requests without a User-Agent.
            .header("user-agent", "management-api-login")
            .send()
            .await
            .map_err(|e| {
                ProviderFailure::provider(format!("GitHub unreachable: {}", e.without_url()))
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(ProviderFailure::provider(format!(
                "GitHub answered {status} to {path}"
            )));
        }
        resp.json().await.map_err(|_| {
            ProviderFailure::provider(format!("GitHub's {path} answer was unreadable"))
        })
    }

    async fn github_user(&self, token: &str) -> Result<ProviderUser, ProviderFailure> {
        #[derive(Deserialize)]
        struct User {
            id: u64,
            login: String,
            name: Option<String>,
        }
        #[derive(Deserialize)]
        struct Email {
            email: String,
            primary: bool,
            verified: bool,
        }
        let user: User = self.github_get("/user", token).await?;
        let emails: Vec<Email> = self.github_get("/user/emails", token).await?;
        // Only the primary address, and only if GitHub verified it: an unverified address proves
        // nothing, and a secondary one is not what the user chose to be reached at.
        let email = emails
            .into_iter()
            .find(|e| e.primary && e.verified)
            .ok_or_else(|| {
                ProviderFailure::new(
                    "email_not_verified",
                    "your GitHub account has no verified primary email address",
                )
            })?;
        Ok(ProviderUser {
            id: user.id.to_string(),
            email: email.email,
            username: user.login,
            name: user.name.filter(|n| !n.trim().is_empty()),
        })
    }

    async fn jwks(&self, refresh: bool) -> Result<JwkSet, ProviderFailure> {
        if !refresh {
            let cached = self.jwks.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, set)) = cached.as_ref()
                && at.elapsed() < JWKS_TTL
            {
                return Ok(set.clone());
            }
        }
        let resp = self
            .http
            .0
            .get(&self.config.api_url)
            .send()
            .await
            .map_err(|e| {
                ProviderFailure::provider(format!("Google's keys unreachable: {}", e.without_url()))
            })?;
        if !resp.status().is_success() {
            return Err(ProviderFailure::provider(format!(
                "Google's keys answered {}",
                resp.status()
            )));
        }
        let set: JwkSet = resp
            .json()
            .await
            .map_err(|_| ProviderFailure::provider("Google's keys were unreadable"))?;
        *self.jwks.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), set.clone()));
        Ok(set)
    }

    async fn google_user(
        &self,
        id_token: &str,
        nonce: &str,
    ) -> Result<ProviderUser, ProviderFailure> {
        #[derive(Deserialize)]
        struct Claims {
            sub: String,
            email: Option<String>,
            #[serde(default)]
            email_verified: bool,
            name: Option<String>,
            nonce: Option<String>,
        }
        let invalid =
            |why: &str| ProviderFailure::provider(format!("Google's ID token refused: {why}"));
        let header = jsonwebtoken::decode_header(id_token).map_err(|_| invalid("malformed"))?;
        // RS256 only: the algorithm is ours to choose, never the token's (no HS256/none confusion).
        if header.alg != Algorithm::RS256 {
            return Err(invalid("not RS256"));
        }
        let kid = header.kid.ok_or_else(|| invalid("no kid"))?;
        let mut set = self.jwks(false).await?;
        if set.find(&kid).is_none() {
            set = self.jwks(true).await?;
        }
        let jwk = set.find(&kid).ok_or_else(|| invalid("unknown kid"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid("unusable key"))?;
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&[&self.config.client_id]);
        // Google documents both spellings of its issuer.
        let mut issuers = vec![self.config.issuer.clone()];
        if self.config.issuer == "https://accounts.google.com" {
            issuers.push("accounts.google.com".to_owned());
        }
        v.set_issuer(&issuers);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(id_token, &key, &v)
            .map_err(|e| invalid(&e.to_string()))?
            .claims;
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(invalid("nonce mismatch"));
        }
        let email = claims
            .email
            .filter(|_| claims.email_verified)
            .ok_or_else(|| {
                ProviderFailure::new(
                    "email_not_verified",
                    "your Google account's email address is not verified",
                )
            })?;
        let username = claims
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
        Ok(ProviderUser {
            id: claims.sub,
            email,
            username,
            name: claims.name,
        })
    }
}

/// Maps the exchange's failure. GitHub answers its errors with HTTP 200, which `oauth2` reads as a
/// malformed token response: its `error` field is then read from the body itself.
fn token_failure<E: std::error::Error + 'static>(
    kind: mgmt_domain::LoginProvider,
    e: RequestTokenError<E, BasicErrorResponse>,
) -> ProviderFailure {
    match e {
        RequestTokenError::ServerResponse(r) => {
            ProviderFailure::provider(format!("{kind} refused the code: {}", r.error().as_ref()))
        }
        RequestTokenError::Parse(_, body) => {
            let error = serde_json::from_slice::<HashMap<String, serde_json::Value>>(&body)
                .ok()
                .and_then(|m| m.get("error").and_then(|v| v.as_str()).map(str::to_owned));
            match error {
                Some(code) => ProviderFailure::provider(format!("{kind} refused the code: {code}")),
                None => ProviderFailure::provider(format!("{kind}'s token answer was unreadable")),
            }
        }
        RequestTokenError::Request(_) => {
            ProviderFailure::provider(format!("{kind}'s token endpoint is unreachable"))
        }
        RequestTokenError::Other(m) => ProviderFailure::provider(format!("{kind}: {m}")),
    }
}
