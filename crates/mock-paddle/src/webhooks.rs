//! Paddle's notifications, as Paddle sends them: each event signed with the destination's secret
//! (`Paddle-Signature: ts=…;h1=HMAC-SHA256(secret, "ts:body")`, signed anew at each attempt), delivered
//! one after another, and redelivered with a growing backoff until the receiver answers 2xx. Faults
//! make a delivery arrive twice, out of order, late, forged (a tampered copy first, which a correct
//! receiver refuses), or make its 2xx answer count as lost (so it is redelivered after acting).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

/// Attempts per event before it is given up (Paddle retries for days; tests need an end).
pub const MAX_ATTEMPTS: u32 = 8;

/// A fault for the next event(s) delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum WebhookFault {
    /// Delivered, then delivered again once answered.
    Duplicate,
    /// Held back and delivered after the event that follows it.
    OutOfOrder,
    /// Delivered only after this long.
    Late { delay_ms: u64 },
    /// A copy with a tampered body and a wrong signature is sent first.
    BadSignature,
    /// The receiver's 2xx is treated as lost: the event is redelivered.
    LostAnswer,
}

/// One delivery attempt as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    pub attempt: u32,
    /// The receiver's status; `None` when it could not be reached.
    pub status: Option<u16>,
    /// A forged copy (bad signature fault).
    pub forged: bool,
}

/// Where notifications go.
#[derive(Debug, Clone, Default)]
pub(crate) struct Destination {
    pub url: Option<String>,
    pub secret: String,
}

#[derive(Debug, Default)]
pub(crate) struct Hub {
    pub destination: Mutex<Destination>,
    pub faults: Mutex<VecDeque<WebhookFault>>,
    pub deliveries: Mutex<Vec<Delivery>>,
    seq: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An event about to be sent.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub id: String,
    pub event_type: String,
    pub body: Vec<u8>,
}

/// `h1` of `body` at `ts`.
pub fn signature(secret: &str, ts: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256>>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(format!("{ts}:").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

impl Hub {
    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.deliveries).clone()
    }

    pub(crate) fn inject(&self, fault: WebhookFault) {
        lock(&self.faults).push_back(fault);
    }

    /// An event in Paddle's envelope (`evt_…`, `ntf_…`, `occurred_at` now, to the microsecond).
    pub(crate) fn event(&self, event_type: &str, data: Value) -> Outgoing {
        let n = {
            let mut seq = lock(&self.seq);
            *seq += 1;
            *seq
        };
        let id = format!("evt_{}{:06}", &crate::state::new_id("x")[2..22], n);
        let body = json!({
            "event_id": id,
            "event_type": event_type,
            "occurred_at": Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
            "notification_id": crate::state::new_id("ntf"),
            "data": data,
        });
        Outgoing {
            id,
            event_type: event_type.to_owned(),
            body: serde_json::to_vec(&body).unwrap_or_default(),
        }
    }

    fn record(&self, d: Delivery) {
        lock(&self.deliveries).push(d);
    }
}

/// Delivers events in order, one at a time, until the channel closes.
pub(crate) async fn run(hub: std::sync::Arc<Hub>, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "mock-paddle: no HTTP client, no webhooks");
            return;
        }
    };
    let mut held: Option<Outgoing> = None;
    while let Some(event) = rx.recv().await {
        let fault = lock(&hub.faults).pop_front();
        if fault == Some(WebhookFault::OutOfOrder) && held.is_none() {
            held = Some(event);
            continue;
        }
        if let Some(WebhookFault::Late { delay_ms }) = fault {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        }
        if fault == Some(WebhookFault::BadSignature) {
            forge(&hub, &http, &event).await;
        }
        deliver(&hub, &http, &event, fault == Some(WebhookFault::LostAnswer)).await;
        if fault == Some(WebhookFault::Duplicate) {
            deliver(&hub, &http, &event, false).await;
        }
        if let Some(h) = held.take() {
            deliver(&hub, &http, &h, false).await;
        }
    }
}

async fn send(
    hub: &Hub,
    http: &reqwest::Client,
    body: &[u8],
    sig: impl FnOnce(&str, i64) -> String,
) -> Option<u16> {
    let dest = lock(&hub.destination).clone();
    let url = dest.url?;
    let ts = Utc::now().timestamp();
    let header = format!("ts={ts};h1={}", sig(&dest.secret, ts));
    http.post(url)
        .header("content-type", "application/json")
        .header("paddle-signature", header)
        .body(body.to_vec())
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Sends until a 2xx (or the attempts run out); `lose_first`: the first 2xx counts as lost.
async fn deliver(hub: &Hub, http: &reqwest::Client, event: &Outgoing, mut lose_first: bool) {
    for attempt in 1..=MAX_ATTEMPTS {
        let status = send(hub, http, &event.body, |secret, ts| {
            signature(secret, ts, &event.body)
        })
        .await;
        hub.record(Delivery {
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            attempt,
            status,
            forged: false,
        });
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        if ok && !lose_first {
            return;
        }
        if ok {
            lose_first = false;
            tracing::warn!(event_id = %event.id, "mock-paddle: the answer counts as lost; redelivering");
        }
        tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
    }
    tracing::error!(event_id = %event.id, "mock-paddle: webhook given up");
}

/// A tampered copy (its `data.status` changed) signed with a wrong key.
async fn forge(hub: &Hub, http: &reqwest::Client, event: &Outgoing) {
    let mut v: Value = serde_json::from_slice(&event.body).unwrap_or_default();
    if let Some(data) = v.get_mut("data").and_then(Value::as_object_mut) {
        data.insert("status".to_owned(), json!("canceled"));
    }
    let body = serde_json::to_vec(&v).unwrap_or_default();
    let status = send(hub, http, &body, |_, ts| {
        signature("not-the-destination-secret", ts, &body)
    })
    .await;
    hub.record(Delivery {
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        attempt: 0,
        status,
        forged: true,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_an_independent_hmac() {
        // `printf '1:{}' | openssl dgst -sha256 -hmac key`
        assert_eq!(
            signature("key", 1, b"{}"),
            "8b4edda64d18586fe42266462a8fa38b405c2b3c86305e723b7301849de274bb"
        );
    }
}
