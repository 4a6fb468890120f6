//! The retry loop shared by both clients: every attempt passes the upstream's breaker and is
//! reported to the observer; transient failures are retried with backoff or `Retry-After`.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::error::FlyError;

use super::{CallObserver, CircuitBreaker, NoopObserver, RetryPolicy};

/// Which failures a call may be retried on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryMode {
    /// Repeating the call has the same effect: retry every transient failure.
    Idempotent,
    /// A create: retry only when the upstream certainly did not act (429, or the connection was
    /// never made). Ambiguous failures go back to the caller (or to a create-specific lookup).
    NotActedOn,
}

/// A failed attempt, with what the retry loop needs to know about it.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: FlyError,
    pub retry_after: Option<Duration>,
    /// The request never reached the upstream (connection refused, DNS).
    pub not_sent: bool,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
}

impl Failure {
    /// A non-2xx answer of either upstream, mapped to the error a caller can act on. `name_taken` is
    /// Fly's 422 status for an app name in use (the Machines API only).
    pub(crate) fn from_status(
        status: http::StatusCode,
        message: String,
        retry_after: Option<Duration>,
        name_taken: bool,
    ) -> Self {
        let error = match status.as_u16() {
            404 => FlyError::NotFound(message),
            422 if name_taken => FlyError::NameTaken(message),
            409 | 412 => FlyError::Conflict(message),
            429 => FlyError::RateLimited { retry_after },
            401 | 403 => FlyError::Unauthorized(format!("{status}: {message}")),
            408 | 500..=599 => FlyError::Transient(format!("{status}: {message}")),
            code => FlyError::Api {
                status: code,
                message,
            },
        };
        Self {
            error,
            retry_after,
            not_sent: false,
            status: Some(status.as_u16()),
        }
    }
}

impl From<FlyError> for Failure {
    fn from(error: FlyError) -> Self {
        Self {
            error,
            retry_after: None,
            not_sent: false,
            status: None,
        }
    }
}

pub(crate) struct Guard {
    pub upstream: &'static str,
    pub retry: RetryPolicy,
    pub breaker: Arc<CircuitBreaker>,
    observer: RwLock<Arc<dyn CallObserver>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("upstream", &self.upstream)
            .field("retry", &self.retry)
            .field("breaker", &self.breaker.state())
            .finish_non_exhaustive()
    }
}

impl Guard {
    pub fn new(upstream: &'static str, retry: RetryPolicy, breaker: Arc<CircuitBreaker>) -> Self {
        Self {
            upstream,
            retry,
            breaker,
            observer: RwLock::new(Arc::new(NoopObserver)),
        }
    }

    pub fn set_observer(&self, observer: Arc<dyn CallObserver>) {
        *self.observer.write().unwrap_or_else(|e| e.into_inner()) = observer;
    }

    fn observe(&self, op: &str, outcome: &str, elapsed: Duration) {
        let observer = self
            .observer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        observer.on_call(self.upstream, op, outcome, elapsed);
    }

    /// One attempt through the breaker, reported to the observer.
    pub async fn attempt<T, Fut>(&self, op: &str, fut: Fut) -> Result<T, Failure>
    where
        Fut: Future<Output = Result<T, Failure>>,
    {
        let permit = match self.breaker.try_acquire() {
            Ok(p) => p,
            Err(e) => {
                self.observe(op, e.kind(), Duration::ZERO);
                return Err(e.into());
            }
        };
        let started = Instant::now();
        let result = fut.await;
        let (outcome, healthy) = match &result {
            Ok(_) => ("ok", true),
            Err(f) => (f.error.kind(), !matches!(f.error, FlyError::Transient(_))),
        };
        permit.finish(healthy);
        self.observe(op, outcome, started.elapsed());
        result
    }

    /// How long to wait before retrying `failure`, or `None` to give up now.
    pub fn next_delay(
        &self,
        failure: &Failure,
        mode: RetryMode,
        backoff: &mut impl Iterator<Item = Duration>,
    ) -> Option<Duration> {
        let retryable = match (&failure.error, mode) {
            (FlyError::RateLimited { .. }, _) => true,
            (FlyError::Transient(_), RetryMode::Idempotent) => true,
            (FlyError::Transient(_), RetryMode::NotActedOn) => failure.not_sent,
            _ => false,
        };
        if !retryable {
            return None;
        }
        let computed = backoff.next()?;
        match failure.retry_after {
            Some(hint) if hint > self.retry.max_retry_after => None,
            Some(hint) => Some(hint),
            None => Some(computed),
        }
    }

    /// Runs `make_attempt` until it succeeds, fails for good, or the retries are used up.
    pub async fn run<T, F, Fut>(
        &self,
        op: &str,
        mode: RetryMode,
        mut make_attempt: F,
    ) -> Result<T, FlyError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut backoff = self.retry.backoff();
        let mut previous: Option<FlyError> = None;
        loop {
            match self.attempt(op, make_attempt()).await {
                Ok(v) => return Ok(v),
                // The breaker opened during our own retries: the failure that opened it says more.
                Err(Failure {
                    error: FlyError::CircuitOpen { .. },
                    ..
                }) if previous.is_some() => {
                    return Err(previous.expect("checked"));
                }
                Err(failure) => match self.next_delay(&failure, mode, &mut backoff) {
                    Some(delay) => {
                        tracing::debug!(upstream = self.upstream, op, ?delay, error = %failure.error, "retrying");
                        previous = Some(failure.error);
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(failure.error),
                },
            }
        }
    }
}
