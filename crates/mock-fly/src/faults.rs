//! Fault injection for tests: fail, slow down, rate-limit or cut off chosen operations.
//!
//! Operations are selected by name: an exact [`Op`] name (`"create_machine"` or `Op::CreateMachine`),
//! a prefix ending in `*` (`"registry_*"`), or `"*"` for everything. A selector that matches no
//! operation panics, so a typo in a test cannot silently inject nothing. The same switchboard is
//! driven over HTTP at `/__mock/faults` (see [`crate::faults_http`]), where such a selector is a 400.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

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
pub(crate) struct Selector(String);

impl Selector {
    /// Whether `sel` names at least one operation (the HTTP API answers 400 instead of panicking).
    pub(crate) fn is_valid(sel: &str) -> bool {
        let s = Selector(sel.to_owned());
        Op::ALL.iter().any(|op| s.matches(*op))
    }

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
    /// When set, the down switch turns itself off at this instant (a short outage).
    down_until: Option<Instant>,
    global_latency: Duration,
    latencies: Vec<(Selector, Duration)>,
    rules: Vec<Rule>,
    /// Overrides `MockFlyConfig::destroy_delay`: how long deleted apps, volumes and machines linger.
    destroy_delay: Option<Duration>,
    /// How many calls each kind of fault has answered (or slowed) so far; kept across `clear`.
    fired: BTreeMap<&'static str, u64>,
}

/// One active fault, as `GET /__mock/faults` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultView {
    /// `fail_nth`, `fail_next`, `rate_limit`, `drop_connection` or `latency`.
    pub kind: &'static str,
    /// The operation selector (`create_app`, `registry_*`, `*`).
    pub op: String,
    /// `fail_nth`/`drop_connection`: which matching call; `fail_next`/`rate_limit`: how many remain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
    /// Matching calls counted so far by a `fail_nth`/`drop_connection` rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<u32>,
}

/// Everything the switchboard holds, as `GET /__mock/faults` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultsView {
    /// The status every Machines API call answers while Fly is down, else `None`.
    pub down: Option<u16>,
    /// Milliseconds until a timed outage ends by itself.
    pub down_remaining_ms: Option<u64>,
    pub global_latency_ms: u64,
    /// Linger override of deletes, if any.
    pub destroy_delay_ms: Option<u64>,
    pub faults: Vec<FaultView>,
    /// Calls each kind of fault has acted on so far (`fail`, `rate_limit`, `drop_connection`, `down`,
    /// `latency`); not reset by a clear, so a test can total what it injected.
    pub fired: BTreeMap<&'static str, u64>,
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
        self.with(|r| {
            r.down = Some(status);
            r.down_until = None;
        });
    }

    /// Fly hard down: every Machines API call answers 503 while `true`.
    pub fn set_down(&self, down: bool) {
        self.with(|r| {
            r.down = down.then_some(503);
            r.down_until = None;
        });
    }

    /// Fly down for `d` only: every Machines API call answers `status` until then (an outage that
    /// ends by itself, so a test driver that dies cannot leave Fly down).
    pub fn down_for(&self, status: u16, d: Duration) {
        self.with(|r| {
            r.down = Some(status);
            r.down_until = Some(Instant::now() + d);
        });
    }

    /// Deleted apps, volumes and machines linger this long (instead of `MockFlyConfig::destroy_delay`)
    /// before they are gone; `None` restores the configured delay.
    pub fn set_destroy_delay(&self, d: Option<Duration>) {
        self.with(|r| r.destroy_delay = d);
    }

    /// The linger override, if one is set.
    pub(crate) fn destroy_delay(&self) -> Option<Duration> {
        self.with(|r| r.destroy_delay)
    }

    /// The active faults and how many calls each kind has acted on.
    pub fn view(&self) -> FaultsView {
        self.with(|r| {
            expire_down(r);
            let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            let mut faults: Vec<FaultView> = r
                .rules
                .iter()
                .map(|rule| {
                    let base = FaultView {
                        kind: "",
                        op: rule.sel.0.clone(),
                        n: None,
                        status: None,
                        retry_after: None,
                        ms: None,
                        seen: None,
                    };
                    match &rule.kind {
                        Kind::FailNth { n, status } => FaultView {
                            kind: "fail_nth",
                            n: Some(*n),
                            status: Some(*status),
                            seen: Some(rule.seen),
                            ..base
                        },
                        Kind::FailNext { remaining, status } => FaultView {
                            kind: "fail_next",
                            n: Some(*remaining),
                            status: Some(*status),
                            ..base
                        },
                        Kind::RateLimit {
                            remaining,
                            retry_after,
                        } => FaultView {
                            kind: "rate_limit",
                            n: Some(*remaining),
                            retry_after: *retry_after,
                            ..base
                        },
                        Kind::DropNth { n } => FaultView {
                            kind: "drop_connection",
                            n: Some(*n),
                            seen: Some(rule.seen),
                            ..base
                        },
                    }
                })
                .collect();
            faults.extend(r.latencies.iter().map(|(sel, d)| FaultView {
                kind: "latency",
                op: sel.0.clone(),
                n: None,
                status: None,
                retry_after: None,
                ms: Some(ms(*d)),
                seen: None,
            }));
            FaultsView {
                down: r.down,
                down_remaining_ms: r
                    .down_until
                    .map(|t| ms(t.saturating_duration_since(Instant::now()))),
                global_latency_ms: ms(r.global_latency),
                destroy_delay_ms: r.destroy_delay.map(ms),
                faults,
                fired: r.fired.clone(),
            }
        })
    }

    /// Latency added to every request (inspection endpoints excepted).
    pub fn set_global_latency(&self, d: Duration) {
        self.with(|r| r.global_latency = d);
    }

    /// Remove every fault, latency, the down switch and the linger override (the `fired` totals stay).
    pub fn clear(&self) {
        self.with(|r| {
            let fired = std::mem::take(&mut r.fired);
            *r = Rules {
                fired,
                ..Rules::default()
            };
        });
    }

    /// Count the call against every matching rule and return the latency and what to do.
    pub(crate) fn decide(&self, op: Op) -> (Duration, Option<Action>) {
        self.with(|r| {
            expire_down(r);
            let mut latency = r.global_latency;
            for (sel, d) in &r.latencies {
                if sel.matches(op) {
                    latency += *d;
                }
            }
            if latency > Duration::ZERO {
                *r.fired.entry("latency").or_default() += 1;
            }
            let mut action = match r.down {
                Some(status) if !op.is_registry() => Some(Action::Fail(status)),
                _ => None,
            };
            let down = action.is_some();
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
            let kind = match action {
                Some(_) if down => Some("down"),
                Some(Action::Fail(_)) => Some("fail"),
                Some(Action::TooMany(_)) => Some("rate_limit"),
                Some(Action::Drop) => Some("drop_connection"),
                None => None,
            };
            if let Some(kind) = kind {
                *r.fired.entry(kind).or_default() += 1;
            }
            (latency, action)
        })
    }
}

/// Turn a timed outage off once its time is up.
fn expire_down(r: &mut Rules) {
    if r.down_until.is_some_and(|t| Instant::now() >= t) {
        r.down = None;
        r.down_until = None;
    }
}
