//! Fair limits: per customer, concurrent event streams and request rate (429 with `Retry-After`); per
//! process, a cap on open streams (503). One customer's idle streams or request loop then cannot degrade
//! the others.
//!
//! The request rate is a GCRA limiter from `governor`, keyed by customer; stream counts are plain
//! counters released by a guard ([`StreamSlot`]) the moment the stream's task ends (the client went
//! away, the stream finished, or it was dropped as slow). Both live in this process's memory: with
//! several replicas each enforces the limits on what it serves.
//!
//! Refusing must cost less than serving, or a flood of refused requests degrades everyone: a token
//! already verified once is remembered by a keyed hash, so its next request is checked against its
//! customer's rate *before* the signature is verified again ([`Limits::precheck`]); a refusal builds its
//! message once, and is logged at debug plus one info summary every `SUMMARY_EVERY` (10 s).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use mgmt_domain::CustomerId;

use crate::error::ApiError;

/// Checks between two sweeps of customers whose buckets are full again (keeps the map bounded).
const SWEEP_EVERY: u64 = 4096;
/// What a refused stream is told to wait: a slot frees only when another stream ends, which the
/// server cannot predict; a few seconds keeps a retrying client from spinning.
const STREAM_RETRY_AFTER_SECS: u64 = 5;
/// Verified tokens remembered for the early check; the map is cleared when full (cheap, bounded).
const MAX_KNOWN_TOKENS: usize = 20_000;
/// At most one info line about refused requests per this period (each refusal is logged at debug).
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// The limits' settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// Event streams one customer may have open at once on this process.
    pub streams_per_customer: usize,
    /// Event streams this process serves at once, all customers together.
    pub streams_per_process: usize,
    /// Sustained authenticated requests per second per customer (0: no limit).
    pub requests_per_second: u32,
    /// Requests a customer may make at once above the sustained rate.
    pub request_burst: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            streams_per_customer: 20,
            streams_per_process: 10_000,
            requests_per_second: 50,
            request_burst: 200,
        }
    }
}

/// The process's limiter; cheap to clone.
#[derive(Clone)]
pub struct Limits {
    inner: Arc<Inner>,
}

struct Inner {
    settings: LimitSettings,
    rate: Option<DefaultKeyedRateLimiter<CustomerId>>,
    clock: DefaultClock,
    checks: AtomicU64,
    streams: Mutex<HashMap<CustomerId, usize>>,
    open: AtomicUsize,
    /// The 429's message (the settings are fixed, so it is built once).
    rate_message: String,
    /// Keyed hash of a verified bearer token → its customer and expiry (unix seconds). The per-process
    /// random key makes a collision impossible to aim at; an accidental one only means a 429 checked
    /// against another customer's bucket, and the customer is checked again once verified.
    known_tokens: Mutex<HashMap<u64, (CustomerId, i64)>>,
    hasher: RandomState,
    /// Refusals since the last summary line, and when that line was written.
    refused: AtomicU64,
    summary: Mutex<Instant>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("settings", &self.inner.settings)
            .field("open_streams", &self.open_streams())
            .finish()
    }
}

