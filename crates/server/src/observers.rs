//! The observer ports of the layers below, feeding the HTTP layer's [`Metrics`]: the Fly clients' call
//! hook ([`CallObserver`]), their circuit breakers (probed at scrape time) and the provisioner's job
//! outcomes ([`JobObserver`]). The metrics know none of these crates; this is where they meet.

use std::sync::Arc;
use std::time::Duration;

use mgmt_domain::JobKind;
use mgmt_fly_client::{BreakerState, CallObserver};
use mgmt_http::metrics::{CircuitState, Metrics};
use mgmt_provisioner::{JobObserver, JobOutcome};

/// Reports Fly calls and job outcomes to the metrics.
#[derive(Debug, Clone)]
pub struct MetricsObserver(pub Arc<Metrics>);

/// The fly-client's call hook feeds the Fly call counters (`{upstream}.{operation}`).
impl CallObserver for MetricsObserver {
    fn on_call(&self, upstream: &str, operation: &str, outcome: &str, elapsed: Duration) {
        self.0
            .record_fly_call(&format!("{upstream}.{operation}"), outcome, elapsed);
    }
}

/// The provisioner's workers feed the job outcome counters.
impl JobObserver for MetricsObserver {
    fn on_job_outcome(&self, kind: JobKind, outcome: JobOutcome, elapsed: Duration) {
        self.0
            .record_job_outcome(kind.as_str(), outcome.as_str(), elapsed);
    }
}

/// A fly-client breaker state as the metrics report it.
pub fn circuit_state(state: BreakerState) -> CircuitState {
    match state {
        BreakerState::Closed => CircuitState::Closed,
        BreakerState::Open => CircuitState::Open,
        BreakerState::HalfOpen => CircuitState::HalfOpen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_jobs_and_breakers_reach_the_metrics() {
        let metrics = Arc::new(Metrics::new());
        let observer = MetricsObserver(metrics.clone());
        observer.on_call("registry", "resolve", "transient", Duration::from_millis(3));
        observer.on_job_outcome(JobKind::Cleanup, JobOutcome::Dead, Duration::from_secs(1));
        metrics.add_breaker_probe(
            "machines",
            Box::new(|| circuit_state(BreakerState::HalfOpen)),
        );
        let text = metrics.render();
        for needle in [
            r#"fly_calls_total{operation="registry.resolve",outcome="transient"} 1"#,
            r#"job_outcomes_total{kind="cleanup",outcome="dead"} 1"#,
            r#"circuit_breaker_state{upstream="machines"} 2"#,
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
