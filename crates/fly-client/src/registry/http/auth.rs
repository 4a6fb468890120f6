//! Challenge-driven registry authentication: `WWW-Authenticate` parsing, the scheme the registry
//! asked for, and bearer tokens cached per scope until they expire.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use url::Url;

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
}
