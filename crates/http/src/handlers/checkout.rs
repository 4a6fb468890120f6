//! Signup as the CLI does it (contract §3.9, §5.2, §6.3): the plans, `POST /checkout`, the checkout
//! stream, and the browser pages: the free plan's confirmation page and Paddle's success return.
//!
//! The checkout stream follows the session until its tenant exists (heartbeats only before: a
//! `CheckoutEvent` needs a `tenant_id`), then the tenant, and ends after `infrastructure_ready` (phase
//! 1 done: the CLI runs the initial deploy itself), `tenant_ready` (an image runs already) or
//! `provisioning_failed`. It polls the repositories like the tenant stream does, so every replica can
//! serve it; the CLI gives it 30 s from connecting.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, Responder, web};
use actix_web_lab::sse;
use mgmt_domain::{
    CheckoutSession, CheckoutStatus, CliStatus, EventType, Tenant, TenantState,
    is_checkout_session_id,
};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;
use crate::wire::{CheckoutEventData, CheckoutRequest, CheckoutResponse, PlanWire};

/// The plans on sale: a bare array (the CLI aborts on an empty one).
#[utoipa::path(get, path = "/api/v1/checkout/plans", tag = "checkout", security(("bearer" = [])),
    responses((status = 200, body = Vec<PlanWire>), (status = 401, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn plans(state: web::Data<AppState>, _caller: Caller) -> ApiResult<HttpResponse> {
    let offers = state.repos.checkout.offers().await?;
    let body: Vec<PlanWire> = offers.iter().map(PlanWire::from).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// Opens a checkout: for the free plan `checkout_url` is our confirmation page, for a paid plan
/// Paddle's payment link. Errors: 422 `invalid_input` (unknown price, region, a redirect that is not
/// the CLI's loopback callback), 403 `quota_exceeded`, 503 `billing_disabled` / `upstream_unavailable`.
#[utoipa::path(post, path = "/api/v1/checkout", tag = "checkout", security(("bearer" = [])),
    request_body = CheckoutRequest,
    responses((status = 200, body = CheckoutResponse), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn start(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CheckoutRequest>,
) -> ApiResult<HttpResponse> {
    let customer = caller.require_active()?;
    let body = body.into_inner();
    let started = state
        .signup()?
        .start_checkout(customer, &body.price_id, &body.region, &body.redirect_uri)
        .await?;
    Ok(HttpResponse::Ok().json(CheckoutResponse {
        checkout_url: started.checkout_url,
        transaction_id: started.transaction_id,
        checkout_session_id: started.checkout_session_id,
    }))
}

fn session_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "checkout_session_not_found",
        "checkout session not found",
    )
}

fn session_id(req: &HttpRequest) -> Result<String, ApiError> {
    let id = req.match_info().get("session").unwrap_or_default();
    if is_checkout_session_id(id) {
        Ok(id.to_owned())
    } else {
        Err(session_not_found())
    }
}

async fn load(state: &AppState, id: &str) -> Result<CheckoutSession, ApiError> {
    state.repos.checkout.get(id).await.map_err(|e| {
        if e.is_not_found() {
            session_not_found()
        } else {
            e.into()
        }
    })
}

#[utoipa::path(get, path = "/api/v1/checkout/{session}/events", tag = "checkout",
    security(("bearer" = [])),
    params(("session" = String, Path, description = "checkout session id (from the browser callback)")),
    responses((status = 200, content_type = "text/event-stream",
        description = "`event: provisioning` messages whose data is a CheckoutEventData; heartbeats until \
            the tenant exists, then its state; ends after `infrastructure_ready`, `tenant_ready` or \
            `provisioning_failed`", body = CheckoutEventData),
        (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn events(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<impl Responder> {
    let id = session_id(&req)?;
    let session = load(&state, &id).await?;
    if session.customer_id != caller.customer.id {
        return Err(session_not_found());
    }
    let slot = state.limits.open_stream(caller.customer.id)?;
    let (tx, rx) = mpsc::channel(16);
    let heartbeat = state.settings.event_heartbeat;
    actix_web::rt::spawn(follow(state.into_inner(), session, tx, slot));
    Ok(sse::Sse::from_infallible_receiver(rx).with_keep_alive(heartbeat))
}

/// Where the CLI's checkout wait ends for this tenant, if it does now.
fn terminal(tenant: &Tenant) -> Option<EventType> {
    match (tenant.state, tenant.cli_status()) {
        (TenantState::Deleting | TenantState::Deleted, _) => Some(EventType::ProvisioningFailed),
        (TenantState::Running, _) => Some(EventType::TenantReady),
        (_, CliStatus::Failed) if !tenant.infrastructure_ready() => {
            Some(EventType::ProvisioningFailed)
        }
        _ if tenant.infrastructure_ready() => Some(EventType::InfrastructureReady),
        _ => None,
    }
}

fn event(session: &CheckoutSession, tenant: Option<&Tenant>, kind: EventType) -> sse::Event {
    let data = CheckoutEventData {
        checkout_session_id: session.id.clone(),
        tenant_id: tenant.map(|t| t.id.to_string()).unwrap_or_default(),
        tenant_name: tenant
            .map(|t| t.name.clone())
            .unwrap_or_else(|| session.tenant_name.clone()),
        event_type: kind,
        status: tenant
            .map_or("failed", |t| t.cli_status().as_str())
            .to_owned(),
        message: match tenant {
            Some(t) => t.status_message.clone(),
            None => session.failure.clone(),
        },
        app_url: tenant.map(Tenant::app_url),
        fly_app_name: tenant.map(|t| t.fly_app_name.clone()),
    };
    match sse::Data::new_json(data) {
        Ok(d) => d.event("provisioning").into(),
        // Our own struct always serializes; a comment keeps the stream going were it ever not to.
        Err(e) => {
            tracing::error!(error = %e, "checkout event not serializable");
            sse::Event::Comment("unserializable event".into())
        }
    }
}

/// Sends progress while the tenant is made and provisioned; ends at a terminal event, a failed
/// session, a storage error or when the client goes away.
async fn follow(
    state: std::sync::Arc<AppState>,
    mut session: CheckoutSession,
    tx: mpsc::Sender<sse::Event>,
    slot: crate::limits::StreamSlot,
) {
    let poll = state.settings.event_poll_interval;
    loop {
        if session.status == CheckoutStatus::Failed {
            let _ = tx
                .send(event(&session, None, EventType::ProvisioningFailed))
                .await;
            return;
        }
        if let Some(tid) = session.tenant_id {
            let tenant = match state.repos.tenants.get(tid).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "checkout stream stopped: storage error");
                    return;
                }
            };
            // From here on the tenant stream's fan-out follows it (no polling; issue 19).
            crate::handlers::events::follow_tenant(
                state.events_hub.clone(),
                state.repos.clone(),
                tenant,
                None,
                CheckoutView { session },
                tx,
                slot,
            )
            .await;
            return;
        }
        // Until the session has its tenant (moments after the browser's callback) the session is
        // re-read: checkout sessions are not on the tenant notifications.
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = tx.closed() => return,
        }
        session = match state.repos.checkout.get(&session.id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "checkout stream stopped: storage error");
                return;
            }
        };
    }
}