/// One open stream's place in the counts; dropping it frees the place at once.
#[derive(Debug)]
pub struct StreamSlot {
    limits: Limits,
    customer: CustomerId,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let inner = &self.limits.inner;
        let mut streams = inner.streams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = streams.get_mut(&self.customer) {
            *n -= 1;
            if *n == 0 {
                streams.remove(&self.customer);
            }
        }
        inner.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Limits {
    pub fn new(settings: LimitSettings) -> Self {
        let rate = NonZeroU32::new(settings.requests_per_second).map(|rate| {
            let burst = NonZeroU32::new(settings.request_burst.max(settings.requests_per_second))
                .unwrap_or(rate);
            DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        let rate_message = format!(
            "too many requests: at most {} per second (bursts of {}); retry later",
            settings.requests_per_second,
            settings.request_burst.max(settings.requests_per_second)
        );
        Self {
            inner: Arc::new(Inner {
                settings,
                rate,
                clock: DefaultClock::default(),
                checks: AtomicU64::new(0),
                streams: Mutex::new(HashMap::new()),
                open: AtomicUsize::new(0),
                rate_message,
                known_tokens: Mutex::new(HashMap::new()),
                hasher: RandomState::new(),
                refused: AtomicU64::new(0),
                summary: Mutex::new(Instant::now()),
            }),
        }
    }

    pub fn settings(&self) -> LimitSettings {
        self.inner.settings
    }

    /// One authenticated request of `customer`: 429 `rate_limited` with `Retry-After` when over its rate.
    pub fn check_request(&self, customer: CustomerId) -> Result<(), ApiError> {
        let Some(limiter) = &self.inner.rate else {
            return Ok(());
        };
        if self.inner.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
        }
        limiter.check_key(&customer).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.inner.clock.now());
            self.refused(customer);
            ApiError::too_many_requests(
                "rate_limited",
                self.inner.rate_message.clone(),
                retry_after_secs(wait),
            )
        })
    }

    /// The rate check before verification, for a bearer token verified before (and not expired):
    /// `Ok(Some(customer))` when it counted the request against that customer's rate (the caller checks
    /// the verified customer is the same and skips [`Limits::check_request`]), `Ok(None)` for a token
    /// not known (verify it, then call [`Limits::check_request`]), a 429 when over the rate.
    pub fn precheck(&self, token: &str, now_unix: i64) -> Result<Option<CustomerId>, ApiError> {
        if self.inner.rate.is_none() {
            return Ok(None);
        }
        let key = self.inner.hasher.hash_one(token);
        let known = {
            let known = self
                .inner
                .known_tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            known.get(&key).copied()
        };
        match known {
            Some((customer, exp)) if exp > now_unix => {
                self.check_request(customer)?;
                Ok(Some(customer))
            }
            _ => Ok(None),
        }
    }

    /// Remembers a verified token's customer for [`Limits::precheck`] (until `exp`, unix seconds).
    pub fn remember_token(&self, token: &str, customer: CustomerId, exp: i64) {
        if self.inner.rate.is_none() {
            return;
        }
        let key = self.inner.hasher.hash_one(token);
        let mut known = self
            .inner
            .known_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if known.get(&key) == Some(&(customer, exp)) {
            return;
        }
        if known.len() >= MAX_KNOWN_TOKENS {
            known.clear();
        }
        known.insert(key, (customer, exp));
    }

    /// Forgets a token that failed verification after [`Limits::precheck`] knew it (e.g. revoked), so
    /// a stolen, revoked token cannot keep spending its former customer's rate.
    pub fn forget_token(&self, token: &str) {
        let key = self.inner.hasher.hash_one(token);
        let mut known = self
            .inner
            .known_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        known.remove(&key);
    }

    /// Logs a refusal: at debug each time (a flood must not cost a log line per request), and one
    /// info summary at most every [`SUMMARY_EVERY`].
    fn refused(&self, customer: CustomerId) {
        tracing::debug!(customer_id = %customer, "request refused: over the customer's rate");
        self.inner.refused.fetch_add(1, Ordering::Relaxed);
        let Ok(mut last) = self.inner.summary.try_lock() else {
            return;
        };
        let since = last.elapsed();
        if since >= SUMMARY_EVERY {
            *last = Instant::now();
            tracing::info!(
                refused = self.inner.refused.swap(0, Ordering::Relaxed),
                seconds = since.as_secs(),
                last_customer_id = %customer,
                "requests refused by the per-customer rate limit"
            );
        }
    }

    /// A place for one more event stream of `customer`: 429 `too_many_streams` over the customer's
    /// limit, 503 `stream_capacity` when this process serves as many streams as it may.
    pub fn open_stream(&self, customer: CustomerId) -> Result<StreamSlot, ApiError> {
        let settings = self.inner.settings;
        let mut streams = self.inner.streams.lock().unwrap_or_else(|p| p.into_inner());
        let mine = streams.get(&customer).copied().unwrap_or(0);
        if mine >= settings.streams_per_customer {
            return Err(ApiError::too_many_requests(
                "too_many_streams",
                format!(
                    "at most {} event streams may be open at once per account; close one first",
                    settings.streams_per_customer
                ),
                STREAM_RETRY_AFTER_SECS,
            ));
        }
        // Checked and taken under the same lock as the customer's count, so the cap is never exceeded.
        if self.inner.open.load(Ordering::Relaxed) >= settings.streams_per_process {
            return Err(ApiError::unavailable(
                "stream_capacity",
                "this server has as many event streams open as it may serve; poll the status or retry shortly",
            )
            .with_retry_after(STREAM_RETRY_AFTER_SECS));
        }
        self.inner.open.fetch_add(1, Ordering::Relaxed);
        *streams.entry(customer).or_insert(0) += 1;
        Ok(StreamSlot {
            limits: self.clone(),
            customer,
        })
    }

    /// Event streams open in this process.
    pub fn open_streams(&self) -> usize {
        self.inner.open.load(Ordering::Relaxed)
    }
}

