//! The mock's own routes under `/__mock/`: seed and inspect subscriptions, inject faults, read the
//! request log. No API key is needed; faults never apply.

use actix_web::HttpResponse;
use actix_web::http::Method;
use serde_json::json;

use crate::faults::Fault;
use crate::server::Shared;
use crate::state::SeedSubscription;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Control {
    SeedSubscription,
    ShowSubscription(String),
    InjectFault,
    ClearFaults,
    Requests,
    /// `{"url", "secret"}`: the notification destination.
    Webhooks,
    /// `{"success_url"}`: where the payment page redirects after paying.
    CheckoutSettings,
    /// `{"kind": "duplicate" | "out_of_order" | "late" (+ delay_ms) | "bad_signature" | "lost_answer"}`.
    WebhookFault,
    Deliveries,
    /// `{"status"}`: Paddle changes a subscription (and notifies).
    SubscriptionStatus(String),
}

/// `segs` are the path segments after `__mock`.
pub(crate) fn classify(method: &Method, segs: &[&str]) -> Option<Control> {
    Some(match (method.as_str(), segs) {
        ("POST", ["subscriptions"]) => Control::SeedSubscription,
        ("GET", ["subscriptions", id]) => Control::ShowSubscription((*id).to_owned()),
        ("POST", ["faults"]) => Control::InjectFault,
        ("DELETE", ["faults"]) => Control::ClearFaults,
        ("GET", ["requests"]) => Control::Requests,
        ("POST", ["webhooks"]) => Control::Webhooks,
        ("POST", ["checkout-settings"]) => Control::CheckoutSettings,
        ("POST", ["webhook-faults"]) => Control::WebhookFault,
        ("GET", ["deliveries"]) => Control::Deliveries,
        ("POST", ["subscriptions", id, "status"]) => Control::SubscriptionStatus((*id).to_owned()),
        _ => return None,
    })
}

fn bad(message: String) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({ "error": message }))
}

pub(crate) fn handle(ctx: &Shared, c: Control, body: &[u8]) -> HttpResponse {
    match c {
        Control::SeedSubscription => {
            let seed: SeedSubscription = if body.is_empty() {
                SeedSubscription::default()
            } else {
                match serde_json::from_slice(body) {
                    Ok(s) => s,
                    Err(e) => return bad(format!("seed: {e}")),
                }
            };
            let mut state = ctx.state();
            if seed
                .id
                .as_ref()
                .is_some_and(|id| state.subscriptions.contains_key(id))
            {
                return HttpResponse::Conflict().json(json!({ "error": "subscription exists" }));
            }
            HttpResponse::Created().json(state.seed(seed).to_json())
        }
        Control::ShowSubscription(id) => match ctx.state().subscriptions.get(&id) {
            Some(s) => HttpResponse::Ok().json(s.to_json()),
            None => HttpResponse::NotFound().json(json!({ "error": "no such subscription" })),
        },
        Control::InjectFault => match serde_json::from_slice::<Fault>(body) {
            Ok(f) => {
                ctx.faults.inject(f);
                HttpResponse::NoContent().finish()
            }
            Err(e) => bad(format!("fault: {e}")),
        },
        Control::ClearFaults => {
            ctx.faults.clear();
            HttpResponse::NoContent().finish()
        }
        Control::Webhooks => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                url: String,
                secret: String,
            }
            match serde_json::from_slice::<Body>(body) {
                Ok(b) => {
                    ctx.configure_webhooks(b.url, b.secret);
                    HttpResponse::NoContent().finish()
                }
                Err(e) => bad(format!("webhooks: {e}")),
            }
        }
        Control::CheckoutSettings => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                success_url: String,
            }
            match serde_json::from_slice::<Body>(body) {
                Ok(b) => {
                    *ctx.success_url.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(b.success_url);
                    HttpResponse::NoContent().finish()
                }
                Err(e) => bad(format!("checkout settings: {e}")),
            }
        }
        Control::WebhookFault => match serde_json::from_slice::<crate::WebhookFault>(body) {
            Ok(f) => {
                ctx.hub.inject(f);
                HttpResponse::NoContent().finish()
            }
            Err(e) => bad(format!("webhook fault: {e}")),
        },
        Control::Deliveries => HttpResponse::Ok().json(ctx.hub.deliveries()),
        Control::SubscriptionStatus(id) => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                status: String,
            }
            match serde_json::from_slice::<Body>(body) {
                Ok(b) => match ctx.change_subscription(&id, &b.status) {
                    Some(s) => HttpResponse::Ok().json(s),
                    None => bad("no such subscription, or an unknown status".to_owned()),
                },
                Err(e) => bad(format!("status: {e}")),
            }
        }
        Control::Requests => HttpResponse::Ok().json(json!({
            "requests": ctx.requests(),
            "unknown_routes": ctx.unknown_routes(),
        })),
    }
}
