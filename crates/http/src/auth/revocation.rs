//! A short-lived cache of revocation lookups per (subject, token id), so an authenticated request
//! usually costs no extra query. A revocation takes effect within the cache's lifetime (5 s by
//! default, `AUTH_REVOCATION_CACHE_SECS`); the map is bounded and cleared when full.

use std::time::Duration;

use mgmt_domain::Revocation;

use super::cache::TtlMap;

#[derive(Debug)]
pub struct RevocationCache(TtlMap<(String, Option<String>), Revocation>);

impl RevocationCache {
    /// A cache keeping entries for `ttl`; zero disables caching.
    pub fn new(ttl: Duration) -> Self {
        Self(TtlMap::new(ttl))
    }

    pub fn get(&self, subject: &str, jti: Option<&str>) -> Option<Revocation> {
        self.0.get(&(subject.to_owned(), jti.map(str::to_owned)))
    }

    pub fn put(&self, subject: &str, jti: Option<&str>, revocation: Revocation) {
        self.0
            .put((subject.to_owned(), jti.map(str::to_owned)), revocation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_per_token_and_zero_disables() {
        let cache = RevocationCache::new(Duration::from_millis(50));
        let revoked = Revocation {
            token_revoked: true,
            subject_revoked_before: None,
        };
        cache.put("s", Some("j1"), revoked);
        assert_eq!(cache.get("s", Some("j1")), Some(revoked));
        assert_eq!(cache.get("s", Some("j2")), None);
        assert_eq!(cache.get("s", None), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("s", Some("j1")), None);
        let off = RevocationCache::new(Duration::ZERO);
        off.put("s", None, revoked);
        assert_eq!(off.get("s", None), None);
    }
}
