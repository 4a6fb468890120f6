//! What the fake Paddle holds: subscriptions, in Paddle's entity shape.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A subscription's scheduled change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledChangeRecord {
    pub action: String,
    pub effective_at: DateTime<Utc>,
    pub resume_at: Option<DateTime<Utc>>,
}

/// A subscription as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    pub id: String,
    /// `active`, `canceled`, `past_due`, `paused` or `trialing`.
    pub status: String,
    pub customer_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub canceled_at: Option<DateTime<Utc>>,
    /// `(starts_at, ends_at)` of the current billing period; `None` once canceled.
    pub current_period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub scheduled_change: Option<ScheduledChangeRecord>,
    /// Copied from the transaction that created it.
    pub custom_data: Value,
    pub transaction_id: Option<String>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl SubscriptionRecord {
    /// Paddle's subscription entity (the fields a client may read; the rest as Paddle's defaults).
    pub fn to_json(&self) -> Value {
        let period = self
            .current_period
            .map(|(s, e)| json!({ "starts_at": ts(s), "ends_at": ts(e) }));
        let next_billed = match (
            &self.status[..],
            self.current_period,
            &self.scheduled_change,
        ) {
            ("active" | "trialing" | "past_due", Some((_, end)), None) => json!(ts(end)),
            _ => Value::Null,
        };
        json!({
            "id": self.id,
            "status": self.status,
            "customer_id": self.customer_id,
            "address_id": format!("add_{}", &self.id[self.id.len().saturating_sub(26)..]),
            "business_id": null,
            "currency_code": "USD",
            "created_at": ts(self.created_at),
            "updated_at": ts(self.updated_at),
            "started_at": ts(self.created_at),
            "first_billed_at": ts(self.created_at),
            "next_billed_at": next_billed,
            "paused_at": null,
            "canceled_at": self.canceled_at.map(ts),
            "collection_mode": "automatic",
            "billing_details": null,
            "current_billing_period": period,
            "billing_cycle": { "interval": "month", "frequency": 1 },
            "scheduled_change": self.scheduled_change.as_ref().map(|c| json!({
                "action": c.action,
                "effective_at": ts(c.effective_at),
                "resume_at": c.resume_at.map(ts),
            })),
            "items": [],
            "custom_data": self.custom_data,
            "transaction_id": self.transaction_id,
            "management_urls": {
                "update_payment_method": null,
                "cancel": format!("https://buyer-portal.paddle.com/subscriptions/{}/cancel", self.id),
            },
            "discount": null,
            "import_meta": null,
        })
    }
}

/// What a test seeds; anything left out gets Paddle-like defaults (a fresh id, `active`, a month).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSubscription {
    pub id: Option<String>,
    pub status: Option<String>,
    pub customer_id: Option<String>,
}

/// A Paddle-style id: prefix and 26 lowercase alphanumerics.
pub(crate) fn new_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &hex[..26])
}

/// A transaction as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRecord {
    pub id: String,
    /// `ready` until paid, then `completed`.
    pub status: String,
    pub price_id: String,
    pub custom_data: Value,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    /// `checkout.url` given at creation (else the mock's own payment page).
    pub checkout_page: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub subscriptions: BTreeMap<String, SubscriptionRecord>,
    pub transactions: BTreeMap<String, TransactionRecord>,
    /// Prices the catalog holds (a transaction for any other is refused).
    pub prices: std::collections::BTreeSet<String>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            subscriptions: BTreeMap::new(),
            transactions: BTreeMap::new(),
            prices: [crate::DEFAULT_PRICE_ID.to_owned()].into(),
        }
    }
}

impl State {
    pub(crate) fn seed(&mut self, seed: SeedSubscription) -> SubscriptionRecord {
        let now = Utc::now();
        let status = seed.status.unwrap_or_else(|| "active".to_owned());
        let canceled = status == "canceled";
        let record = SubscriptionRecord {
            id: seed.id.unwrap_or_else(|| new_id("sub")),
            customer_id: seed.customer_id.unwrap_or_else(|| new_id("ctm")),
            created_at: now,
            updated_at: now,
            canceled_at: canceled.then_some(now),
            current_period: (!canceled).then(|| (now, now + Duration::days(30))),
            scheduled_change: None,
            status,
            custom_data: Value::Null,
            transaction_id: None,
        };
        self.subscriptions.insert(record.id.clone(), record.clone());
        record
    }
}
