//! Fault injection for tests: fail, slow down, rate-limit or cut off chosen operations.
//!
//! Operations are selected by name: an exact [`Op`] name (`"create_machine"` or `Op::CreateMachine`),
//! a prefix ending in `*` (`"registry_*"`), or `"*"` for everything. A selector that matches no
//! operation panics, so a typo in a test cannot silently inject nothing.

use std::sync::Mutex;
use std::time::Duration;

use crate::ops::Op;

/// What the server does with one request, decided before the handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Fail(u16),
    TooMany(Option<u64>),
    /// Run the handler, then cut the connection instead of sending the response.
    Drop,
}

#[derive(Debug, Clone)]
struct Selector(String);

impl Selector {
    fn new(sel: &str) -> Self {
        let s = Selector(sel.to_owned());
        assert!(
            Op::ALL.iter().any(|op| s.matches(*op)),
            "mock-fly: fault selector {sel:?} matches no operation; see mgmt_mock_fly::Op"
        );
        s
    }

    fn matches(&self, op: Op) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => op.as_str().starts_with(prefix),
            None => op.as_str() == self.0,
        }
    }
}

#[derive(Debug)]
enum Kind {
    FailNth {
        n: u32,
        status: u16,
    },
    FailNext {
        remaining: u32,
        status: u16,
    },
    RateLimit {
        remaining: u32,
        retry_after: Option<u64>,
    },
    DropNth {
        n: u32,
    },
}

#[derive(Debug)]
struct Rule {
    sel: Selector,
    kind: Kind,
    seen: u32,
}

#[derive(Debug, Default)]
struct Rules {
    down: Option<u16>,
    global_latency: Duration,
    latencies: Vec<(Selector, Duration)>,
    rules: Vec<Rule>,
}

/// The fault switchboard of one [`crate::MockFly`]; get it with [`crate::MockFly::faults`].
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Rules>,
}

impl Faults {
    fn with<R>(&self, f: impl FnOnce(&mut Rules) -> R) -> R {
        f(&mut self.rules.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn push(&self, op: &str, kind: Kind) {
        let sel = Selector::new(op);
        self.with(|r| r.rules.push(Rule { sel, kind, seen: 0 }));
    }

    /// The `n`th matching call from now on (1-based) answers `status`.
    pub fn fail_nth(&self, op: impl AsRef<str>, n: u32, status: u16) {
        assert!(n >= 1, "fail_nth counts from 1");
        self.push(op.as_ref(), Kind::FailNth { n, status });
    }

    /// The next `count` matching calls answer `status`.
    pub fn fail_next(&self, op: impl AsRef<str>, count: u32, status: u16) {
        self.push(
            op.as_ref(),
            Kind::FailNext {
                remaining: count,
                status,
            },
        );
    }

    /// Every matching call waits `d` before it is handled (replaces an earlier latency for the same selector).
    pub fn latency(&self, op: impl AsRef<str>, d: Duration) {
        let sel = Selector::new(op.as_ref());
        self.with(|r| {
            r.latencies.retain(|(s, _)| s.0 != sel.0);
            r.latencies.push((sel, d));
        });
    }

    /// The next `count` matching calls answer 429 `{"error":"rate limit exceeded"}`, with
    /// `Retry-After: <secs>` when given (Fly does not document the header, so both must be handled).
    pub fn rate_limit_429(&self, op: impl AsRef<str>, count: u32, retry_after: Option<u64>) {
        self.push(
            op.as_ref(),
            Kind::RateLimit {
                remaining: count,
                retry_after,
            },
        );
    }

    /// The `n`th matching call from now on (1-based) is carried out, but its connection is cut before
    /// the response arrives: the client cannot know whether it took effect.
    pub fn drop_connection(&self, op: impl AsRef<str>, n: u32) {
        assert!(n >= 1, "drop_connection counts from 1");
        self.push(op.as_ref(), Kind::DropNth { n });
    }

    /// Every Machines API call answers `status` until [`Faults::clear`] or `set_down(false)`.
    pub fn fail_all(&self, status: u16) {
        self.with(|r| r.down = Some(status));
    }

    /// Fly hard down: every Machines API call answers 503 while `true`.
    pub fn set_down(&self, down: bool) {
        self.with(|r| r.down = down.then_some(503));
    }

    /// Latency added to every request (inspection endpoints excepted).
    pub fn set_global_latency(&self, d: Duration) {
        self.with(|r| r.global_latency = d);
    }

    /// Remove every fault, latency and the down switch.
    pub fn clear(&self) {
        self.with(|r| *r = Rules::default());
    }

    /// Count the call against every matching rule and return the latency and what to do.
    pub(crate) fn decide(&self, op: Op) -> (Duration, Option<Action>) {
        self.with(|r| {
            let mut latency = r.global_latency;
            for (sel, d) in &r.latencies {
                if sel.matches(op) {
                    latency += *d;
                }
            }
            let mut action = match r.down {
                Some(status) if !op.is_registry() => Some(Action::Fail(status)),
                _ => None,
            };
            for rule in r.rules.iter_mut().filter(|rule| rule.sel.matches(op)) {
                rule.seen += 1;
                let hit = match &mut rule.kind {
                    Kind::FailNth { n, status } => {
                        (rule.seen == *n).then_some(Action::Fail(*status))
                    }
                    Kind::DropNth { n } => (rule.seen == *n).then_some(Action::Drop),
                    Kind::FailNext { remaining, status } => (*remaining > 0).then(|| {
                        *remaining -= 1;
                        Action::Fail(*status)
                    }),
                    Kind::RateLimit {
                        remaining,
                        retry_after,
                    } => (*remaining > 0).then(|| {
                        *remaining -= 1;
                        Action::TooMany(*retry_after)
                    }),
                };
                if action.is_none() {
                    action = hit;
                }
            }
            r.rules.retain(|rule| match &rule.kind {
                Kind::FailNth { n, .. } | Kind::DropNth { n } => rule.seen < *n,
                Kind::FailNext { remaining, .. } | Kind::RateLimit { remaining, .. } => {
                    *remaining > 0
                }
            });
            (latency, action)
        })
    }
}
