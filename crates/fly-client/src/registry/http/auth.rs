//! Challenge-driven registry authentication: `WWW-Authenticate` parsing, the scheme the registry
//! asked for, bearer tokens cached per scope until they expire, and [`RegistryAuth`], the one place
//! that turns org credentials into an `Authorization` header.
//!
//! [`RegistryAuth`] is public because two callers need exactly this logic: fly-client's own
//! [`HttpRegistry`](super::HttpRegistry) (which can replay a request after a 401) and the registry
//! gateway's upstream (which streams bodies and therefore learns the scheme up front with
//! [`RegistryAuth::ensure_scheme`]). Keeping one copy keeps one set of rules: credentials go only to
//! the registry's own origin or an https realm, token fetches are bounded by a timeout, and no lock is
//! held while a network call is in flight, so one slow token endpoint cannot stall unrelated requests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::{HeaderValue, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::transport::map_status;
use crate::error::{FlyError, FlyResult};
use crate::machines::http::transport::map_transport;
use crate::resilience::guard::Failure;

/// One `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// Lowercased scheme: `basic` or `bearer`.
    pub scheme: String,
    pub params: HashMap<String, String>,
}

impl Challenge {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }
}

/// Parses `Bearer realm="https://x/token",service="x",scope="repository:a:pull,push",error="..."`.
/// Quoted values may contain commas; keys are case-insensitive.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.is_empty() {
        return None;
    }
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.trim().is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars
                .by_ref()
                .take_while(|c| *c != ',')
                .collect::<String>()
                .trim()
                .to_string();
        }
        params.insert(key.trim().to_ascii_lowercase(), value);
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

/// What the registry asked for the last time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// Nothing seen yet: try without credentials.
    Unknown,
    Basic,
    Bearer {
        realm: Url,
        service: Option<String>,
    },
}

struct State {
    scheme: Scheme,
    tokens: HashMap<String, (String, Instant)>,
}

/// Auth state shared by all requests of one client. Its `Debug` shows the scheme and the cached
/// scopes, never a token.
pub(crate) struct AuthCache {
    state: Mutex<State>,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        let scopes: Vec<&String> = state.tokens.keys().collect();
        f.debug_struct("AuthCache")
            .field("scheme", &state.scheme)
            .field("token_scopes", &scopes)
            .finish()
    }
}

impl Default for AuthCache {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                scheme: Scheme::Unknown,
                tokens: HashMap::new(),
            }),
        }
    }
}

impl AuthCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn scheme(&self) -> Scheme {
        self.lock().scheme.clone()
    }

    pub fn set_scheme(&self, scheme: Scheme) {
        let mut state = self.lock();
        if state.scheme != scheme {
            state.tokens.clear();
            state.scheme = scheme;
        }
    }

    /// A cached, unexpired token for `scope`.
    pub fn token(&self, scope: &str) -> Option<String> {
        let state = self.lock();
        state
            .tokens
            .get(scope)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(t, _)| t.clone())
    }

    /// Caches a token; it is dropped a little before the registry's expiry so it is never sent stale.
    pub fn store_token(&self, scope: &str, token: String, expires_in: Duration) {
        let lifetime = expires_in
            .saturating_sub(expires_in / 10)
            .max(Duration::from_secs(1));
        self.lock()
            .tokens
            .insert(scope.to_string(), (token, Instant::now() + lifetime));
    }

    pub fn forget_token(&self, scope: &str) {
        self.lock().tokens.remove(scope);
    }

    pub fn forget_all_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Records a scheme learnt by probing, unless a concurrent request already learnt one from a
    /// real challenge (which is at least as fresh, and replacing it would drop its tokens).
    pub fn learn_scheme(&self, scheme: Scheme) {
        let mut state = self.lock();
        if state.scheme == Scheme::Unknown {
            state.scheme = scheme;
        }
    }
}

