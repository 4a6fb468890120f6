//! `GET /tenants/{id}/events`: the tenant's provisioning as server-sent events, shaped for the CLI's wait,
//! and [`follow_tenant`], the machinery every tenant-following stream (the checkout stream too) uses.
//!
//! The CLI (§5.1 of the contract) reads one stream for at most 30 s, never reconnects, and stops at
//! `tenant_ready` or `provisioning_failed`. So the stream opens with the tenant's *current* state (a tenant
//! that is already ready gets `tenant_ready` at once and the stream closes), then follows the log and
//! closes right after a terminal event. Only the CLI's event vocabulary is sent (it warns about any other
//! type). Idle streams carry comment heartbeats. A client that sends `Last-Event-ID` gets the log after it
//! instead of the opening snapshot.
//!
//! Following is not polling: the stream subscribes to the process's [`EventsHub`], which reads the tenant
//! once per committed change (the database notifies it) and hands the result to every stream of that
//! tenant. An idle stream costs no query. Each stream holds a [`StreamSlot`] of the per-customer and
//! per-process limits, freed the moment its task ends; the task ends as soon as the client goes (the
//! response body, and with it the channel's receiver, is dropped; see the server's
//! `h1_allow_half_closed(false)`), not at the next heartbeat.

use actix_web::{HttpRequest, Responder, web};
use actix_web_lab::sse;
use mgmt_domain::{CliStatus, EventType, Repositories, Tenant, TenantEvent, TenantState};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::fanout::{EventsHub, Update};
use crate::input::tenant_id;
use crate::limits::StreamSlot;
use crate::state::AppState;
use crate::wire::EventData;

/// Events a stream may have waiting for its client before the task waits for the client to read.
const SSE_BUFFER: usize = 32;

#[utoipa::path(get, path = "/api/v1/tenants/{id}/events", tag = "tenants", security(("bearer" = [])),
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, content_type = "text/event-stream",
        description = "`event: provisioning` messages whose data is an EventData: the current state first, \
            then new events; the stream ends after `tenant_ready` or `provisioning_failed`", body = EventData),
        (status = 404, body = ErrorBody),
        (status = 429, description = "too many streams or requests for this account (`Retry-After`)", body = ErrorBody),
        (status = 503, description = "this server serves as many streams as it may (`Retry-After`)", body = ErrorBody)))]
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
    let slot = state.limits.open_stream(caller.customer.id)?;
    let resume_after = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let rx = start_following(&state, tenant, resume_after, TenantView, slot);
    Ok(sse::Sse::from_infallible_receiver(rx).with_keep_alive(state.settings.event_heartbeat))
}

/// Starts [`follow_tenant`] on its own task and returns the receiver to answer with (`Sse::
/// from_infallible_receiver`); `slot` is held until the stream ends.
pub fn start_following<V: StreamView>(
    state: &AppState,
    tenant: Tenant,
    resume_after: Option<i64>,
    view: V,
    slot: StreamSlot,
) -> mpsc::Receiver<sse::Event> {
    let (tx, rx) = mpsc::channel(SSE_BUFFER);
    actix_web::rt::spawn(follow_tenant(
        state.events_hub.clone(),
        state.repos.clone(),
        tenant,
        resume_after,
        view,
        tx,
        slot,
    ));
    rx
}

/// How a stream shows a tenant's progress. The tenant stream ([`TenantView`]) and the checkout stream
/// differ only in this; [`follow_tenant`] does the rest.
pub trait StreamView: Send + Sync + 'static {
    /// The opening message. `latest` is the tenant's latest logged event. `done`: the message ends the
    /// stream (the tenant is settled).
    fn opening(&self, tenant: &Tenant, latest: Option<&TenantEvent>) -> Opening;
    /// A logged event as a message (`None`: not shown to this client) and whether it ends the stream.
    fn event(&self, tenant: &Tenant, event: &TenantEvent) -> Option<(sse::Data, bool)>;
    /// When the tenant is settled but no event said so: the closing message (`None`: not settled).
    fn closing(&self, tenant: &Tenant) -> Option<sse::Data>;
}

/// The first message of a stream.
#[derive(Debug)]
pub struct Opening {
    pub message: Option<sse::Data>,
    /// The stream ends after it.
    pub done: bool,
}

/// Why a stream stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Finished,
    ClientGone,
    /// The hub dropped it (the client did not keep up) or the tenant read failed.
    Dropped,
    Storage,
}

/// Sends the opening snapshot (unless resuming after `resume_after`), then the tenant's changes as the
/// hub delivers them, until a terminal message, the client going away, or the hub dropping it.
pub async fn follow_tenant<V: StreamView>(
    hub: EventsHub,
    repos: Repositories,
    tenant: Tenant,
    resume_after: Option<i64>,
    view: V,
    tx: mpsc::Sender<sse::Event>,
    slot: StreamSlot,
) {
    let id = tenant.id;
    let outcome = follow(&hub, &repos, tenant, resume_after, &view, &tx).await;
    // The slot is released here, at once, whatever ended the stream.
    drop(slot);
    match outcome {
        Stop::Finished => tracing::debug!(tenant_id = %id, "events stream finished"),
        Stop::ClientGone => tracing::debug!(tenant_id = %id, "events client went away"),
        Stop::Dropped => tracing::debug!(tenant_id = %id, "events stream dropped"),
        Stop::Storage => {}
    }
}

