//! Circuit breaker, one per upstream: after `failure_threshold` consecutive transient failures it
//! opens and calls fail fast with [`FlyError::CircuitOpen`]; after `cool_down` one probe is let
//! through (half-open): its success closes the breaker, its failure opens it again.
//!
//! Only transient failures (timeouts, connection errors, 408, 5xx) count: a 404 or 422 is the
//! upstream working correctly.

use std::sync::Mutex;
use std::time::Duration;

// tokio's clock, so tests (and anything on a paused runtime) can move time instead of sleeping.
use tokio::time::Instant;

use crate::error::FlyError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive transient failures that open the breaker.
    pub failure_threshold: u32,
    /// How long the breaker stays open before a probe is let through.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// The breaker's state, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(&self) -> &'static str {
        self.into()
    }

    /// 0 closed, 1 open, 2 half-open (a gauge value).
    pub fn as_gauge(&self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed { failures: u32 },
    Open { since: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
pub struct CircuitBreaker {
    upstream: &'static str,
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    pub fn new(upstream: &'static str, config: BreakerConfig) -> Self {
        Self {
            upstream,
            config,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    pub fn upstream(&self) -> &'static str {
        self.upstream
    }

    pub fn state(&self) -> BreakerState {
        match &*self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { since } if since.elapsed() >= self.config.cool_down => {
                BreakerState::HalfOpen
            }
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Asks to make a call. The returned permit must be told the outcome; dropping it unfinished
    /// (a cancelled call) frees the half-open probe slot without changing the state.
    pub(crate) fn try_acquire(&self) -> Result<Permit<'_>, FlyError> {
        let mut inner = self.lock();
        let probe = match &*inner {
            Inner::Closed { .. } => false,
            Inner::Open { since } if since.elapsed() >= self.config.cool_down => {
                *inner = Inner::HalfOpen { probing: true };
                true
            }
            Inner::HalfOpen { probing: false } => {
                *inner = Inner::HalfOpen { probing: true };
                true
            }
            Inner::Open { .. } | Inner::HalfOpen { probing: true } => {
                return Err(FlyError::CircuitOpen {
                    upstream: self.upstream,
                });
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            done: false,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave `Inner` half-updated: recover it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, healthy: bool, probe: bool) {
        let mut inner = self.lock();
        if healthy {
            *inner = Inner::Closed { failures: 0 };
            return;
        }
        match &mut *inner {
            Inner::Closed { failures } => {
                *failures += 1;
                if *failures >= self.config.failure_threshold.max(1) {
                    tracing::warn!(upstream = self.upstream, "circuit breaker opened");
                    *inner = Inner::Open {
                        since: Instant::now(),
                    };
                }
            }
            Inner::HalfOpen { .. } if probe => {
                *inner = Inner::Open {
                    since: Instant::now(),
                }
            }
            _ => {}
        }
    }
}

/// Permission for one call, see [`CircuitBreaker::try_acquire`].
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    done: bool,
}

impl Permit<'_> {
    /// `healthy` is false only for transient failures.
    pub(crate) fn finish(mut self, healthy: bool) {
        self.done = true;
        self.breaker.record(healthy, self.probe);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done && self.probe {
            let mut inner = self.breaker.lock();
            if matches!(*inner, Inner::HalfOpen { probing: true }) {
                *inner = Inner::HalfOpen { probing: false };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(cool_down: Duration) -> CircuitBreaker {
        CircuitBreaker::new(
            "test",
            BreakerConfig {
                failure_threshold: 2,
                cool_down,
            },
        )
    }

    #[test]
    fn opens_after_threshold_and_fails_fast() {
        let b = breaker(Duration::from_secs(60));
        b.try_acquire().unwrap().finish(false);
        assert_eq!(b.state(), BreakerState::Closed);
        b.try_acquire().unwrap().finish(false);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(matches!(
            b.try_acquire(),
            Err(FlyError::CircuitOpen { upstream: "test" })
        ));
    }

    #[test]
    fn states_are_spelled_for_metrics() {
        let words = [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
        ]
        .map(|s| s.as_str());
        assert_eq!(words, ["closed", "open", "half_open"]);
        assert_eq!(BreakerState::HalfOpen.to_string(), "half_open");
    }

    #[test]
    fn success_resets_the_count() {
        let b = breaker(Duration::from_secs(60));
        b.try_acquire().unwrap().finish(false);
        b.try_acquire().unwrap().finish(true);
        b.try_acquire().unwrap().finish(false);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn half_open_lets_one_probe_through() {
        let b = breaker(Duration::ZERO);
        b.try_acquire().unwrap().finish(false);
        b.try_acquire().unwrap().finish(false);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let probe = b.try_acquire().unwrap();
        assert!(
            b.try_acquire().is_err(),
            "second call while probing fails fast"
        );
        probe.finish(false);
        let probe = b.try_acquire().unwrap();
        drop(probe); // cancelled: the slot is free again
        b.try_acquire().unwrap().finish(true);
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
