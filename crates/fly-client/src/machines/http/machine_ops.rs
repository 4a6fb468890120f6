//! Machines: creation made safe to repeat (lookup by metadata after an ambiguous failure), listing
//! by metadata, `wait` split into Fly's 60 s slices, and leases.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::HttpFlyMachines;
use super::transport::{Req, decode};
use crate::error::{FlyError, FlyResult};
use crate::machines::models::{CreateMachineRequest, Lease, Machine, MachineState};
use crate::resilience::guard::RetryMode;

/// Fly's cap on one `wait` call.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Extra time a `wait` request gets beyond its server-side timeout before we give up on it.
const WAIT_MARGIN: Duration = Duration::from_secs(10);

impl HttpFlyMachines {
    /// A create answered 408/5xx/timeout may have created the machine. Before each retry the app's
    /// machines are listed by the request's metadata (filtered on the first entry, in key order, and
    /// matched on all entries); a match is returned instead of creating a second machine. Without
    /// metadata there is nothing to look up by, so an ambiguous failure is returned as is.
    pub(super) async fn do_create_machine(
        &self,
        app: &str,
        req: &CreateMachineRequest,
        lease: Option<&str>,
    ) -> FlyResult<Machine> {
        let body = serde_json::to_value(req).map_err(|e| FlyError::Decode(e.to_string()))?;
        let http_req = Req::post(&["apps", app, "machines"], body).lease(lease);
        let metadata = &req.config.metadata;
        let mut backoff = self.api.guard.retry.backoff();
        loop {
            let failure = match self
                .api
                .guard
                .attempt("create_machine", self.api.once(&http_req))
                .await
            {
                Ok(bytes) => return decode(&bytes),
                Err(f) => f,
            };
            let ambiguous = matches!(failure.error, FlyError::Transient(_)) && !failure.not_sent;
            let mode = if ambiguous && !metadata.is_empty() {
                RetryMode::Idempotent
            } else {
                RetryMode::NotActedOn
            };
            let Some(delay) = self.api.guard.next_delay(&failure, mode, &mut backoff) else {
                return Err(failure.error);
            };
            tokio::time::sleep(delay).await;
            if ambiguous {
                let (key, value) = metadata.iter().next().expect("checked non-empty above");
                let found = match self.do_list_machines(app, Some((key, value))).await {
                    Ok(found) => found,
                    // Cannot tell whether the first create worked: creating again could duplicate it.
                    Err(_) => return Err(failure.error),
                };
                let matching = found.into_iter().find(|m| {
                    let have = m.config.as_ref().map(|c| &c.metadata);
                    metadata
                        .iter()
                        .all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v))
                });
                if let Some(machine) = matching {
                    tracing::info!(app, machine = %machine.id, "ambiguous machine create resolved by metadata lookup");
                    return Ok(machine);
                }
            }
        }
    }

    /// `GET /apps/{app}/machines?metadata.{key}={value}`, also filtered here in case the server
    /// ignores the filter.
    pub(super) async fn do_list_machines(
        &self,
        app: &str,
        metadata: Option<(&str, &str)>,
    ) -> FlyResult<Vec<Machine>> {
        let mut req = Req::get(&["apps", app, "machines"]);
        if let Some((k, v)) = metadata {
            req = req.query(&format!("metadata.{k}"), v);
        }
        let machines: Vec<Machine> = self
            .api
            .json("list_machines", RetryMode::Idempotent, &req)
            .await?;
        Ok(match metadata {
            None => machines,
            Some((k, v)) => machines
                .into_iter()
                .filter(|m| {
                    m.config
                        .as_ref()
                        .and_then(|c| c.metadata.get(k))
                        .map(String::as_str)
                        == Some(v)
                })
                .collect(),
        })
    }

    /// Calls `wait` in slices of at most 60 s until the state is reached or `timeout` passes.
    pub(super) async fn do_wait_machine(
        &self,
        app: &str,
        id: &str,
        state: MachineState,
        instance_id: Option<&str>,
        timeout: Duration,
    ) -> FlyResult<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // Fly takes whole seconds, at least 1.
            let slice = (left.min(MAX_WAIT).as_millis().div_ceil(1000) as u64).max(1);
            let mut req = Req::get(&["apps", app, "machines", id, "wait"])
                .query("state", state.as_str())
                .query("timeout", slice.to_string())
                .timeout(Duration::from_secs(slice) + WAIT_MARGIN);
            if let Some(instance) = instance_id {
                // `instance_id` is what the docs' samples send; the spec names it `version` now.
                req = req
                    .query("instance_id", instance)
                    .query("version", instance);
            }
            // A 408 is Fly saying "not yet" (the upstream is healthy): it neither counts for the
            // breaker nor uses up retries, the next slice just starts.
            let reached = self
                .api
                .guard
                .run("wait_machine", RetryMode::Idempotent, || async {
                    match self.api.once(&req).await {
                        Ok(_) => Ok(true),
                        Err(f) if f.status == Some(408) => Ok(false),
                        Err(f) => Err(f),
                    }
                });
            let slice_started = Instant::now();
            if reached.await? {
                return Ok(());
            }
            // Fly answers 408 only after the slice; an early 408 must not turn into a busy loop.
            if slice_started.elapsed() < Duration::from_millis(500) {
                tokio::time::sleep(
                    Duration::from_millis(250)
                        .min(deadline.saturating_duration_since(Instant::now())),
                )
                .await;
            }
            if Instant::now() >= deadline {
                return Err(FlyError::Transient(format!(
                    "machine {id} did not reach {} within {timeout:?}",
                    state.as_str()
                )));
            }
        }
    }

    pub(super) async fn do_acquire_lease(
        &self,
        app: &str,
        id: &str,
        ttl: Duration,
        description: &str,
    ) -> FlyResult<Lease> {
        let body = json!({ "ttl": ttl.as_secs().max(1), "description": description });
        let req = Req::post(&["apps", app, "machines", id, "lease"], body);
        // A repeated acquire after a lost answer would find our own lease held (409): not retried
        // unless the request certainly never arrived.
        let wrapped: LeaseEnvelope = self
            .api
            .json("acquire_lease", RetryMode::NotActedOn, &req)
            .await?;
        Ok(wrapped.data)
    }
}

impl HttpFlyMachines {
    pub(super) async fn do_get_lease(&self, app: &str, id: &str) -> FlyResult<Option<Lease>> {
        let req = Req::get(&["apps", app, "machines", id, "lease"]);
        match self
            .api
            .json::<LeaseEnvelope>("get_lease", RetryMode::Idempotent, &req)
            .await
        {
            Ok(wrapped) => Ok(Some(wrapped.data)),
            // 404: no lease (or no machine, which the caller's next call reports as such).
            Err(FlyError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Lease answers are wrapped: `{"status": "success", "data": {...}}`.
#[derive(Debug, Deserialize)]
struct LeaseEnvelope {
    data: Lease,
}
