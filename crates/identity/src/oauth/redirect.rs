//! Which `redirect_uri` the CLI may ask the login to end at: a loopback address, or an origin the
//! operator configured (`LOGIN_REDIRECT_ORIGINS`). The JWT is delivered in that URI's query, so
//! anything else would hand a customer's token to whoever wrote the link.
//!
//! Loopback means `http://127.0.0.1:<port>/<path>` or `http://[::1]:<port>/<path>`, any port
//! (RFC 8252 §7.3: the CLI picks its port). `localhost` is refused: RFC 8252 §8.3 warns that the
//! name may resolve elsewhere (a hosts file, a resolver), and the CLI itself uses `127.0.0.1`.

use url::{Host, Url};

/// The redirect URIs a login may end at.
#[derive(Debug, Clone, Default)]
pub struct RedirectPolicy {
    /// Origins (`scheme://host[:port]`, normalised by `url`) accepted besides loopback.
    origins: Vec<String>,
}

/// Why a redirect URI is refused, in words for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("redirect_uri refused: {0}")]
pub struct RedirectRefused(pub &'static str);

/// Why an operator origin is refused at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "LOGIN_REDIRECT_ORIGINS: `{0}` is not an https origin (scheme://host[:port], nothing else)"
)]
pub struct BadOrigin(pub String);

impl RedirectPolicy {
    /// Loopback plus `origins` (each an `https://host[:port]` origin without path).
    pub fn new(origins: &[String]) -> Result<Self, BadOrigin> {
        let mut out = Vec::new();
        for o in origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
            let url = Url::parse(o).map_err(|_| BadOrigin(o.to_owned()))?;
            let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
            if url.scheme() != "https"
                || !bare
                || !url.username().is_empty()
                || url.host().is_none()
            {
                return Err(BadOrigin(o.to_owned()));
            }
            out.push(url.origin().ascii_serialization());
        }
        Ok(Self { origins: out })
    }

    /// The URI, parsed, if a login may end there.
    pub fn check(&self, redirect_uri: &str) -> Result<Url, RedirectRefused> {
        let url = Url::parse(redirect_uri).map_err(|_| RedirectRefused("not an absolute URL"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectRefused("credentials in the URL"));
        }
        if url.fragment().is_some() {
            return Err(RedirectRefused("a fragment is not allowed"));
        }
        let loopback = match url.host() {
            Some(Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
            Some(Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
            _ => false,
        };
        if loopback {
            if url.scheme() != "http" {
                return Err(RedirectRefused("a loopback redirect uses http"));
            }
            if url.port().is_none() {
                return Err(RedirectRefused("a loopback redirect names its port"));
            }
            return Ok(url);
        }
        if self.origins.contains(&url.origin().ascii_serialization()) {
            return Ok(url);
        }
        Err(RedirectRefused(
            "only http://127.0.0.1:<port>/..., http://[::1]:<port>/... and the configured origins are allowed",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_configured_origins_only() {
        let p = RedirectPolicy::new(&["https://console.example.com".to_owned()]).unwrap();
        for ok in [
            "http://127.0.0.1:8765/callback",
            "http://[::1]:9000/cb?x=1",
            "https://console.example.com/login/done",
        ] {
            assert!(p.check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://localhost:8765/callback",
            "http://127.0.0.1/callback",
            "https://127.0.0.1:8765/callback",
            "http://127.0.0.2:8765/callback",
            "http://evil.example:8765/callback",
            "https://console.example.com.evil.example/x",
            "http://console.example.com/x",
            "https://console.example.com:444/x",
            "http://user:pw@127.0.0.1:8765/callback",
            "http://127.0.0.1:8765/callback#frag",
            "/callback",
            "javascript:alert(1)",
            "",
        ] {
            assert!(p.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins_must_be_bare_https() {
        assert!(RedirectPolicy::new(&["http://x.example".to_owned()]).is_err());
        assert!(RedirectPolicy::new(&["https://x.example/path".to_owned()]).is_err());
        assert!(RedirectPolicy::new(&["https://x.example".to_owned()]).is_ok());
    }
}
