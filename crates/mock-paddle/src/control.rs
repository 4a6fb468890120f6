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
}

/// `segs` are the path segments after `__mock`.
pub(crate) fn classify(method: &Method, segs: &[&str]) -> Option<Control> {
    Some(match (method.as_str(), segs) {
        ("POST", ["subscriptions"]) => Control::SeedSubscription,
        ("GET", ["subscriptions", id]) => Control::ShowSubscription((*id).to_owned()),
        ("POST", ["faults"]) => Control::InjectFault,
        ("DELETE", ["faults"]) => Control::ClearFaults,
        ("GET", ["requests"]) => Control::Requests,
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
        Control::Requests => HttpResponse::Ok().json(json!({
            "requests": ctx.requests(),
            "unknown_routes": ctx.unknown_routes(),
        })),
    }
}
