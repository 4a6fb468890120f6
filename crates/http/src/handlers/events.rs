//! `GET /tenants/{id}/events`: server-sent events, replaying the tenant's log and then following it.
//!
//! Following is polling the event repository (every replica sees the same log without a broker). The
//! stream ends once the tenant is in a state the CLI treats as final and every event up to it was sent;
//! idle streams carry comment heartbeats. `Last-Event-ID` resumes after a reconnect.

use std::time::Duration;

use actix_web::{HttpRequest, Responder, web};
use actix_web_lab::sse;
use mgmt_domain::{Tenant, TenantId};
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
        description = "`event: provisioning` messages whose data is an EventData", body = EventData),
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
    let after = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let (tx, rx) = mpsc::channel(32);
    let heartbeat = state.settings.event_heartbeat;
    actix_web::rt::spawn(follow(state.into_inner(), tenant, after, tx));
    Ok(sse::Sse::from_infallible_receiver(rx)
        .with_keep_alive(heartbeat)
        .with_retry_duration(Duration::from_secs(2)))
}

/// Sends events after `after` until the tenant settles or the client goes away.
async fn follow(
    state: std::sync::Arc<AppState>,
    mut tenant: Tenant,
    mut after: i64,
    tx: mpsc::Sender<sse::Event>,
) {
    let id = tenant.id;
    let poll = state.settings.event_poll_interval;
    loop {
        // Read the state before the events: if it is final, every event leading to it is already stored.
        let ends = tenant.state.ends_event_stream();
        match send_new(&state, &tenant, &mut after, &tx).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(()) => return,
        }
        if ends {
            tracing::debug!(tenant_id = %id, "events stream finished");
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = tx.closed() => return,
        }
        tenant = match reload(&state, id).await {
            Some(t) => t,
            None => return,
        };
    }
}

async fn reload(state: &AppState, id: TenantId) -> Option<Tenant> {
    match state.repos.tenants.get(id).await {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(tenant_id = %id, error = %e, "events stream stopped: tenant unreadable");
            None
        }
    }
}

/// `Ok(false)` when the client has gone; `Err` when storage failed (the stream ends; the CLI reconnects).
async fn send_new(
    state: &AppState,
    tenant: &Tenant,
    after: &mut i64,
    tx: &mpsc::Sender<sse::Event>,
) -> Result<bool, ()> {
    loop {
        let events = state.repos.events.list_after(tenant.id, *after, PAGE).await.map_err(|e| {
            tracing::warn!(tenant_id = %tenant.id, error = %e, "events stream stopped: storage error");
        })?;
        let full_page = events.len() as i64 == PAGE;
        for event in events {
            *after = event.id;
            let data = match sse::Data::new_json(EventData::new(&event, tenant)) {
                Ok(d) => d.event("provisioning").id(event.id.to_string()),
                Err(_) => continue,
            };
            if tx.send(data.into()).await.is_err() {
                return Ok(false);
            }
        }
        if !full_page {
            return Ok(true);
        }
    }
}
