#![doc = include_str!("../README.md")]
#![allow(
    clippy::result_large_err,
    reason = "handlers bail out early with a ready HttpResponse; size does not matter in a test double"
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The OAuth client the mock's GitHub accepts unless told otherwise.
pub const GITHUB_CLIENT_ID: &str = "Iv1.mockgithubclient";
pub const GITHUB_CLIENT_SECRET: &str = "mock-github-client-secret-0123456789";
/// The OAuth client the mock's Google accepts unless told otherwise.
pub const GOOGLE_CLIENT_ID: &str = "mock-client.apps.googleusercontent.com";
pub const GOOGLE_CLIENT_SECRET: &str = "GOCSPX-mock-google-client-secret";
/// The `kid` of the key that signs the mock's Google ID tokens.
pub const GOOGLE_KEY_ID: &str = "mock-google-key-1";

/// A fixed test key (the mock is dev-only): generating a 2048-bit RSA key at start would cost seconds
/// in debug builds for nothing. Its public half is published by the JWKS endpoint.
const SIGNING_KEY_PEM: &str = include_str!("signing-key.pem");
/// The modulus of [`SIGNING_KEY_PEM`], base64url (`openssl rsa -modulus`); a test checks they match.
const SIGNING_KEY_N: &str = include_str!("signing-key.n");
const SIGNING_KEY_E: &str = "AQAB";

/// How long an authorization code may be redeemed (GitHub documents 10 minutes).
const CODE_LIFETIME_SECS: i64 = 600;

/// Which provider a route plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Github,
    Google,
}

impl Provider {
    fn parse(s: &str) -> Option<Provider> {
        match s {
            "github" => Some(Provider::Github),
            "google" => Some(Provider::Google),
            _ => None,
        }
    }
}

/// One address of a GitHub user (what `GET /user/emails` lists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubEmail {
    pub email: String,
    pub primary: bool,
    pub verified: bool,
}

/// The user signed in at the mock's "browser" for a provider. For GitHub, `id` is the numeric user
/// id, `login` the username and `emails` what `/user/emails` answers; for Google, `id` is the `sub`
/// and the first email (with its `verified` flag) goes into the ID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MockUser {
    pub id: String,
    pub login: String,
    pub name: Option<String>,
    pub emails: Vec<GithubEmail>,
}

impl MockUser {
    /// A user with one primary verified address.
    pub fn verified(id: &str, login: &str, email: &str) -> MockUser {
        MockUser {
            id: id.to_owned(),
            login: login.to_owned(),
            name: Some(format!("{login} (mock)")),
            emails: vec![GithubEmail {
                email: email.to_owned(),
                primary: true,
                verified: true,
            }],
        }
    }
}

#[derive(Debug, Clone)]
struct Client {
    id: String,
    secret: String,
}

