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
