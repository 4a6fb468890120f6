//! Faults on demand: a delay, an error answer instead of acting, or acting and then losing the answer.

use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;

/// One injected fault, for the next `times` calls of `op` (`list_records`, `create_record`,
/// `delete_record`, or `*` for every Cloudflare route).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub op: String,
    /// Answer this status (with Cloudflare's error envelope) without acting.
    #[serde(default)]
    pub status: Option<u16>,
    /// With a 429: the `Retry-After` seconds sent along (Cloudflare sends one on rate limits).
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Wait this long before anything else.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Act, then drop the connection before the answer arrives.
    #[serde(default)]
    pub drop_after_acting: bool,
    /// How many calls it affects (default 1).
    #[serde(default)]
    pub times: Option<u32>,
}

/// What a call should suffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Decision {
    pub delay: Duration,
    pub status: Option<u16>,
    pub retry_after: Option<u64>,
    pub drop_after_acting: bool,
}

/// The pending faults, consumed in order.
#[derive(Debug, Default)]
pub struct Faults {
    pending: Mutex<Vec<(Fault, u32)>>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Fault, u32)>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a fault.
    pub fn inject(&self, fault: Fault) {
        let times = fault.times.unwrap_or(1);
        if times > 0 {
            self.lock().push((fault, times));
        }
    }

    /// The next `times` calls of `op` answer `status` without acting.
    pub fn fail(&self, op: &str, status: u16, times: u32) {
        self.inject(Fault {
            op: op.to_owned(),
            status: Some(status),
            retry_after: None,
            delay_ms: None,
            drop_after_acting: false,
            times: Some(times),
        });
    }

    /// The next call of `op` is rate limited (429 with `Retry-After: retry_after`).
    pub fn rate_limit(&self, op: &str, retry_after: u64) {
        self.inject(Fault {
            op: op.to_owned(),
            status: Some(429),
            retry_after: Some(retry_after),
            delay_ms: None,
            drop_after_acting: false,
            times: Some(1),
        });
    }

    /// The next call of `op` acts, then its answer is lost.
    pub fn drop_after_acting(&self, op: &str) {
        self.inject(Fault {
            op: op.to_owned(),
            status: None,
            retry_after: None,
            delay_ms: None,
            drop_after_acting: true,
            times: Some(1),
        });
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Takes the first fault matching `op` (counting one use).
    pub(crate) fn decide(&self, op: &str) -> Decision {
        let mut pending = self.lock();
        let Some(i) = pending.iter().position(|(f, _)| f.op == op || f.op == "*") else {
            return Decision::default();
        };
        let fault = pending[i].0.clone();
        pending[i].1 -= 1;
        if pending[i].1 == 0 {
            pending.remove(i);
        }
        Decision {
            delay: Duration::from_millis(fault.delay_ms.unwrap_or(0)),
            status: fault.status,
            retry_after: fault.retry_after,
            drop_after_acting: fault.drop_after_acting,
        }
    }
}