/// The checkout stream's messages over the tenant fan-out ([`crate::handlers::events::follow_tenant`]).
struct CheckoutView {
    session: CheckoutSession,
}

impl crate::handlers::events::StreamView for CheckoutView {
    fn opening(
        &self,
        tenant: &Tenant,
        _latest: Option<&mgmt_domain::TenantEvent>,
    ) -> crate::handlers::events::Opening {
        let (kind, done) = match terminal(tenant) {
            Some(kind) => (kind, true),
            None if tenant.state == TenantState::Pending => (EventType::TenantCreated, false),
            None => (EventType::VmProvisioningProgress, false),
        };
        crate::handlers::events::Opening {
            message: checkout_data(&self.session, Some(tenant), kind),
            done,
        }
    }

    /// Progress from the log's CLI events; the end is decided by the tenant's state ([`Self::closing`]).
    fn event(
        &self,
        tenant: &Tenant,
        logged: &mgmt_domain::TenantEvent,
    ) -> Option<(sse::Data, bool)> {
        let terminal_kind = matches!(
            logged.event_type,
            EventType::TenantReady | EventType::ProvisioningFailed | EventType::InfrastructureReady
        );
        if !logged.event_type.is_cli_event() || terminal_kind {
            return None;
        }
        checkout_data(
            &self.session,
            Some(tenant),
            EventType::VmProvisioningProgress,
        )
        .map(|m| (m, false))
    }

    fn closing(&self, tenant: &Tenant) -> Option<sse::Data> {
        terminal(tenant).and_then(|kind| checkout_data(&self.session, Some(tenant), kind))
    }
}

/// [`event`] as data for the fan-out (`None` only were our struct ever not to serialize).
fn checkout_data(
    session: &CheckoutSession,
    tenant: Option<&Tenant>,
    kind: EventType,
) -> Option<sse::Data> {
    match event(session, tenant, kind) {
        sse::Event::Data(d) => Some(d),
        _ => None,
    }
}

/// Text for HTML: `&<>"'` escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page of ours: no framing, no scripts, no referrer (the URL holds the session id).
fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    page_with_form_target(status, title, body, None)
}

/// The origin (`scheme://host:port`) of a checked loopback redirect URI.
fn origin_of(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&uri[..7 + end])
}

