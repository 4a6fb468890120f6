//! Requests per second per tenant: one tenant pushing in a tight loop cannot starve the others.
//!
//! A GCRA limiter from `governor`, keyed by tenant, in this process's memory: with several replicas each
//! enforces the limit on the requests it serves.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use mgmt_domain::TenantId;

use crate::limits::GatewayLimits;

/// Checks between two sweeps of tenants whose buckets are full again (keeps the map bounded).
const SWEEP_EVERY: u64 = 4096;

pub struct TenantRateLimiter {
    limiter: DefaultKeyedRateLimiter<TenantId>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl std::fmt::Debug for TenantRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantRateLimiter")
            .field("tenants", &self.limiter.len())
            .finish()
    }
}

impl TenantRateLimiter {
    pub fn new(limits: &GatewayLimits) -> Self {
        let rate = NonZeroU32::new(limits.requests_per_second).unwrap_or(NonZeroU32::MIN);
        let burst =
            NonZeroU32::new(limits.request_burst.max(limits.requests_per_second)).unwrap_or(rate);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// `Err(wait)` when the tenant is over its rate: it may retry after `wait`.
    pub fn check(&self, tenant: TenantId) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&tenant)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_over_its_burst_waits_and_others_do_not() {
        let limits = GatewayLimits {
            requests_per_second: 1,
            request_burst: 3,
            ..GatewayLimits::default()
        };
        let limiter = TenantRateLimiter::new(&limits);
        let (a, b) = (TenantId::new_random(), TenantId::new_random());
        for _ in 0..3 {
            assert!(limiter.check(a).is_ok());
        }
        let wait = limiter.check(a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limiter.check(b).is_ok(), "another tenant is not limited");
    }
}
