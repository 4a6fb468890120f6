//! Resilience shared by both clients: retry policy with jittered backoff, a circuit breaker per
//! upstream, and an observer hook the server turns into metrics.

pub mod breaker;
pub(crate) mod guard;
pub mod observer;
pub mod retry;

pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker};
pub use observer::{CallObserver, NoopObserver};
pub use retry::RetryPolicy;
