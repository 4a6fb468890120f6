//! Async work from synchronous code that may itself run inside a runtime, such as a `Drop` (where
//! blocking the caller's runtime is not allowed, and which may run while a test unwinds).

use std::future::Future;

use anyhow::anyhow;

/// Runs the future `make` returns to completion on a fresh thread with its own current-thread runtime,
/// and waits for it. Callable inside or outside a tokio runtime; a panic of the work comes back as an
/// error instead of unwinding into the caller.
pub fn block_on_fresh_thread<F, Fut, T>(make: F) -> anyhow::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(make())
    })
    .join()
    .map_err(|_| anyhow!("the work panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_outside_a_runtime() {
        let v = block_on_fresh_thread(|| async {
            tokio::task::yield_now().await;
            Ok(7)
        });
        assert_eq!(v.unwrap(), 7);
    }

    #[tokio::test]
    async fn runs_inside_a_runtime_and_reports_errors_and_panics() {
        let err = block_on_fresh_thread(|| async { Err::<(), _>(anyhow!("boom")) }).unwrap_err();
        assert_eq!(err.to_string(), "boom");
        let err = block_on_fresh_thread(|| async {
            if true {
                panic!("inside");
            }
            Ok(())
        })
        .unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
    }
}
