//! A short-lived cache of `sub` → customer, so an authenticated read costs one query, not two.
//!
//! Entries live for a configured time (a suspension takes effect within it); the map is bounded and
//! simply cleared when full, which is cheap and keeps memory flat under a flood of distinct subjects.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mgmt_domain::Customer;

/// Most subjects held at once.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub struct CustomerCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Customer, Instant)>>,
}

impl CustomerCache {
    /// A cache keeping entries for `ttl`; zero disables caching.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, subject: &str) -> Option<Customer> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(subject)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(c, _)| c.clone())
    }

    pub fn put(&self, customer: &Customer) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(customer.subject.clone(), (customer.clone(), Instant::now()));
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
