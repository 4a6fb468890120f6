//! Fly-like rate limits: a token bucket per action per machine (or app), refilled continuously.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::ops::Op;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets keyed by operation and the machine id (or app name) it acts on.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    buckets: Mutex<HashMap<(Op, String), Bucket>>,
}

/// Rate per second and burst for an operation: Fly documents ~1 req/s with bursts of 3 per action,
/// and 5 req/s (burst 10) for getting a machine.
fn limits(op: Op) -> (f64, f64) {
    match op {
        Op::GetMachine => (5.0, 10.0),
        _ => (1.0, 3.0),
    }
}

impl RateLimiter {
    /// Take one token; `false` means answer 429.
    pub(crate) fn allow(&self, op: Op, key: &str) -> bool {
        let (rate, burst) = limits(op);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.entry((op, key.to_owned())).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