/// [`page`] whose form may lead on to `redirect_origin`: browsers apply `form-action` to every
/// redirect after the submit too, so the CLI's callback (where the 303 goes) must be listed, or a
/// real browser stops at our page (found by the headless Chromium test).
fn page_with_form_target(
    status: StatusCode,
    title: &str,
    body: &str,
    redirect_origin: Option<&str>,
) -> HttpResponse {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head>\n<body>\n<main>\n<h1>{title}</h1>\n{body}\n</main>\n</body></html>\n",
        title = escape(title),
    );
    HttpResponse::build(status)
        .insert_header(ContentType::html())
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            format!(
                "default-src 'none'; form-action 'self'{}; frame-ancestors 'none'",
                redirect_origin.map(|o| format!(" {o}")).unwrap_or_default()
            ),
        ))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

/// The free plan's confirmation page (the session id in the URL is its only key).
#[utoipa::path(get, path = "/checkout/{session}", tag = "checkout",
    params(("session" = String, Path, description = "checkout session id")),
    responses((status = 200, content_type = "text/html", description = "the confirmation page"),
        (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn free_page(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let id = session_id(&req)?;
    let session = load(&state, &id).await?;
    let plan = state
        .repos
        .checkout
        .offer_for_plan(&session.plan_id)
        .await?
        .filter(|o| !o.requires_payment)
        .ok_or_else(session_not_found)?;
    if !session.is_open_at(chrono::Utc::now()) {
        let why = match session.status {
            CheckoutStatus::Open => "This checkout has expired. Run the CLI's tenant create again.",
            CheckoutStatus::Failed => "This checkout failed. Run the CLI's tenant create again.",
            _ => "This checkout was used already; your tenant is being set up.",
        };
        return Ok(page(
            StatusCode::GONE,
            "Checkout closed",
            &format!("<p>{}</p>", escape(why)),
        ));
    }
    let body = format!(
        "<p>Create your tenant <strong id=\"tenant-name\">{name}</strong> on the <strong>{plan}</strong> plan \
         ({mem} MB memory, {vol} GB volume) in region <strong>{region}</strong>. No payment is needed.</p>\n\
         <form method=\"post\" action=\"/checkout/{id}\">\n\
         <button type=\"submit\" id=\"confirm\">Create tenant</button>\n</form>",
        name = escape(&session.tenant_name),
        plan = escape(&plan.plan.name),
        mem = plan.plan.memory_mb,
        vol = plan.plan.volume_gb,
        region = escape(&session.region),
        id = escape(&session.id),
    );
    Ok(page_with_form_target(
        StatusCode::OK,
        "Confirm your free tenant",
        &body,
        origin_of(&session.redirect_uri),
    ))
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The confirmation: creates the tenant (once; a second post is refused) and sends the browser to
/// the CLI's callback with `status=pending&checkout_session_id=…`.
#[utoipa::path(post, path = "/checkout/{session}", tag = "checkout",
    params(("session" = String, Path, description = "checkout session id")),
    responses((status = 303, description = "to the CLI's callback"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 410, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn free_confirm(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let id = session_id(&req)?;
    let location = state.signup()?.confirm_free(&id).await?;
    Ok(see_other(&location))
}

#[derive(Debug, Deserialize)]
pub struct ReturnQuery {
    #[serde(rename = "_ptxn")]
    ptxn: String,
}

/// Paddle's success redirect after a payment (`?_ptxn=txn_…`): on to the CLI's callback; the
/// checkout stream then waits for the payment's webhook.
#[utoipa::path(get, path = "/checkout/return", tag = "checkout",
    params(("_ptxn" = String, Query, description = "Paddle transaction id")),
    responses((status = 303, description = "to the CLI's callback"), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn paid_return(
    state: web::Data<AppState>,
    query: web::Query<ReturnQuery>,
) -> ApiResult<HttpResponse> {
    let location = state.signup()?.paid_return(&query.ptxn).await?;
    Ok(see_other(&location))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_origin_is_allowed_as_a_form_target() {
        assert_eq!(
            origin_of("http://127.0.0.1:8766/callback"),
            Some("http://127.0.0.1:8766")
        );
        assert_eq!(origin_of("http://[::1]:9/cb?x=1"), Some("http://[::1]:9"));
        assert_eq!(origin_of("http://127.0.0.1:1"), Some("http://127.0.0.1:1"));
        assert_eq!(origin_of("https://evil.example/"), None);
        let resp = page_with_form_target(StatusCode::OK, "t", "b", Some("http://127.0.0.1:8766"));
        let csp = resp
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(
            csp,
            "default-src 'none'; form-action 'self' http://127.0.0.1:8766; frame-ancestors 'none'"
        );
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<script>\"a\"&'b'</script>"),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;"
        );
    }
}
