//! A short-lived cache of `sub` → customer, so an authenticated read costs one query, not two.
//!
//! Entries live for a configured time (a suspension takes effect within it); the map is bounded and
//! simply cleared when full, which is cheap and keeps memory flat under a flood of distinct subjects.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mgmt_domain::Customer;

/// Most entries held at once.
const MAX_ENTRIES: usize = 10_000;

/// The mechanism both auth caches share: entries live for `ttl` (zero disables caching), and the map
/// is cleared when it reaches [`MAX_ENTRIES`].
#[derive(Debug)]
pub(super) struct TtlMap<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash, V: Clone> TtlMap<K, V> {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    pub(super) fn put(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (value, Instant::now()));
    }
}

#[derive(Debug)]
pub struct CustomerCache(TtlMap<String, Customer>);

impl CustomerCache {
    /// A cache keeping entries for `ttl`; zero disables caching.
    pub fn new(ttl: Duration) -> Self {
        Self(TtlMap::new(ttl))
    }

    pub fn get(&self, subject: &str) -> Option<Customer> {
        self.0.get(subject)
    }

    pub fn put(&self, customer: &Customer) {
        self.0.put(customer.subject.clone(), customer.clone());
    }
}

#[cfg(test)]
mod tests {
    use mgmt_domain::{CustomerId, CustomerStatus};

    use super::*;

    fn customer(subject: &str) -> Customer {
        let now = chrono::Utc::now();
        Customer {
            id: CustomerId::new_random(),
            subject: subject.into(),
            email: "a@example.com".into(),
            name: None,
            status: CustomerStatus::Active,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn entries_expire_and_zero_disables() {
        let cache = CustomerCache::new(Duration::from_millis(50));
        cache.put(&customer("s1"));
        assert_eq!(cache.get("s1").unwrap().subject, "s1");
        assert!(cache.get("s2").is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("s1").is_none());
        let off = CustomerCache::new(Duration::ZERO);
        off.put(&customer("s1"));
        assert!(off.get("s1").is_none());
    }
}
