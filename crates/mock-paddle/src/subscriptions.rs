//! `GET /subscriptions/{id}` and `POST /subscriptions/{id}/cancel`, with Paddle's rules.

use actix_web::HttpResponse;
use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::errors;
use crate::server::Shared;
use crate::state::{ScheduledChangeRecord, SubscriptionRecord};

fn ok(s: &SubscriptionRecord) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "data": s.to_json(), "meta": errors::meta() }))
}

pub(crate) fn get(ctx: &Shared, id: &str) -> HttpResponse {
    match ctx.state().subscriptions.get(id) {
        Some(s) => ok(s),
        None => errors::not_found(id),
    }
}

/// The cancel body: an object with at most `effective_from` (Paddle's default is
/// `next_billing_period`).
fn effective_from(body: &[u8]) -> Result<String, HttpResponse> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok("next_billing_period".to_owned());
    }
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(errors::error(
            400,
            "shared",
            "bad_request",
            "Invalid request body: expected a JSON object.",
        ));
    };
    let map: Map<String, Value> = map;
    if let Some(unknown) = map.keys().find(|k| *k != "effective_from") {
        return Err(errors::invalid_field(unknown, "unknown field"));
    }
    match map.get("effective_from") {
        None | Some(Value::Null) => Ok("next_billing_period".to_owned()),
        Some(Value::String(v)) if v == "next_billing_period" || v == "immediately" => Ok(v.clone()),
        Some(_) => Err(errors::invalid_field(
            "effective_from",
            "must be one of: next_billing_period, immediately",
        )),
    }
}

pub(crate) fn cancel(ctx: &Shared, id: &str, body: &[u8]) -> HttpResponse {
    let when = match effective_from(body) {
        Ok(w) => w,
        Err(resp) => return resp,
    };
    let mut state = ctx.state();
    let Some(s) = state.subscriptions.get_mut(id) else {
        return errors::not_found(id);
    };
    if s.status == "canceled" {
        return errors::error(
            400,
            "subscriptions",
            "subscription_update_when_canceled",
            "cannot update subscription, as subscription is canceled",
        );
    }
    if s.scheduled_change.is_some() {
        return errors::error(
            400,
            "subscriptions",
            "subscription_locked_pending_changes",
            "cannot update subscription, pending scheduled changes",
        );
    }
    let now = Utc::now();
    if when == "immediately" {
        s.status = "canceled".to_owned();
        s.canceled_at = Some(now);
        s.current_period = None;
    } else {
        let Some((_, ends_at)) = s.current_period else {
            return errors::error(
                400,
                "subscriptions",
                "subscription_not_active",
                "action requires the subscription to be active",
            );
        };
        s.scheduled_change = Some(ScheduledChangeRecord {
            action: "cancel".to_owned(),
            effective_at: ends_at,
            resume_at: None,
        });
    }
    s.updated_at = now;
    ok(s)
}

impl Shared {
    /// Paddle changing a subscription on its own (a failed renewal, a pause, a cancellation taking
    /// effect): the record changes and the matching notification is queued. `None`: unknown id or
    /// status.
    pub(crate) fn change_subscription(&self, id: &str, status: &str) -> Option<Value> {
        let event_type = match status {
            "active" => "subscription.activated",
            "past_due" => "subscription.past_due",
            "paused" => "subscription.paused",
            "canceled" => "subscription.canceled",
            "trialing" => "subscription.trialing",
            _ => return None,
        };
        let now = Utc::now();
        let json = {
            let mut state = self.state();
            let s = state.subscriptions.get_mut(id)?;
            s.status = status.to_owned();
            s.updated_at = now;
            if status == "canceled" {
                s.canceled_at = Some(now);
                s.current_period = None;
                s.scheduled_change = None;
            }
            s.to_json()
        };
        self.emit(event_type, json.clone());
        Some(json)
    }
}
