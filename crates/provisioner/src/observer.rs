//! [`JobObserver`]: a port through which the workers report how each job attempt ended, so the server
//! can count failures and retries (metrics) without the provisioner knowing about Prometheus.

use std::time::Duration;

use mgmt_domain::JobKind;

/// How one claimed job attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::Display)]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum JobOutcome {
    /// The job finished.
    Succeeded,
    /// The attempt failed transiently; the job is requeued with a backoff.
    Retried,
    /// The job failed permanently (a non-transient error); it will not run again.
    Failed,
    /// The attempt failed and the job ran out of attempts: it is dead and needs an operator.
    Dead,
    /// Shutdown stopped the job between steps; it is requeued at once.
    Interrupted,
}

impl JobOutcome {
    /// The metric label spelling.
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

/// Told about every settled job attempt. Called on the worker's task: keep it cheap and non-blocking.
pub trait JobObserver: Send + Sync {
    fn on_job_outcome(&self, kind: JobKind, outcome: JobOutcome, elapsed: Duration);
}

/// The default observer: ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopJobObserver;

impl JobObserver for NoopJobObserver {
    fn on_job_outcome(&self, _kind: JobKind, _outcome: JobOutcome, _elapsed: Duration) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_spelled_for_metric_labels() {
        let words = [
            JobOutcome::Succeeded,
            JobOutcome::Retried,
            JobOutcome::Failed,
            JobOutcome::Dead,
            JobOutcome::Interrupted,
        ]
        .map(|o| o.as_str());
        assert_eq!(
            words,
            ["succeeded", "retried", "failed", "dead", "interrupted"]
        );
    }
}