#[derive(Debug, Clone)]
struct IssuedCode {
    provider: Provider,
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    nonce: Option<String>,
    user: MockUser,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct State {
    users: HashMap<Provider, MockUser>,
    deny_next: HashMap<Provider, bool>,
    fail_next_token: HashMap<Provider, u16>,
    codes: HashMap<String, IssuedCode>,
    github_tokens: HashMap<String, MockUser>,
    token_requests: u64,
}

struct Shared {
    github: Client,
    google: Client,
    /// `iss` of the ID tokens: `{url}/google` (Google's own is `https://accounts.google.com`).
    issuer: Mutex<String>,
    state: Mutex<State>,
    key: EncodingKey,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn client(&self, p: Provider) -> &Client {
        match p {
            Provider::Github => &self.github,
            Provider::Google => &self.google,
        }
    }
}

/// A running mock identity provider. Dropping it stops the server.
#[derive(Debug)]
pub struct MockIdp {
    shared: Arc<Shared>,
    addr: SocketAddr,
    handle: ServerHandle,
}

impl MockIdp {
    /// Starts on `127.0.0.1:0` with the default clients.
    pub async fn start() -> std::io::Result<MockIdp> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on `addr` with the default clients.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<MockIdp> {
        let key = EncodingKey::from_rsa_pem(SIGNING_KEY_PEM.as_bytes())
            .map_err(|e| std::io::Error::other(format!("mock signing key: {e}")))?;
        let shared = Arc::new(Shared {
            github: Client {
                id: GITHUB_CLIENT_ID.to_owned(),
                secret: GITHUB_CLIENT_SECRET.to_owned(),
            },
            google: Client {
                id: GOOGLE_CLIENT_ID.to_owned(),
                secret: GOOGLE_CLIENT_SECRET.to_owned(),
            },
            issuer: Mutex::new(String::new()),
            state: Mutex::new(State::default()),
            key,
        });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(64 * 1024))
                .route(
                    "/github/login/oauth/authorize",
                    web::get().to(authorize_github),
                )
                .route(
                    "/github/login/oauth/access_token",
                    web::post().to(token_github),
                )
                .route("/github/api/user", web::get().to(github_user))
                .route("/github/api/user/emails", web::get().to(github_emails))
                .route("/google/o/oauth2/v2/auth", web::get().to(authorize_google))
                .route("/google/token", web::post().to(token_google))
                .route("/google/oauth2/v3/certs", web::get().to(google_jwks))
                .route("/__mock/{provider}/user", web::put().to(set_user))
                .route("/__mock/{provider}/deny-next", web::post().to(deny_next))
                .route(
                    "/__mock/{provider}/fail-next-token",
                    web::post().to(fail_next_token),
                )
                .default_service(web::to(|| async {
                    HttpResponse::NotFound().json(json!({"message": "Not Found"}))
                }))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(addr)?;
        let addr = *server
            .addrs()
            .first()
            .ok_or_else(|| std::io::Error::other("no address bound"))?;
        *shared.issuer.lock().unwrap_or_else(|p| p.into_inner()) = format!("http://{addr}/google");
        let running = server.run();
        let handle = running.handle();
        tokio::spawn(running);
        tracing::info!(%addr, "mock-idp listening");
        Ok(MockIdp {
            shared,
            addr,
            handle,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The settings a server needs to use this mock (`GITHUB_*`, `GOOGLE_*`), as name/value pairs.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let u = self.url();
        vec![
            ("GITHUB_CLIENT_ID", GITHUB_CLIENT_ID.to_owned()),
            ("GITHUB_CLIENT_SECRET", GITHUB_CLIENT_SECRET.to_owned()),
            (
                "GITHUB_AUTHORIZE_URL",
                format!("{u}/github/login/oauth/authorize"),
            ),
            (
                "GITHUB_TOKEN_URL",
                format!("{u}/github/login/oauth/access_token"),
            ),
            ("GITHUB_API_URL", format!("{u}/github/api")),
            ("GOOGLE_CLIENT_ID", GOOGLE_CLIENT_ID.to_owned()),
            ("GOOGLE_CLIENT_SECRET", GOOGLE_CLIENT_SECRET.to_owned()),
            (
                "GOOGLE_AUTHORIZE_URL",
                format!("{u}/google/o/oauth2/v2/auth"),
            ),
            ("GOOGLE_TOKEN_URL", format!("{u}/google/token")),
            ("GOOGLE_JWKS_URL", format!("{u}/google/oauth2/v3/certs")),
            ("GOOGLE_ISSUER", self.google_issuer()),
        ]
    }

    /// The `iss` of the ID tokens.
    pub fn google_issuer(&self) -> String {
        self.shared
            .issuer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Signs in `user` at `provider` (what the next authorizations are for).
    pub fn set_user(&self, provider: Provider, user: MockUser) {
        self.shared.state().users.insert(provider, user);
    }

    /// The next authorization at `provider` answers `error=access_denied` (the user clicked "Cancel").
    pub fn deny_next(&self, provider: Provider) {
        self.shared.state().deny_next.insert(provider, true);
    }

    /// The next token request at `provider` fails with `status`.
    pub fn fail_next_token(&self, provider: Provider, status: u16) {
        self.shared.state().fail_next_token.insert(provider, status);
    }

    /// How many token requests (both providers) were received.
    pub fn token_requests(&self) -> u64 {
        self.shared.state().token_requests
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

impl Drop for MockIdp {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> HttpResponse {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return HttpResponse::BadRequest().body("invalid redirect_uri");
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, url.to_string()))
        .finish()
}

/// The "browser": the provider's consent page, answered at once for the signed-in user.
fn authorize(shared: &Shared, provider: Provider, q: &HashMap<String, String>) -> HttpResponse {
    let client = shared.client(provider);
    // Errors about the client or redirect_uri are shown to the user, never redirected (both providers
    // do so: redirecting to an unverified URI would be an open redirect).
    if q.get("client_id").map(String::as_str) != Some(client.id.as_str()) {
        return HttpResponse::NotFound().body("unknown client_id");
    }
    let Some(redirect_uri) = q.get("redirect_uri").filter(|u| url::Url::parse(u).is_ok()) else {
        return HttpResponse::BadRequest().body("redirect_uri missing or invalid");
    };
    let state = q.get("state").cloned().unwrap_or_default();
    let mut extra = Vec::new();
    if !state.is_empty() {
        extra.push(("state", state.as_str()));
    }
    if provider == Provider::Google {
        if q.get("response_type").map(String::as_str) != Some("code") {
            let mut p = vec![("error", "unsupported_response_type")];
            p.extend(extra);
            return redirect_with(redirect_uri, &p);
        }
        let scopes: Vec<&str> = q
            .get("scope")
            .map(|s| s.split(' ').collect())
            .unwrap_or_default();
        if !scopes.contains(&"openid") {
            let mut p = vec![("error", "invalid_scope")];
            p.extend(extra);
            return redirect_with(redirect_uri, &p);
        }
    }
    let challenge = q.get("code_challenge").cloned();
    if challenge.is_some() && q.get("code_challenge_method").map(String::as_str) != Some("S256") {
        let mut p = vec![
            ("error", "invalid_request"),
            ("error_description", "code_challenge_method must be S256"),
        ];
        p.extend(extra);
        return redirect_with(redirect_uri, &p);
    }
    let mut st = shared.state();
    if st.deny_next.remove(&provider).unwrap_or(false) {
        let mut p = vec![
            ("error", "access_denied"),
            (
                "error_description",
                "The user has denied your application access.",
            ),
        ];
        p.extend(extra);
        return redirect_with(redirect_uri, &p);
    }
    let Some(user) = st.users.get(&provider).cloned() else {
        return HttpResponse::Conflict()
            .body("no user is signed in at the mock (PUT /__mock/{provider}/user)");
    };
    let code = random_token(20);
    st.codes.insert(
        code.clone(),
        IssuedCode {
            provider,
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.clone(),
            challenge,
            nonce: q.get("nonce").cloned(),
            user,
            expires_at: Utc::now() + Duration::seconds(CODE_LIFETIME_SECS),
        },
    );
    drop(st);
    let mut p = vec![("code", code.as_str())];
    p.extend(extra);
    redirect_with(redirect_uri, &p)
}

async fn authorize_github(
    shared: web::Data<Shared>,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    authorize(&shared, Provider::Github, &q)
}

async fn authorize_google(
    shared: web::Data<Shared>,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    authorize(&shared, Provider::Google, &q)
}

/// Why a token request is refused, before the provider-specific error shape.
enum TokenError {
    Client,
    Grant(&'static str),
    RedirectMismatch,
}

/// The checks both token endpoints make. The code is consumed by any attempt that names it, as
/// the real services invalidate a code on its first use.
fn redeem(
    shared: &Shared,
    provider: Provider,
    form: &HashMap<String, String>,
) -> Result<IssuedCode, TokenError> {
    let client = shared.client(provider);
    if form.get("client_id") != Some(&client.id)
        || form.get("client_secret") != Some(&client.secret)
    {
        return Err(TokenError::Client);
    }
    let code = form.get("code").ok_or(TokenError::Grant("missing code"))?;
    let issued = shared.state().codes.remove(code).ok_or(TokenError::Grant(
        "The code passed is incorrect or expired.",
    ))?;
    if issued.provider != provider || issued.client_id != client.id {
        return Err(TokenError::Grant(
            "The code passed is incorrect or expired.",
        ));
    }
    if issued.expires_at < Utc::now() {
        return Err(TokenError::Grant(
            "The code passed is incorrect or expired.",
        ));
    }
    // GitHub: redirect_uri optional but must match when sent; Google: required and must match.
    match form.get("redirect_uri") {
        Some(u) if *u != issued.redirect_uri => return Err(TokenError::RedirectMismatch),
        None if provider == Provider::Google => return Err(TokenError::RedirectMismatch),
        _ => {}
    }
    if let Some(challenge) = &issued.challenge {
        let verifier = form
            .get("code_verifier")
            .ok_or(TokenError::Grant("code_verifier missing"))?;
        if !valid_verifier(verifier) || s256(verifier) != *challenge {
            return Err(TokenError::Grant("PKCE verification failed"));
        }
    }
    Ok(issued)
}

fn take_fault(shared: &Shared, provider: Provider) -> Option<HttpResponse> {
    let mut st = shared.state();
    st.token_requests += 1;
    let status = st.fail_next_token.remove(&provider)?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    Some(HttpResponse::build(status).body("upstream unavailable (mock fault)"))
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// GitHub's token endpoint: errors come back with HTTP 200, as JSON only when asked for JSON (else
/// form-encoded, like the success).
async fn token_github(
    shared: web::Data<Shared>,
    req: actix_web::HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if let Some(fault) = take_fault(&shared, Provider::Github) {
        return fault;
    }
    let body = match redeem(&shared, Provider::Github, &form) {
        Ok(issued) => {
            let token = format!("gho_{}", random_token(27));
            shared
                .state()
                .github_tokens
                .insert(token.clone(), issued.user);
            vec![
                ("access_token", token),
                ("scope", "read:user,user:email".to_owned()),
                ("token_type", "bearer".to_owned()),
            ]
        }
        Err(e) => {
            let (error, description) = match e {
                TokenError::Client => (
                    "incorrect_client_credentials",
                    "The client_id and/or client_secret passed are incorrect.",
                ),
                TokenError::Grant(d) => ("bad_verification_code", d),
                TokenError::RedirectMismatch => (
                    "redirect_uri_mismatch",
                    "The redirect_uri MUST match the registered callback URL for this application.",
                ),
            };
            vec![
                ("error", error.to_owned()),
                ("error_description", description.to_owned()),
                (
                    "error_uri",
                    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
                        .to_owned(),
                ),
            ]
        }
    };
    if wants_json(req.headers()) {
        let map: serde_json::Map<String, serde_json::Value> = body
            .into_iter()
            .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v)))
            .collect();
        HttpResponse::Ok().json(map)
    } else {
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(body)
            .finish();
        HttpResponse::Ok()
            .content_type("application/x-www-form-urlencoded; charset=utf-8")
            .body(encoded)
    }
}

/// Google's token endpoint: 400 `invalid_grant`, 401 `invalid_client`, and an RS256 ID token.
async fn token_google(
    shared: web::Data<Shared>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if let Some(fault) = take_fault(&shared, Provider::Google) {
        return fault;
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return HttpResponse::BadRequest().json(json!({
            "error": "unsupported_grant_type", "error_description": "Invalid grant_type: "
        }));
    }
    let issued = match redeem(&shared, Provider::Google, &form) {
        Ok(i) => i,
        Err(TokenError::Client) => {
            return HttpResponse::Unauthorized()
                .json(json!({"error": "invalid_client", "error_description": "Unauthorized"}));
        }
        Err(TokenError::RedirectMismatch) => {
            return HttpResponse::BadRequest().json(
                json!({"error": "redirect_uri_mismatch", "error_description": "Bad Request"}),
            );
        }
        Err(TokenError::Grant(_)) => {
            return HttpResponse::BadRequest()
                .json(json!({"error": "invalid_grant", "error_description": "Bad Request"}));
        }
    };
    let now = Utc::now().timestamp();
    let first = issued.user.emails.first();
    let mut claims = json!({
        "iss": shared.issuer.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        "azp": issued.client_id,
        "aud": issued.client_id,
        "sub": issued.user.id,
        "iat": now,
        "exp": now + 3600,
    });
    if let Some(e) = first {
        claims["email"] = json!(e.email);
        claims["email_verified"] = json!(e.verified);
    }
    if let Some(n) = &issued.user.name {
        claims["name"] = json!(n);
    }
    if let Some(n) = &issued.nonce {
        claims["nonce"] = json!(n);
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(GOOGLE_KEY_ID.to_owned());
    let Ok(id_token) = jsonwebtoken::encode(&header, &claims, &shared.key) else {
        return HttpResponse::InternalServerError().finish();
    };
    HttpResponse::Ok().json(json!({
        "access_token": format!("ya29.{}", random_token(32)),
        "expires_in": 3599,
        "scope": "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile",
        "token_type": "Bearer",
        "id_token": id_token,
    }))
}

async fn google_jwks() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(json!({"keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": GOOGLE_KEY_ID,
            "n": SIGNING_KEY_N.trim(), "e": SIGNING_KEY_E,
        }]}))
}

fn github_caller(shared: &Shared, headers: &HeaderMap) -> Result<MockUser, HttpResponse> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("token "))
        });
    token
        .and_then(|t| shared.state().github_tokens.get(t).cloned())
        .ok_or_else(|| {
            HttpResponse::Unauthorized().json(json!({
                "message": "Bad credentials",
                "documentation_url": "https://docs.github.com/rest",
                "status": "401"
            }))
        })
}