/// Whole seconds, rounded up, at least 1 (`Retry-After` has no fractions).
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError;

    use super::*;

    fn limits(per_customer: usize, per_process: usize, rate: u32, burst: u32) -> Limits {
        Limits::new(LimitSettings {
            streams_per_customer: per_customer,
            streams_per_process: per_process,
            requests_per_second: rate,
            request_burst: burst,
        })
    }

    #[test]
    fn a_customer_over_its_rate_gets_429_with_retry_after_and_others_do_not() {
        let l = limits(1, 1, 1, 3);
        let (a, b) = (CustomerId::new_random(), CustomerId::new_random());
        for _ in 0..3 {
            l.check_request(a).unwrap();
        }
        let e = l.check_request(a).unwrap_err();
        assert_eq!(e.status(), 429);
        assert_eq!(e.code(), "rate_limited");
        let resp = e.error_response();
        assert_eq!(resp.headers().get("retry-after").unwrap(), "1");
        l.check_request(b).unwrap();
    }

    #[test]
    fn zero_rate_means_no_rate_limit() {
        let l = limits(1, 1, 0, 0);
        let a = CustomerId::new_random();
        for _ in 0..10_000 {
            l.check_request(a).unwrap();
        }
    }

    #[test]
    fn streams_are_capped_per_customer_and_per_process_and_freed_on_drop() {
        let l = limits(2, 3, 0, 0);
        let (a, b) = (CustomerId::new_random(), CustomerId::new_random());
        let a1 = l.open_stream(a).unwrap();
        let _a2 = l.open_stream(a).unwrap();
        let e = l.open_stream(a).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (429, "too_many_streams"));
        assert_eq!(
            e.error_response().headers().get("retry-after").unwrap(),
            "5"
        );
        let b1 = l.open_stream(b).unwrap();
        let e = l.open_stream(b).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (503, "stream_capacity"));
        assert!(e.error_response().headers().contains_key("retry-after"));
        assert_eq!(l.open_streams(), 3);
        drop(a1);
        assert_eq!(l.open_streams(), 2);
        let _a3 = l.open_stream(a).unwrap();
        drop(b1);
        let _b2 = l.open_stream(b).unwrap();
    }

    #[test]
    fn a_known_token_is_refused_before_verification_and_an_unknown_or_expired_one_is_not() {
        let l = limits(1, 1, 1, 2);
        let a = CustomerId::new_random();
        let now = 1_000;
        assert!(l.precheck("tok-a", now).unwrap().is_none(), "unknown token");
        l.remember_token("tok-a", a, now + 60);
        assert_eq!(l.precheck("tok-a", now).unwrap(), Some(a));
        assert_eq!(l.precheck("tok-a", now).unwrap(), Some(a));
        let e = l.precheck("tok-a", now).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (429, "rate_limited"));
        assert!(e.error_response().headers().contains_key("retry-after"));
        // The same customer's bucket, whichever way the request is counted.
        assert!(l.check_request(a).is_err());
        // Another token is not known; an expired one is not trusted for the early check.
        assert!(l.precheck("tok-b", now).unwrap().is_none());
        assert!(l.precheck("tok-a", now + 60).unwrap().is_none());
        l.remember_token("tok-c", a, now + 60);
        l.forget_token("tok-c");
        assert!(l.precheck("tok-c", now).unwrap().is_none(), "forgotten");
    }

    #[test]
    fn no_rate_limit_means_no_early_check() {
        let l = limits(1, 1, 0, 0);
        l.remember_token("tok", CustomerId::new_random(), i64::MAX);
        assert!(l.precheck("tok", 0).unwrap().is_none());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
