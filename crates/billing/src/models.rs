//! The parts of Paddle's subscription entity this service reads (unknown fields are ignored, as new
//! fields appear without notice in Paddle's API).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `effective_from` of a cancel request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectiveFrom {
    NextBillingPeriod,
    Immediately,
}

/// A Paddle subscription (`data` of the subscription endpoints).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PaddleSubscription {
    pub id: String,
    /// `active`, `canceled`, `past_due`, `paused` or `trialing`.
    pub status: String,
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(default)]
    pub canceled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub scheduled_change: Option<ScheduledChange>,
}

/// A change Paddle will make at `effective_at` (`action`: `cancel`, `pause` or `resume`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ScheduledChange {
    pub action: String,
    pub effective_at: DateTime<Utc>,
    #[serde(default)]
    pub resume_at: Option<DateTime<Utc>>,
}

impl PaddleSubscription {
    /// When Paddle will cancel it, if a cancellation is scheduled.
    pub fn scheduled_cancel_at(&self) -> Option<DateTime<Utc>> {
        self.scheduled_change
            .as_ref()
            .filter(|c| c.action == "cancel")
            .map(|c| c.effective_at)
    }
}

/// A Paddle transaction (`data` of the transaction endpoints): the parts this service reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PaddleTransaction {
    /// `txn_…`.
    pub id: String,
    /// `draft`, `ready`, `billed`, `paid`, `completed`, `canceled` or `past_due`.
    pub status: String,
    #[serde(default)]
    pub checkout: Option<TransactionCheckout>,
}

/// `checkout` of a transaction: the payment link that opens Paddle Checkout for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct TransactionCheckout {
    #[serde(default)]
    pub url: Option<String>,
}

/// `{"data": ..., "meta": {...}}`: every successful Paddle answer.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<T> {
    pub data: T,
}

/// `{"error": {"type", "code", "detail", "documentation_url"}, "meta": {"request_id"}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub code: String,
    #[serde(default)]
    pub detail: String,
}