async fn github_user(shared: web::Data<Shared>, req: actix_web::HttpRequest) -> HttpResponse {
    match github_caller(&shared, req.headers()) {
        Ok(u) => {
            let id: serde_json::Value =
                u.id.parse::<u64>().map(|n| json!(n)).unwrap_or(json!(u.id));
            // `email` is the public profile address: GitHub leaves it null unless the user made one
            // public, which is why the verified address is read from /user/emails.
            HttpResponse::Ok().json(json!({
                "login": u.login, "id": id, "name": u.name, "email": null, "type": "User",
            }))
        }
        Err(r) => r,
    }
}

async fn github_emails(shared: web::Data<Shared>, req: actix_web::HttpRequest) -> HttpResponse {
    match github_caller(&shared, req.headers()) {
        Ok(u) => HttpResponse::Ok().json(
            u.emails
                .iter()
                .map(|e| {
                    json!({"email": e.email, "primary": e.primary, "verified": e.verified,
                           "visibility": if e.primary { json!("private") } else { json!(null) }})
                })
                .collect::<Vec<_>>(),
        ),
        Err(r) => r,
    }
}

fn control_provider(path: &web::Path<String>) -> Result<Provider, HttpResponse> {
    Provider::parse(path.as_str())
        .ok_or_else(|| HttpResponse::NotFound().body("provider is github or google"))
}

