//! A lightweight hook through which callers see every upstream call (for Prometheus counters and
//! latency histograms), without this crate depending on a metrics library.

use std::time::Duration;

/// Told about every HTTP attempt the clients make (retries are separate calls), and about calls
/// refused by an open breaker (`outcome == "circuit_open"`, no request sent).
///
/// `upstream` is `"machines"` or `"registry"`; `operation` a stable snake_case name such as
/// `create_app` or `resolve`; `outcome` is `"ok"` or [`crate::FlyError::kind`].
pub trait CallObserver: Send + Sync {
    fn on_call(&self, upstream: &str, operation: &str, outcome: &str, elapsed: Duration);
}

/// The default observer: ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl CallObserver for NoopObserver {
    fn on_call(&self, _upstream: &str, _operation: &str, _outcome: &str, _elapsed: Duration) {}
}
