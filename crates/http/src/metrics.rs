//! Prometheus metrics (`GET /metrics`, text format): HTTP requests, job queue, Fly calls, breakers, event
//! streams.
//!
//! `/metrics` is not on the public API listener: [`configure_private`] serves it on the server's own
//! metrics listener (`METRICS_LISTEN_ADDR`). Request figures are recorded by the request middleware;
//! queue figures are read at scrape time from counters the database maintains (a few rows, not a count
//! over the jobs table; every replica reports the same numbers); stream figures from the limits and
//! the fan-out hub; job
//! outcomes, Fly calls and breaker states are pushed in through [`Metrics::record_job_outcome`],
//! [`Metrics::record_fly_call`] and [`Metrics::add_breaker_probe`] by the observers the server wires to
//! the provisioner and the Fly clients (this crate knows neither).

use std::sync::Mutex;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use mgmt_domain::QueueStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::ErrorChain;
use crate::ports::BoxError;
use crate::state::AppState;

type Labels = Vec<(&'static str, String)>;

/// Labels of a request's latency. Typed (not a `Labels` vector) because they are built on every
/// request: the method is a static string and the route is the one string allocated per request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

/// Labels of the request counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

/// The method as a static label (no allocation); unusual methods share `other`.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s: status lookups are sub-millisecond, a slow Fly call takes seconds.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// A circuit breaker's state, as the `circuit_breaker_state` gauge reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    /// 0 closed, 1 open, 2 half-open.
    pub fn gauge(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
        }
    }
}

/// Reads a circuit breaker's current state (called at scrape time).
pub type BreakerProbe = Box<dyn Fn() -> CircuitState + Send + Sync>;