async fn set_user(
    shared: web::Data<Shared>,
    path: web::Path<String>,
    user: web::Json<MockUser>,
) -> HttpResponse {
    match control_provider(&path) {
        Ok(p) => {
            shared.state().users.insert(p, user.into_inner());
            HttpResponse::NoContent().finish()
        }
        Err(r) => r,
    }
}

async fn deny_next(shared: web::Data<Shared>, path: web::Path<String>) -> HttpResponse {
    match control_provider(&path) {
        Ok(p) => {
            shared.state().deny_next.insert(p, true);
            HttpResponse::NoContent().finish()
        }
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct FailNext {
    status: u16,
}

async fn fail_next_token(
    shared: web::Data<Shared>,
    path: web::Path<String>,
    body: web::Json<FailNext>,
) -> HttpResponse {
    match control_provider(&path) {
        Ok(p) => {
            shared.state().fail_next_token.insert(p, body.status);
            HttpResponse::NoContent().finish()
        }
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_modulus_is_the_signing_keys() {
        let claims = json!({"sub": "x", "exp": Utc::now().timestamp() + 60});
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(GOOGLE_KEY_ID.into());
        let key = EncodingKey::from_rsa_pem(SIGNING_KEY_PEM.as_bytes()).unwrap();
        let t = jsonwebtoken::encode(&h, &claims, &key).unwrap();
        let dec =
            jsonwebtoken::DecodingKey::from_rsa_components(SIGNING_KEY_N.trim(), SIGNING_KEY_E)
                .unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
        v.required_spec_claims.clear();
        jsonwebtoken::decode::<serde_json::Value>(&t, &dec, &v).unwrap();
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