async fn follow<V: StreamView>(
    hub: &EventsHub,
    repos: &Repositories,
    tenant: Tenant,
    resume_after: Option<i64>,
    view: &V,
    tx: &mpsc::Sender<sse::Event>,
) -> Stop {
    let id = tenant.id;
    let mut cursor = match resume_after {
        Some(after) => after,
        None => {
            let latest = match repos.events.latest(id).await {
                Ok(latest) => latest,
                Err(e) => {
                    tracing::warn!(tenant_id = %id, error = %e, "events stream stopped: storage error");
                    return Stop::Storage;
                }
            };
            let opening = view.opening(&tenant, latest.as_ref());
            if let Some(message) = opening.message
                && !send(tx, message).await
            {
                return Stop::ClientGone;
            }
            if opening.done {
                return Stop::Finished;
            }
            latest.map_or(0, |ev| ev.id)
        }
    };
    // Subscribed after the opening read: the hub reads once on subscription, so whatever committed in
    // between is delivered.
    let mut subscription = hub.subscribe(id, cursor);
    loop {
        let update = tokio::select! {
            update = subscription.recv() => match update {
                Some(update) => update,
                None => return Stop::Dropped,
            },
            // The client went away (actix dropped the body and with it the receiver).
            () = tx.closed() => return Stop::ClientGone,
        };
        let (tenant, events) = match update.as_ref() {
            Update::Changed { tenant, events } => (tenant, events),
            Update::Failed => return Stop::Dropped,
        };
        let from = cursor;
        for event in events.iter().filter(|e| e.id > from) {
            cursor = event.id;
            if let Some((message, terminal)) = view.event(tenant, event) {
                if !send(tx, message).await {
                    return Stop::ClientGone;
                }
                if terminal {
                    return Stop::Finished;
                }
            }
        }
        if let Some(message) = view.closing(tenant) {
            let _ = send(tx, message).await;
            return Stop::Finished;
        }
    }
}

/// `false` when the client is gone. Waits while the client's buffer is full: the hub meanwhile drops
/// this stream if it falls behind, so nothing piles up.
async fn send(tx: &mpsc::Sender<sse::Event>, message: sse::Data) -> bool {
    tx.send(message.into()).await.is_ok()
}

/// `data` as a JSON message named `provisioning` (every event the CLI reads is named so: §5.1 also
/// accepts unnamed, §5.2 only this name).
pub fn provisioning_message(data: &impl Serialize) -> Option<sse::Data> {
    match sse::Data::new_json(data) {
        Ok(d) => Some(d.event("provisioning")),
        // Our own structs always serialize; were one ever not to, the client would miss one message.
        Err(e) => {
            tracing::error!(error = %e, "event not serializable");
            None
        }
    }
}

/// The tenant stream of §5.1.
#[derive(Debug, Clone, Copy)]
pub struct TenantView;

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
pub fn synthesized(tenant: &Tenant, kind: EventType) -> EventData {
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

/// A logged event as `event: provisioning` with its log id.
fn event_message(event: &TenantEvent, tenant: &Tenant) -> Option<sse::Data> {
    provisioning_message(&EventData::new(event, tenant)).map(|d| d.id(event.id.to_string()))
}

impl StreamView for TenantView {
    fn opening(&self, tenant: &Tenant, latest: Option<&TenantEvent>) -> Opening {
        if let Some(kind) = terminal(tenant) {
            // The log's own terminal event when it is the latest (its message says what happened), else
            // one made from the tenant.
            let message = match latest {
                Some(ev) if ev.event_type == kind => {
                    provisioning_message(&EventData::new(ev, tenant))
                }
                _ => provisioning_message(&synthesized(tenant, kind)),
            };
            return Opening {
                message,
                done: true,
            };
        }
        let message = match latest {
            Some(ev) if ev.event_type.is_cli_event() => event_message(ev, tenant),
            _ => provisioning_message(&synthesized(tenant, EventType::VmProvisioningProgress)),
        };
        Opening {
            message,
            done: false,
        }
    }

    fn event(&self, tenant: &Tenant, event: &TenantEvent) -> Option<(sse::Data, bool)> {
        if !event.event_type.is_cli_event() {
            return None;
        }
        event_message(event, tenant).map(|m| (m, is_terminal(event.event_type)))
    }

    fn closing(&self, tenant: &Tenant) -> Option<sse::Data> {
        terminal(tenant).and_then(|kind| provisioning_message(&synthesized(tenant, kind)))
    }
}
