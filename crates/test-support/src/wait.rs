//! Waiting for a condition by looking at it again and again, never by sleeping a fixed time: a wait
//! ends as soon as the condition holds, and a test that fails says what it saw last.
//!
//! ```no_run
//! # async fn demo(path: std::path::PathBuf) -> anyhow::Result<()> {
//! use std::time::Duration;
//! use mgmt_test_support::wait::{Check, eventually};
//!
//! // A bool or an Option is a condition ...
//! eventually(Duration::from_secs(5), || async { path.exists() }).await?;
//! // ... and a `Check` says what was seen, or that waiting is pointless.
//! let size = eventually(Duration::from_secs(5), || async {
//!     match std::fs::metadata(&path) {
//!         Ok(m) if m.len() > 0 => Check::Done(m.len()),
//!         Ok(_) => Check::NotYet("empty".into()),
//!         Err(e) => Check::Fail(e.into()),
//!     }
//! })
//! .await?;
//! # Ok(()) }
//! ```

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// The first pause between two looks; it doubles after each look up to [`MAX_PAUSE`].
pub const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause between two looks.
pub const MAX_PAUSE: Duration = Duration::from_millis(200);

/// What one look at a condition found.
#[derive(Debug)]
pub enum Check<T> {
    /// The condition holds: the wait ends with this value.
    Done(T),
    /// Not yet; the text says what was seen (the timeout error ends with the last one).
    NotYet(String),
    /// The condition can no longer hold (a process died, a tenant `failed`): the wait ends at once
    /// with this error.
    Fail(anyhow::Error),
}

impl<T> Check<T> {
    /// `NotYet` with what was seen.
    pub fn not_yet(seen: impl Display) -> Self {
        Self::NotYet(seen.to_string())
    }
}

/// What a condition's look may answer: a [`Check`], a `bool` (`true` ends the wait with `()`) or an
/// `Option` (`Some(value)` ends it with the value).
pub trait Condition {
    type Output;
    fn check(self) -> Check<Self::Output>;
}

impl<T> Condition for Check<T> {
    type Output = T;
    fn check(self) -> Check<T> {
        self
    }
}

impl Condition for bool {
    type Output = ();
    fn check(self) -> Check<()> {
        if self {
            Check::Done(())
        } else {
            Check::NotYet("false".into())
        }
    }
}

impl<T> Condition for Option<T> {
    type Output = T;
    fn check(self) -> Check<T> {
        match self {
            Some(value) => Check::Done(value),
            None => Check::NotYet("None".into()),
        }
    }
}

/// Looks at `condition` until it holds and returns its value. Fails when a look answers
/// [`Check::Fail`], or once `timeout` has passed (a look still running then is cut short), with what
/// the last look saw. Looks are [`FIRST_PAUSE`] apart at first, then up to [`MAX_PAUSE`].
pub async fn eventually<C, F, Fut>(timeout: Duration, mut condition: F) -> anyhow::Result<C::Output>
where
    C: Condition,
    F: FnMut() -> Fut,
    Fut: Future<Output = C>,
{
    let deadline = Instant::now() + timeout;
    let mut pause = FIRST_PAUSE;
    let mut looks = 0u32;
    loop {
        looks += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let seen = match tokio::time::timeout(remaining, condition()).await {
            Ok(answer) => match answer.check() {
                Check::Done(value) => return Ok(value),
                Check::Fail(error) => return Err(error),
                Check::NotYet(seen) => seen,
            },
            Err(_) => "the last look was still running".to_owned(),
        };
        let now = Instant::now();
        if now >= deadline {
            anyhow::bail!("not within {timeout:?} ({looks} looks); last seen: {seen}");
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// [`eventually`] for code outside an async runtime: the same looks and pauses, on this thread. A
/// look that hangs is not cut short.
pub fn eventually_blocking<C, F>(timeout: Duration, mut condition: F) -> anyhow::Result<C::Output>
where
    C: Condition,
    F: FnMut() -> C,
{
    let deadline = Instant::now() + timeout;
    let mut pause = FIRST_PAUSE;
    let mut looks = 0u32;
    loop {
        looks += 1;
        let seen = match condition().check() {
            Check::Done(value) => return Ok(value),
            Check::Fail(error) => return Err(error),
            Check::NotYet(seen) => seen,
        };
        let now = Instant::now();
        if now >= deadline {
            anyhow::bail!("not within {timeout:?} ({looks} looks); last seen: {seen}");
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn returns_as_soon_as_the_condition_holds() {
        let looks = AtomicU32::new(0);
        let started = Instant::now();
        let value = eventually(Duration::from_secs(5), || async {
            let n = looks.fetch_add(1, Ordering::SeqCst) + 1;
            (n >= 3).then_some(n)
        })
        .await
        .unwrap();
        assert_eq!(value, 3);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_timeout_names_the_last_thing_seen() {
        let err = eventually(Duration::from_millis(100), || async {
            Check::<()>::not_yet("status pending")
        })
        .await
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("not within 100ms"), "{message}");
        assert!(message.ends_with("last seen: status pending"), "{message}");
    }

    #[tokio::test]
    async fn a_failed_look_ends_the_wait_at_once() {
        let started = Instant::now();
        let err = eventually(Duration::from_secs(30), || async {
            Check::<()>::Fail(anyhow::anyhow!("tenant failed"))
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "tenant failed");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_hanging_look_is_cut_short_at_the_deadline() {
        let started = Instant::now();
        let err = eventually(Duration::from_millis(100), || async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            true
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("still running"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn blocking_variant_waits_for_a_bool() {
        let mut looks = 0;
        eventually_blocking(Duration::from_secs(5), || {
            looks += 1;
            looks == 4
        })
        .unwrap();
        assert_eq!(looks, 4);
        assert!(eventually_blocking(Duration::from_millis(30), || false).is_err());
    }
}