/// The token endpoint's answer (`token` or the OAuth2 `access_token`).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    /// Seconds; the spec's default is 60.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// Same scheme, host and port: the only place org credentials may be sent without further thought.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// A credential header, marked sensitive so that `http`/`reqwest` never print it.
fn sensitive(value: String) -> Result<HeaderValue, Failure> {
    let mut v = HeaderValue::from_str(&value)
        .map_err(|_| FlyError::Config("credential is not a valid header".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

/// Authentication to one registry with one set of credentials: Basic, or Bearer tokens fetched from
/// the realm the registry names and cached per scope.
///
/// Cheap to share behind an `Arc`; every method takes `&self`. The cache is a std `Mutex` that is
/// only ever held for a map lookup or insert, never across an `.await`: two requests that both miss
/// the cache may both fetch a token (the later one wins the cache slot), which is far cheaper than
/// queueing every request behind the slowest token fetch. Its `Debug` shows the base URL, the user
/// name, the scheme and the cached scopes, never the password or a token.
pub struct RegistryAuth {
    /// Ends with `/`; `v2/` is joined onto it.
    base: Url,
    username: String,
    password: SecretString,
    cache: AuthCache,
    /// For the `/v2/` probe and token fetches only: not following redirects (a redirect must not
    /// carry Basic credentials elsewhere) and bounded by `token_timeout` per request.
    http: reqwest::Client,
    token_timeout: Duration,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("base", &self.base.as_str())
            .field("username", &self.username)
            .field("cache", &self.cache)
            .field("token_timeout", &self.token_timeout)
            .finish_non_exhaustive()
    }
}

impl RegistryAuth {
    /// Total time allowed for one probe or token fetch by default. A token endpoint slower than this
    /// is broken; failing lets the caller's retry/breaker logic act instead of hanging a request.
    pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
    /// Time allowed to open the connection of a probe or token fetch.
    pub const TOKEN_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Credentials for the registry at `base` (an http(s) URL; a missing trailing `/` is added so
    /// that `v2/` lands under its path). Nothing is sent until the first request.
    pub fn new(
        mut base: Url,
        username: impl Into<String>,
        password: SecretString,
    ) -> FlyResult<Self> {
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(FlyError::Config("registry base URL must be http(s)".into()));
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .timeout(Self::TOKEN_TIMEOUT)
            .connect_timeout(Self::TOKEN_CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| FlyError::Config(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            base,
            username: username.into(),
            password,
            cache: AuthCache::default(),
            http,
            token_timeout: Self::TOKEN_TIMEOUT,
        })
    }

    /// Replaces the total time allowed per probe or token fetch (default [`Self::TOKEN_TIMEOUT`]).
    pub fn with_token_timeout(mut self, timeout: Duration) -> Self {
        self.token_timeout = timeout;
        self
    }

    /// The registry's base URL (always ending with `/`).
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Learns the scheme when it is still unknown: one `GET {base}v2/` without credentials, whose 401
    /// challenge names Basic or the Bearer realm and service. A 2xx means the registry wants no
    /// credentials, which is handled as Basic (they are sent and ignored). Callers that cannot replay
    /// a request after a 401 (a streamed upload) call this before their first request.
    pub async fn ensure_scheme(&self) -> FlyResult<()> {
        self.probe().await.map_err(|f| f.error)
    }

    /// The `Authorization` header to send up front on a request needing `scope` (e.g.
    /// `repository:shared:pull,push`): Basic, or a cached or freshly fetched Bearer token. `None`
    /// while the scheme is unknown: send without credentials and answer the challenge.
    pub async fn authorization(&self, scope: &str) -> FlyResult<Option<HeaderValue>> {
        self.credential(scope).await.map_err(|f| f.error)
    }

    /// Answers a 401: `www_authenticate` are the response's `WWW-Authenticate` values. Updates the
    /// scheme, forgets the token cached under `scope` (it was refused), fetches a fresh one for the
    /// scope the challenge names (falling back to `scope`) and caches it under `scope`. Returns the
    /// header for exactly one retry, or `None` when no Basic or Bearer challenge was offered.
    pub async fn answer_challenge(
        &self,
        www_authenticate: &[HeaderValue],
        scope: &str,
    ) -> FlyResult<Option<HeaderValue>> {
        self.answer(www_authenticate, scope)
            .await
            .map_err(|f| f.error)
    }

    /// Forgets the token cached for `scope` (e.g. the registry refused it without a challenge).
    pub fn forget(&self, scope: &str) {
        self.cache.forget_token(scope);
    }

    /// Forgets every cached token; the scheme is kept.
    pub fn forget_all(&self) {
        self.cache.forget_all_tokens();
    }

    /// The Basic header for the configured credentials.
    fn basic(&self) -> Result<HeaderValue, Failure> {
        let raw = format!("{}:{}", self.username, self.password.expose_secret());
        sensitive(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    }

    /// [`Self::ensure_scheme`], keeping the `Retry-After` and status of a failure for the retry loop.
    pub(crate) async fn probe(&self) -> Result<(), Failure> {
        if self.cache.scheme() != Scheme::Unknown {
            return Ok(());
        }
        let url = self
            .base
            .join("v2/")
            .map_err(|e| FlyError::Config(format!("registry base URL: {e}")))?;
        let resp = self
            .http
            .get(url)
            .timeout(self.token_timeout)
            .send()
            .await
            .map_err(map_transport)?;
        let status = resp.status();
        if status.is_success() {
            self.cache.learn_scheme(Scheme::Basic);
            return Ok(());
        }
        let headers = resp.headers().clone();
        if status == StatusCode::UNAUTHORIZED {
            let challenges: Vec<HeaderValue> = headers
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .cloned()
                .collect();
            return match scheme_of(&challenges)? {
                Some(scheme) => {
                    self.cache.learn_scheme(scheme);
                    Ok(())
                }
                None => Err(FlyError::Unauthorized(
                    "registry answered 401 without a Basic or Bearer challenge".into(),
                )
                .into()),
            };
        }
        let body = resp.bytes().await.map_err(map_transport)?;
        Err(map_status(status, &headers, &body))
    }

    /// [`Self::authorization`], keeping the `Retry-After` and status of a failure for the retry loop.
    pub(crate) async fn credential(&self, scope: &str) -> Result<Option<HeaderValue>, Failure> {
        // `scheme()` and `token()` each take the cache lock briefly and release it before any await.
        match self.cache.scheme() {
            Scheme::Unknown => Ok(None),
            Scheme::Basic => self.basic().map(Some),
            Scheme::Bearer { realm, service } => {
                let token = match self.cache.token(scope) {
                    Some(t) => t,
                    None => {
                        self.fetch_token(&realm, service.as_deref(), scope, scope)
                            .await?
                    }
                };
                sensitive(format!("Bearer {token}")).map(Some)
            }
        }
    }

    /// [`Self::answer_challenge`], keeping the `Retry-After` and status of a failure.
    pub(crate) async fn answer(
        &self,
        www_authenticate: &[HeaderValue],
        scope: &str,
    ) -> Result<Option<HeaderValue>, Failure> {
        let Some(challenge) = find_challenge(www_authenticate) else {
            return Ok(None);
        };
        match scheme_from(&challenge)? {
            Scheme::Basic => {
                self.cache.set_scheme(Scheme::Basic);
                self.basic().map(Some)
            }
            Scheme::Bearer { realm, service } => {
                self.cache.set_scheme(Scheme::Bearer {
                    realm: realm.clone(),
                    service: service.clone(),
                });
                // The cached token was refused (expired, `invalid_token`, `insufficient_scope`): get a
                // fresh one for the scope the registry names, and let the caller try exactly once more.
                self.cache.forget_token(scope);
                let wanted = challenge.param("scope").unwrap_or(scope);
                let token = self
                    .fetch_token(&realm, service.as_deref(), wanted, scope)
                    .await?;
                sensitive(format!("Bearer {token}")).map(Some)
            }
            // Never produced by `scheme_from`; answering nothing is the safe reading anyway.
            Scheme::Unknown => Ok(None),
        }
    }

    /// `GET realm?service=..&scope=..` with Basic credentials; caches the token under `cache_key`.
    /// No lock is held here: the cache is written only once the answer is in.
    async fn fetch_token(
        &self,
        realm: &Url,
        service: Option<&str>,
        scope: &str,
        cache_key: &str,
    ) -> Result<String, Failure> {
        let mut url = realm.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", scope);
        }
        let mut req = self.http.get(url).timeout(self.token_timeout);
        // The realm is named by the registry itself; plain-http realms on other hosts get nothing.
        if !self.username.is_empty()
            && (same_origin(realm, &self.base) || realm.scheme() == "https")
        {
            req = req.header(header::AUTHORIZATION, self.basic()?);
        }
        let resp = req.send().await.map_err(map_transport)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(map_transport)?;
        if !status.is_success() {
            return Err(map_status(status, &headers, &body));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| FlyError::Decode(format!("token response: {e}")))?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| FlyError::Decode("token response without a token".into()))?;
        self.cache.store_token(
            cache_key,
            token.clone(),
            Duration::from_secs(parsed.expires_in.unwrap_or(60)),
        );
        Ok(token)
    }
}

/// The first Basic or Bearer challenge among a response's `WWW-Authenticate` values.
fn find_challenge(www_authenticate: &[HeaderValue]) -> Option<Challenge> {
    www_authenticate
        .iter()
        .filter_map(|v| v.to_str().ok().and_then(parse_challenge))
        .find(|c| c.scheme == "bearer" || c.scheme == "basic")
}

/// The scheme a challenge asks for; a Bearer challenge must name a realm that is a URL.
fn scheme_from(challenge: &Challenge) -> Result<Scheme, Failure> {
    if challenge.scheme == "basic" {
        return Ok(Scheme::Basic);
    }
    let realm = challenge
        .param("realm")
        .and_then(|r| Url::parse(r).ok())
        .ok_or_else(|| {
            FlyError::Unauthorized("registry sent a bearer challenge without a usable realm".into())
        })?;
    Ok(Scheme::Bearer {
        realm,
        service: challenge.param("service").map(str::to_string),
    })
}

/// The scheme named by the first usable challenge, if any.
fn scheme_of(www_authenticate: &[HeaderValue]) -> Result<Option<Scheme>, Failure> {
    find_challenge(www_authenticate)
        .map(|c| scheme_from(&c))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_with_commas_in_scope() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push",error="invalid_token""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.example/token"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        assert_eq!(c.param("error"), Some("invalid_token"));
    }

    #[test]
    fn parses_basic() {
        let c = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.param("realm"), Some("Registry Realm"));
    }

    #[test]
    fn tokens_expire() {
        let cache = AuthCache::default();
        cache.store_token("s", "t".into(), Duration::from_secs(60));
        assert_eq!(cache.token("s").as_deref(), Some("t"));
        cache.forget_token("s");
        assert_eq!(cache.token("s"), None);
    }

    use std::sync::Arc;

    use serde_json::json;
    use wiremock::matchers::{header as has_header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const BASIC: &str = "Basic dXNlcjpwYXNz"; // user:pass
    const SHARED: &str = "repository:shared:pull,push";

    fn auth(server: &MockServer) -> RegistryAuth {
        RegistryAuth::new(
            Url::parse(&server.uri()).unwrap(),
            "user",
            SecretString::from("pass".to_string()),
        )
        .unwrap()
    }

    /// `/v2/` without credentials answers a Bearer challenge whose realm is the fake's `/token`.
    async fn bearer_registry() -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v2/"))
            .respond_with(
                ResponseTemplate::new(401).insert_header(
                    "www-authenticate",
                    format!(
                        r#"Bearer realm="{}/token",service="reg.test""#,
                        server.uri()
                    )
                    .as_str(),
                ),
            )
            .mount(&server)
            .await;
        server
    }

    fn token_for(scope: &str) -> wiremock::MockBuilder {
        Mock::given(method("GET"))
            .and(path("/token"))
            .and(query_param("scope", scope))
    }

    fn text(v: &HeaderValue) -> &str {
        v.to_str().unwrap()
    }

    #[test]
    fn debug_never_shows_the_password_or_a_token() {
        let auth = RegistryAuth::new(
            Url::parse("https://registry.example").unwrap(),
            "x",
            SecretString::from("fo1_org_secret".to_string()),
        )
        .unwrap();
        auth.cache.set_scheme(Scheme::Basic);
        auth.cache
            .store_token(SHARED, "tok_secret".into(), Duration::from_secs(60));
        let debug = format!("{auth:?}");
        assert!(!debug.contains("fo1_org_secret"), "{debug}");
        assert!(!debug.contains("tok_secret"), "{debug}");
        assert!(debug.contains("registry.example"), "{debug}");
        assert!(auth.basic().unwrap().is_sensitive());
    }

    #[test]
    fn only_http_bases_are_accepted_and_get_a_trailing_slash() {
        let pw = || SecretString::from("p".to_string());
        let auth =
            RegistryAuth::new(Url::parse("http://reg:5000/sub").unwrap(), "u", pw()).unwrap();
        assert_eq!(auth.base().as_str(), "http://reg:5000/sub/");
        assert!(RegistryAuth::new(Url::parse("ftp://reg").unwrap(), "u", pw()).is_err());
    }

    #[tokio::test]
    async fn the_probe_learns_bearer_and_tokens_are_fetched_once_per_scope() {
        let server = bearer_registry().await;
        token_for(SHARED)
            .and(query_param("service", "reg.test"))
            .and(has_header("authorization", BASIC))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"token": "T1", "expires_in": 300})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let auth = auth(&server);
        assert_eq!(
            auth.authorization(SHARED).await.unwrap(),
            None,
            "unknown yet"
        );
        auth.ensure_scheme().await.unwrap();
        auth.ensure_scheme().await.unwrap(); // known: no second probe
        for _ in 0..2 {
            let value = auth.authorization(SHARED).await.unwrap().unwrap();
            assert_eq!(text(&value), "Bearer T1");
            assert!(value.is_sensitive());
        }
        let probes = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == "/v2/")
            .inspect(|r| assert!(!r.headers.contains_key("authorization")))
            .count();
        assert_eq!(probes, 1);
    }

    #[tokio::test]
    async fn a_registry_without_auth_is_treated_as_basic() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v2/"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
            .expect(1)
            .mount(&server)
            .await;
        let auth = auth(&server);
        auth.ensure_scheme().await.unwrap();
        let value = auth.authorization(SHARED).await.unwrap().unwrap();
        assert_eq!(text(&value), BASIC);
    }

    #[tokio::test]
    async fn a_refused_token_is_replaced_for_the_scope_the_challenge_names() {
        let server = bearer_registry().await;
        token_for(SHARED)
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "OLD"})))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        token_for("repository:shared:pull")
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "NEW"})))
            .expect(1)
            .mount(&server)
            .await;
        let auth = auth(&server);
        auth.ensure_scheme().await.unwrap();
        assert_eq!(
            text(&auth.authorization(SHARED).await.unwrap().unwrap()),
            "Bearer OLD"
        );
        let challenge = HeaderValue::from_str(&format!(
            r#"Bearer realm="{}/token",service="reg.test",scope="repository:shared:pull",error="invalid_token""#,
            server.uri()
        ))
        .unwrap();
        let retry = auth.answer_challenge(&[challenge], SHARED).await.unwrap();
        assert_eq!(text(&retry.unwrap()), "Bearer NEW");
        // Cached under the caller's scope, so the next request sends it up front.
        assert_eq!(
            text(&auth.authorization(SHARED).await.unwrap().unwrap()),
            "Bearer NEW"
        );
        let basic = HeaderValue::from_static(r#"Basic realm="r""#);
        assert_eq!(
            text(
                &auth
                    .answer_challenge(&[basic], SHARED)
                    .await
                    .unwrap()
                    .unwrap()
            ),
            BASIC
        );
        assert_eq!(auth.answer_challenge(&[], SHARED).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_token_endpoint_that_never_answers_fails_within_the_timeout() {
        let server = bearer_registry().await;
        token_for(SHARED)
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"token": "late"}))
                    .set_delay(Duration::from_secs(600)),
            )
            .mount(&server)
            .await;
        let auth = auth(&server).with_token_timeout(Duration::from_millis(300));
        auth.ensure_scheme().await.unwrap();
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(5), auth.authorization(SHARED))
            .await
            .expect("authorization hung past its token timeout");
        assert!(matches!(result, Err(FlyError::Transient(_))), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        // Nothing was cached: the next call tries again rather than remembering a failure.
        assert_eq!(auth.cache.token(SHARED), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_token_fetch_does_not_hold_up_other_requests() {
        let server = bearer_registry().await;
        token_for("repository:slow:pull")
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"token": "late"}))
                    .set_delay(Duration::from_secs(600)),
            )
            .mount(&server)
            .await;
        token_for(SHARED)
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "FAST"})))
            .mount(&server)
            .await;
        let auth = Arc::new(auth(&server));
        auth.ensure_scheme().await.unwrap();

        let stalled = tokio::spawn({
            let auth = auth.clone();
            async move { auth.authorization("repository:slow:pull").await }
        });
        // Wait until the slow fetch is really in flight at the token endpoint.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let requests = server.received_requests().await.unwrap();
            if requests
                .iter()
                .any(|r| r.url.query().unwrap_or("").contains("slow"))
            {
                break;
            }
            assert!(Instant::now() < deadline, "slow token fetch never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        // While it stalls, another scope's fetch, a cached token, the scheme probe, `forget` and
        // `Debug` all go through: nothing waits on a lock the stalled fetch holds.
        let quick = async {
            let fetched = auth.authorization(SHARED).await.unwrap().unwrap();
            let cached = auth.authorization(SHARED).await.unwrap().unwrap();
            auth.ensure_scheme().await.unwrap();
            auth.forget("repository:other:pull");
            let _ = format!("{auth:?}");
            (fetched, cached)
        };
        let (fetched, cached) = tokio::time::timeout(Duration::from_secs(2), quick)
            .await
            .expect("requests were serialized behind the stalled token fetch");
        assert_eq!(text(&fetched), "Bearer FAST");
        assert_eq!(text(&cached), "Bearer FAST");
        assert!(!stalled.is_finished());
        stalled.abort();
    }
}
