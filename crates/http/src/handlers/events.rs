//! `GET /tenants/{id}/events`: the tenant's provisioning as server-sent events, shaped for the CLI's wait.
//!
//! The CLI (§5.1 of the contract) reads one stream for at most 30 s, never reconnects, and stops at
//! `tenant_ready` or `provisioning_failed`. So the stream opens with the tenant's *current* state (a tenant
//! that is already ready gets `tenant_ready` at once and the stream closes), then follows the log and
//! closes right after a terminal event. Only the CLI's event vocabulary is sent (it warns about any other
//! type). Following is polling the event repository: every replica sees the same log without a broker.
//! Idle streams carry comment heartbeats. A client that sends `Last-Event-ID` gets the log after it
//! instead of the opening snapshot.

use actix_web::{HttpRequest, Responder, web};
use actix_web_lab::sse;
use mgmt_domain::{CliStatus, EventType, Tenant, TenantEvent, TenantId, TenantState};
use tokio::sync::mpsc;

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::input::tenant_id;
use crate::state::AppState;
use crate::wire::EventData;

const PAGE: i64 = 200;

#[utoipa::path(get, path = "/api/v1/tenants/{id}/events", tag = "tenants", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, content_type = "text/event-stream",
        description = "`event: provisioning` messages whose data is an EventData: the current state first, \
            then new events; the stream ends after `tenant_ready` or `provisioning_failed`", body = EventData),
        (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn stream(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<impl Responder> {
    let id = tenant_id(&req)?;
    let tenant = state
        .repos
        .tenants
        .get_for_customer(id, caller.customer.id)
        .await?;
    let resume_after = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let (tx, rx) = mpsc::channel(32);
    let heartbeat = state.settings.event_heartbeat;
    actix_web::rt::spawn(follow(state.into_inner(), tenant, resume_after, tx));
    Ok(sse::Sse::from_infallible_receiver(rx).with_keep_alive(heartbeat))
}

/// Where a tenant's wait ends, as the CLI sees it.
fn terminal(tenant: &Tenant) -> Option<EventType> {
    match (tenant.state, tenant.cli_status()) {
        (TenantState::Deleting | TenantState::Deleted, _) => Some(EventType::ProvisioningFailed),
        (_, CliStatus::Ready) => Some(EventType::TenantReady),
        (_, CliStatus::Failed) => Some(EventType::ProvisioningFailed),
        (_, CliStatus::InProgress(_)) => None,
    }
}

fn is_terminal(kind: EventType) -> bool {
    matches!(kind, EventType::TenantReady | EventType::ProvisioningFailed)
}

/// The event that says where the tenant is now, when the log has none to say it.
fn synthesized(tenant: &Tenant, kind: EventType) -> EventData {
    let message = match tenant.state {
        TenantState::Deleting | TenantState::Deleted => {
            Some(format!("the tenant is {}", tenant.state))
        }
        _ => tenant.status_message.clone(),
    };
    EventData {
        tenant_id: tenant.id.to_string(),
        event_type: kind,
        status: tenant.cli_status().as_str().to_owned(),
        message,
        app_url: Some(tenant.app_url()),
        fly_app_name: Some(tenant.fly_app_name.clone()),
    }
}

/// Why the stream stopped early.
enum Stop {
    ClientGone,
    Storage,
}

/// Sends the opening snapshot (unless resuming), then new events until a terminal one or the client
/// goes away.
async fn follow(
    state: std::sync::Arc<AppState>,
    tenant: Tenant,
    resume_after: Option<i64>,
    tx: mpsc::Sender<sse::Event>,
) {
    let id = tenant.id;
    let outcome = async {
        let mut after = match resume_after {
            Some(after) => after,
            None => match open(&state, &tenant, &tx).await? {
                Some(after) => after,
                None => return Ok(()),
            },
        };
        let poll = state.settings.event_poll_interval;
        loop {
            // The state is read before the events: if it is terminal, every event leading to it is stored
            // (a state change and its event are written in one transaction), so the terminal event is
            // among those read next, or the log never had one and it is synthesized.
            let now = reload(&state, id).await?;
            if send_new(&state, &now, &mut after, &tx).await? {
                return Ok(());
            }
            if let Some(kind) = terminal(&now) {
                send(&tx, sse::Data::new_json(synthesized(&now, kind))).await?;
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = tx.closed() => return Err(Stop::ClientGone),
            }
        }
    }
    .await;
    match outcome {
        Ok(()) => tracing::debug!(tenant_id = %id, "events stream finished"),
        Err(Stop::ClientGone) => tracing::debug!(tenant_id = %id, "events client went away"),
        Err(Stop::Storage) => {}
    }
}

/// The opening snapshot: a terminal event for a settled tenant (`None`: the stream is done), else the
/// latest progress event; returns the log position to follow from.
async fn open(
    state: &AppState,
    tenant: &Tenant,
    tx: &mpsc::Sender<sse::Event>,
) -> Result<Option<i64>, Stop> {
    let latest = state
        .repos
        .events
        .latest(tenant.id)
        .await
        .map_err(|e| storage_failed(tenant.id, e))?;
    if let Some(kind) = terminal(tenant) {
        // The log's own terminal event when it is the latest (its message says what happened), else one
        // made from the tenant.
        let data = match &latest {
            Some(ev) if ev.event_type == kind => EventData::new(ev, tenant),
            _ => synthesized(tenant, kind),
        };
        send(tx, sse::Data::new_json(data)).await?;
        return Ok(None);
    }
    let after = latest.as_ref().map_or(0, |ev| ev.id);
    let data = match latest {
        Some(ev) if ev.event_type.is_cli_event() => event_data(&ev, tenant),
        _ => sse::Data::new_json(synthesized(tenant, EventType::VmProvisioningProgress))
            .map(|d| d.event("provisioning")),
    };
    send(tx, data).await?;
    Ok(Some(after))
}

async fn reload(state: &AppState, id: TenantId) -> Result<Tenant, Stop> {
    state
        .repos
        .tenants
        .get(id)
        .await
        .map_err(|e| storage_failed(id, e))
}

fn storage_failed(id: TenantId, e: impl std::fmt::Display) -> Stop {
    tracing::warn!(tenant_id = %id, error = %e, "events stream stopped: storage error");
    Stop::Storage
}

/// Sends the CLI's events after `after`; `Ok(true)` once a terminal one was sent.
async fn send_new(
    state: &AppState,
    tenant: &Tenant,
    after: &mut i64,
    tx: &mpsc::Sender<sse::Event>,
) -> Result<bool, Stop> {
    loop {
        let events = state
            .repos
            .events
            .list_after(tenant.id, *after, PAGE)
            .await
            .map_err(|e| storage_failed(tenant.id, e))?;
        let full_page = events.len() as i64 == PAGE;
        for event in events {
            *after = event.id;
            if !event.event_type.is_cli_event() {
                continue;
            }
            send(tx, event_data(&event, tenant)).await?;
            if is_terminal(event.event_type) {
                return Ok(true);
            }
        }
        if !full_page {
            return Ok(false);
        }
    }
}

/// A logged event as `event: provisioning` with its log id.
fn event_data(event: &TenantEvent, tenant: &Tenant) -> Result<sse::Data, serde_json::Error> {
    sse::Data::new_json(EventData::new(event, tenant))
        .map(|d| d.event("provisioning").id(event.id.to_string()))
}

async fn send(
    tx: &mpsc::Sender<sse::Event>,
    data: Result<sse::Data, serde_json::Error>,
) -> Result<(), Stop> {
    let data = match data {
        Ok(d) => d,
        // Our own struct always serializes; were it ever not to, the client would only miss one event.
        Err(e) => {
            tracing::error!(error = %e, "event not serializable");
            return Ok(());
        }
    };
    // Every event the CLI reads is named `provisioning` (§5.1 also accepts unnamed, §5.2 only this name).
    let data = data.event("provisioning");
    tx.send(data.into()).await.map_err(|_| Stop::ClientGone)
}