/// Every metric the server exports, in one registry.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    jobs: Family<Labels, Gauge>,
    job_outcomes: Family<Labels, Counter>,
    job_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    fly_calls: Family<Labels, Counter>,
    fly_call_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    breakers: Family<Labels, Gauge>,
    breaker_probes: Mutex<Vec<(String, BreakerProbe)>>,
    event_streams: Gauge,
    event_stream_tenants: Gauge,
    /// The reconciler's figures (read from the database on its every tick) and its actions.
    reconcile: Family<Labels, Gauge>,
    drift_actions: Family<Labels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let jobs = Family::<Labels, Gauge>::default();
        let job_outcomes = Family::<Labels, Counter>::default();
        let job_seconds =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let fly_calls = Family::<Labels, Counter>::default();
        let fly_call_seconds =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let breakers = Family::<Labels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            request_seconds.clone(),
        );
        registry.register(
            "jobs",
            "Background jobs by state (queued, running, retrying, dead)",
            jobs.clone(),
        );
        registry.register(
            "job_outcomes",
            "Finished job attempts by kind and outcome",
            job_outcomes.clone(),
        );
        registry.register(
            "job_attempt_duration_seconds",
            "Duration of job attempts by kind",
            job_seconds.clone(),
        );
        registry.register(
            "fly_calls",
            "Calls to Fly and the registry by operation and outcome",
            fly_calls.clone(),
        );
        registry.register(
            "fly_call_duration_seconds",
            "Latency of calls to Fly by operation",
            fly_call_seconds.clone(),
        );
        registry.register(
            "circuit_breaker_state",
            "Breaker per upstream: 0 closed, 1 open, 2 half-open",
            breakers.clone(),
        );
        let event_streams = Gauge::default();
        let event_stream_tenants = Gauge::default();
        registry.register(
            "event_streams_open",
            "Event streams open in this process",
            event_streams.clone(),
        );
        registry.register(
            "event_stream_tenants",
            "Tenants with at least one open event stream in this process",
            event_stream_tenants.clone(),
        );
        let reconcile = Family::<Labels, Gauge>::default();
        let drift_actions = Family::<Labels, Counter>::default();
        registry.register(
            "reconcile",
            "Reconciler figures: stuck_tenants, dead_jobs, and drift_found / drift_repaired by kind (totals in the database)",
            reconcile.clone(),
        );
        registry.register(
            "reconcile_drift_actions",
            "Drift this process's reconciler saw, by kind and outcome (found, repaired, failed)",
            drift_actions.clone(),
        );
        Self {
            reconcile,
            drift_actions,
            registry: Mutex::new(registry),
            requests,
            request_seconds,
            jobs,
            job_outcomes,
            job_seconds,
            fly_calls,
            fly_call_seconds,
            breakers,
            breaker_probes: Mutex::new(Vec::new()),
            event_streams,
            event_stream_tenants,
        }
    }

    /// Open event streams and the tenants they follow (read at scrape time).
    pub fn set_event_streams(&self, streams: usize, tenants: usize) {
        self.event_streams
            .set(i64::try_from(streams).unwrap_or(i64::MAX));
        self.event_stream_tenants
            .set(i64::try_from(tenants).unwrap_or(i64::MAX));
    }

    /// One answered request. Takes the route by value: it is the request's only label allocation
    /// (the families clone labels only the first time a combination is seen).
    pub fn observe_request(
        &self,
        method: &'static str,
        route: String,
        status: u16,
        elapsed: Duration,
    ) {
        let by_route = RouteLabels { method, route };
        self.request_seconds
            .get_or_create(&by_route)
            .observe(elapsed.as_secs_f64());
        let labels = RequestLabels {
            method,
            route: by_route.route,
            status,
        };
        self.requests.get_or_create(&labels).inc();
    }

    pub fn set_queue_stats(&self, stats: QueueStats) {
        for (state, value) in [
            ("queued", stats.queued),
            ("running", stats.running),
            ("retrying", stats.retrying),
            ("dead", stats.dead),
        ] {
            self.jobs
                .get_or_create(&vec![("state", state.to_owned())])
                .set(value);
        }
    }

    /// The reconciler's database figures: stuck tenants, dead jobs, drift found and repaired by kind.
    pub fn set_reconcile_stats(&self, stats: &mgmt_domain::ReconcileStats) {
        let figure = |name: &str| vec![("figure", name.to_owned())];
        self.reconcile
            .get_or_create(&figure("stuck_tenants"))
            .set(stats.stuck_tenants);
        self.reconcile
            .get_or_create(&figure("dead_jobs"))
            .set(stats.dead_jobs);
        for (name, list) in [
            ("drift_found", &stats.found),
            ("drift_repaired", &stats.repaired),
        ] {
            for (kind, n) in list {
                let mut labels = figure(name);
                labels.push(("kind", kind.as_str().to_owned()));
                self.reconcile.get_or_create(&labels).set(*n);
            }
        }
    }

    /// One finding of this process's reconciler (`outcome`: found, repaired, failed).
    pub fn record_drift(&self, kind: &str, outcome: &str) {
        self.drift_actions
            .get_or_create(&vec![
                ("kind", kind.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
    }

    /// One finished job attempt (`outcome`: succeeded, retried, failed, dead, interrupted).
    pub fn record_job_outcome(&self, kind: &str, outcome: &str, elapsed: Duration) {
        let kind_label = vec![("kind", kind.to_owned())];
        self.job_seconds
            .get_or_create(&kind_label)
            .observe(elapsed.as_secs_f64());
        let mut labels = kind_label;
        labels.push(("outcome", outcome.to_owned()));
        self.job_outcomes.get_or_create(&labels).inc();
    }

    pub fn record_fly_call(&self, operation: &str, outcome: &str, elapsed: Duration) {
        let op = vec![("operation", operation.to_owned())];
        self.fly_call_seconds
            .get_or_create(&op)
            .observe(elapsed.as_secs_f64());
        let mut labels = op;
        labels.push(("outcome", outcome.to_owned()));
        self.fly_calls.get_or_create(&labels).inc();
    }

    pub fn set_breaker_state(&self, upstream: &str, state: CircuitState) {
        self.breakers
            .get_or_create(&vec![("upstream", upstream.to_owned())])
            .set(state.gauge());
    }

    /// Reports `upstream`'s breaker state on every scrape.
    pub fn add_breaker_probe(&self, upstream: impl Into<String>, probe: BreakerProbe) {
        self.breaker_probes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((upstream.into(), probe));
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> String {
        for (upstream, probe) in self
            .breaker_probes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            self.set_breaker_state(upstream, probe());
        }
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }
}

/// `GET /metrics`: Prometheus text format. Only on the private listener.
pub async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    let stats = match &state.queue_figures {
        Some(figures) => figures.queue_stats().await,
        None => state.repos.jobs.stats().await.map_err(BoxError::from),
    };
    match stats {
        Ok(stats) => state.metrics.set_queue_stats(stats),
        Err(e) => {
            tracing::warn!(error = %ErrorChain(e.as_ref()), "queue stats unavailable for metrics")
        }
    }
    state
        .metrics
        .set_event_streams(state.limits.open_streams(), state.events_hub.open_topics());
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}

/// The private metrics app: `GET /metrics`, everything else 404 with the error body.
pub fn configure_private(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state))
            .route("/metrics", web::get().to(scrape))
            .default_service(web::to(crate::input::not_found));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_reconcilers_figures() {
        let m = Metrics::new();
        m.set_reconcile_stats(&mgmt_domain::ReconcileStats {
            stuck_tenants: 2,
            dead_jobs: 1,
            found: vec![(mgmt_domain::DriftKind::OrphanApp, 3)],
            repaired: vec![(mgmt_domain::DriftKind::OrphanApp, 2)],
        });
        m.record_drift("orphan_app", "repaired");
        let out = m.render();
        for line in [
            r#"reconcile{figure="stuck_tenants"} 2"#,
            r#"reconcile{figure="dead_jobs"} 1"#,
            r#"reconcile{figure="drift_found",kind="orphan_app"} 3"#,
            r#"reconcile{figure="drift_repaired",kind="orphan_app"} 2"#,
            r#"reconcile_drift_actions_total{kind="orphan_app",outcome="repaired"} 1"#,
        ] {
            assert!(out.contains(line), "{line} missing from:\n{out}");
        }
    }

    #[test]
    fn renders_every_family_with_labels() {
        let m = Metrics::new();
        m.observe_request(
            "GET",
            "/api/v1/tenants/{id}/status".to_owned(),
            200,
            Duration::from_millis(2),
        );
        m.observe_request(
            method_label(&actix_web::http::Method::GET),
            "/api/v1/tenants/{id}/status".to_owned(),
            200,
            Duration::from_millis(3),
        );
        m.set_queue_stats(QueueStats {
            queued: 3,
            running: 1,
            dead: 2,
            retrying: 1,
        });
        m.record_fly_call("create_app", "ok", Duration::from_millis(30));
        m.record_job_outcome("provision", "retried", Duration::from_millis(40));
        m.record_job_outcome("cleanup", "dead", Duration::from_secs(1));
        m.add_breaker_probe("machines", Box::new(|| CircuitState::HalfOpen));
        m.record_fly_call("registry.resolve", "transient", Duration::from_millis(3));
        let text = m.render();
        for needle in [
            r#"http_requests_total{method="GET",route="/api/v1/tenants/{id}/status",status="200"} 2"#,
            r#"http_request_duration_seconds_count{method="GET",route="/api/v1/tenants/{id}/status"} 2"#,
            r#"jobs{state="queued"} 3"#,
            r#"jobs{state="dead"} 2"#,
            r#"fly_calls_total{operation="create_app",outcome="ok"} 1"#,
            r#"job_outcomes_total{kind="provision",outcome="retried"} 1"#,
            r#"job_outcomes_total{kind="cleanup",outcome="dead"} 1"#,
            r#"job_attempt_duration_seconds_count{kind="provision"} 1"#,
            r#"circuit_breaker_state{upstream="machines"} 2"#,
            r#"fly_calls_total{operation="registry.resolve",outcome="transient"} 1"#,
            "http_request_duration_seconds_bucket",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
