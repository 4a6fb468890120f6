//! `POST /transactions` and the hosted checkout the payment link opens: paying completes the
//! transaction, creates the subscription (with the transaction's `custom_data`, as Paddle copies it),
//! sends `subscription.created` and `transaction.completed`, and redirects to the success URL.

use actix_web::HttpResponse;
use actix_web::http::header;
use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::errors;
use crate::server::Shared;
use crate::state::{SubscriptionRecord, TransactionRecord, new_id};

fn ts(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl TransactionRecord {
    /// Paddle's transaction entity (the fields a client reads; the rest as Paddle's defaults).
    pub fn to_json(&self, checkout_base: &str) -> Value {
        json!({
            "id": self.id,
            "status": self.status,
            "customer_id": self.customer_id,
            "address_id": null,
            "business_id": null,
            "custom_data": self.custom_data,
            "currency_code": "USD",
            "origin": "api",
            "subscription_id": self.subscription_id,
            "invoice_id": null,
            "invoice_number": null,
            "collection_mode": "automatic",
            "discount_id": null,
            "billing_details": null,
            "billing_period": null,
            "items": [{ "price_id": self.price_id, "quantity": 1 }],
            "details": null,
            "payments": [],
            "checkout": { "url": format!("{}?_ptxn={}", self.checkout_page.as_deref().unwrap_or(checkout_base), self.id) },
            "created_at": ts(self.created_at),
            "updated_at": ts(self.updated_at),
            "billed_at": null,
        })
    }
}

/// `POST /transactions`: items (exactly one known price, quantity 1..=100), optional
/// `collection_mode` (`automatic`), `custom_data` (an object), `checkout.url`.
pub(crate) fn create(ctx: &Shared, body: &[u8]) -> HttpResponse {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return errors::error(
            400,
            "shared",
            "bad_request",
            "Invalid request body: expected a JSON object.",
        );
    };
    const KNOWN: [&str; 6] = [
        "items",
        "collection_mode",
        "custom_data",
        "checkout",
        "customer_id",
        "currency_code",
    ];
    if let Some(unknown) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return errors::invalid_field(unknown, "unknown field");
    }
    let items = map.get("items").and_then(Value::as_array);
    let Some([item]) = items.map(Vec::as_slice) else {
        return errors::invalid_field("items", "exactly one item is supported by the mock");
    };
    let Some(price_id) = item.get("price_id").and_then(Value::as_str) else {
        return errors::invalid_field("items[0].price_id", "required");
    };
    if !item
        .get("quantity")
        .and_then(Value::as_u64)
        .is_some_and(|q| (1..=100).contains(&q))
    {
        return errors::invalid_field("items[0].quantity", "must be 1 to 100");
    }
    match map.get("collection_mode") {
        None => {}
        Some(Value::String(m)) if m == "automatic" => {}
        Some(_) => return errors::invalid_field("collection_mode", "the mock supports automatic"),
    }
    let custom_data = match map.get("custom_data") {
        None | Some(Value::Null) => Value::Null,
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return errors::invalid_field("custom_data", "must be an object"),
    };
    let checkout_page = match map.get("checkout").and_then(|c| c.get("url")) {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) if u.starts_with("http://") || u.starts_with("https://") => {
            Some(u.clone())
        }
        Some(_) => return errors::invalid_field("checkout.url", "must be a URL"),
    };
    let mut state = ctx.state();
    if !state.prices.contains(price_id) {
        return errors::error(
            404,
            "shared",
            "not_found",
            &format!("Entity {price_id} not found"),
        );
    }
    let now = Utc::now();
    let record = TransactionRecord {
        id: new_id("txn"),
        status: "ready".to_owned(),
        price_id: price_id.to_owned(),
        custom_data,
        customer_id: None,
        subscription_id: None,
        checkout_page,
        created_at: now,
        updated_at: now,
    };
    state.transactions.insert(record.id.clone(), record.clone());
    HttpResponse::Created().json(json!({
        "data": record.to_json(&ctx.checkout_base()),
        "meta": errors::meta(),
    }))
}

fn html(status: u16, body: &str) -> HttpResponse {
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
    )
    .content_type("text/html; charset=utf-8")
    .body(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Paddle checkout (mock)</title></head><body>{body}</body></html>"
    ))
}

fn txn_of(query: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        kv.strip_prefix("_ptxn=")
            .filter(|v| {
                v.starts_with("txn_") && v.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
            })
            .map(str::to_owned)
    })
}

/// The payment page (`GET /checkout?_ptxn=…`): a form with a pay button.
pub(crate) fn page(ctx: &Shared, query: &str) -> HttpResponse {
    let Some(txn) = txn_of(query) else {
        return html(400, "<p>missing _ptxn</p>");
    };
    match ctx.state().transactions.get(&txn) {
        Some(t) if t.status == "ready" => html(
            200,
            &format!(
                "<h1>Pay for {price}</h1><form method=\"post\" action=\"/checkout/pay\">\
                 <input type=\"hidden\" name=\"_ptxn\" value=\"{txn}\">\
                 <button type=\"submit\" id=\"pay\">Pay</button></form>",
                price = t.price_id
            ),
        ),
        Some(_) => html(409, "<p>this transaction is paid already</p>"),
        None => html(404, "<p>no such transaction</p>"),
    }
}

/// The pay button: completes the transaction, creates the subscription, queues the events and
/// redirects to the success URL (`?_ptxn=…`).
pub(crate) fn pay(ctx: &Shared, body: &[u8]) -> HttpResponse {
    let Some(txn_id) = std::str::from_utf8(body).ok().and_then(txn_of) else {
        return html(400, "<p>missing _ptxn</p>");
    };
    let now = Utc::now();
    let (sub_json, txn_json) = {
        let mut state = ctx.state();
        let Some(t) = state.transactions.get(&txn_id).cloned() else {
            return html(404, "<p>no such transaction</p>");
        };
        if t.status != "ready" {
            return html(409, "<p>this transaction is paid already</p>");
        }
        let customer = new_id("ctm");
        let sub = SubscriptionRecord {
            id: new_id("sub"),
            status: "active".to_owned(),
            customer_id: customer.clone(),
            created_at: now,
            updated_at: now,
            canceled_at: None,
            current_period: Some((now, now + Duration::days(30))),
            scheduled_change: None,
            custom_data: t.custom_data.clone(),
            transaction_id: Some(t.id.clone()),
        };
        let mut t = t;
        t.status = "completed".to_owned();
        t.customer_id = Some(customer);
        t.subscription_id = Some(sub.id.clone());
        t.updated_at = now;
        state.subscriptions.insert(sub.id.clone(), sub.clone());
        state.transactions.insert(t.id.clone(), t.clone());
        (sub.to_json(), t.to_json(&ctx.checkout_base()))
    };
    ctx.emit("subscription.created", sub_json);
    ctx.emit("transaction.completed", txn_json);
    let Some(success) = ctx.success_url() else {
        return html(200, "<p>Paid. You can close this window.</p>");
    };
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{success}?_ptxn={txn_id}")))
        .finish()
}
