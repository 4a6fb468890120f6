//! Retry policy: jittered exponential backoff (delays from `backon`'s `ExponentialBuilder`) and
//! `Retry-After` parsing.
//!
//! The retry loop itself lives in `super::guard` rather than in `backon::Retryable`, because every
//! attempt must pass the circuit breaker and the observer, a `Retry-After` replaces the computed delay,
//! and machine creation has to look the machine up between attempts.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use http::HeaderMap;

/// How idempotent calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// First backoff delay; doubles each retry, with random jitter added.
    pub min_delay: Duration,
    /// Upper bound of a computed backoff delay.
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited for: the error goes back to the caller
    /// (with the hint in [`crate::FlyError::RateLimited`]) so that it can schedule the retry itself.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries at all (each call is a single attempt).
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The delays between attempts, jittered.
    pub(crate) fn backoff(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay.max(self.min_delay))
            .with_max_times(self.max_retries as usize)
            .build()
    }
}

/// Reads `Retry-After` as delay seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            http::header::RETRY_AFTER,
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(http::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let p = RetryPolicy {
            max_retries: 4,
            ..RetryPolicy::default()
        };
        let delays: Vec<_> = p.backoff().collect();
        assert_eq!(delays.len(), 4);
        assert!(
            delays
                .iter()
                .all(|d| *d >= p.min_delay && *d <= p.max_delay * 2)
        );
        assert!(RetryPolicy::none().backoff().next().is_none());
    }
}
