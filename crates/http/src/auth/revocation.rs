//! A short-lived cache of revocation lookups per (subject, token id), so an authenticated request
//! usually costs no extra query. A revocation takes effect within the cache's lifetime (5 s by
//! default, `AUTH_REVOCATION_CACHE_SECS`); the map is bounded and cleared when full.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mgmt_domain::Revocation;

/// Most entries held at once.
const MAX_ENTRIES: usize = 10_000;

type Key = (String, Option<String>);

#[derive(Debug)]
pub struct RevocationCache {
    ttl: Duration,
    entries: Mutex<HashMap<Key, (Revocation, Instant)>>,
}

impl RevocationCache {
    /// A cache keeping entries for `ttl`; zero disables caching.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, subject: &str, jti: Option<&str>) -> Option<Revocation> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&(subject.to_owned(), jti.map(str::to_owned)))
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(r, _)| *r)
    }

    pub fn put(&self, subject: &str, jti: Option<&str>, revocation: Revocation) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            (subject.to_owned(), jti.map(str::to_owned)),
            (revocation, Instant::now()),
        );
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
