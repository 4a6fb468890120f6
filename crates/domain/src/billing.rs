//! Billing and activity records: a tenant's subscription (Paddle) and what the CLI reports on login and
//! logout.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::tenant_id::{CustomerId, TenantId};

/// A subscription's status, in the CLI's spellings (Paddle uses the same words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    Trialing,
    PastDue,
    Paused,
    Canceled,
}

impl SubscriptionStatus {
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

/// A tenant's subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Paddle's id (`sub_...`).
    pub id: String,
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    /// Paddle's customer id (`ctm_...`), when known.
    pub paddle_customer_id: Option<String>,
    pub status: SubscriptionStatus,
    /// When Paddle will cancel it, once a cancellation was confirmed.
    pub scheduled_cancel_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The plan it pays for (set by the checkout that made it).
    pub plan_id: Option<String>,
    /// `occurred_at` of the newest Paddle event applied (older ones are not applied).
    pub last_event_at: Option<DateTime<Utc>>,
}

impl Subscription {
    /// Canceled already, or scheduled to be: another cancel has nothing to do.
    pub fn cancel_settled(&self) -> bool {
        self.status == SubscriptionStatus::Canceled || self.scheduled_cancel_at.is_some()
    }
}

/// A subscription about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub id: String,
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    pub paddle_customer_id: Option<String>,
    pub status: SubscriptionStatus,
}

/// What Paddle confirmed about a cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancellationRecord {
    pub status: SubscriptionStatus,
    pub scheduled_cancel_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
}

/// The events the CLI reports (`POST /activity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum ActivityKind {
    CloudLogin,
    CloudLogout,
}

impl ActivityKind {
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

/// Longest `user_id` kept (an email address at most 320 characters).
pub const ACTIVITY_USER_ID_MAX: usize = 320;

/// One reported activity, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub id: i64,
    pub customer_id: CustomerId,
    pub event: ActivityKind,
    /// The CLI's clock (to the microsecond).
    pub client_timestamp: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// As sent: the user id on login, the email on logout.
    pub user_id: String,
}

/// An activity about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewActivity {
    pub customer_id: CustomerId,
    pub event: ActivityKind,
    pub client_timestamp: DateTime<Utc>,
    pub user_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_are_the_clis() {
        use strum::IntoEnumIterator;
        let words: Vec<&str> = SubscriptionStatus::iter().map(|s| s.as_str()).collect();
        assert_eq!(
            words,
            ["active", "trialing", "past_due", "paused", "canceled"]
        );
        assert_eq!(
            "cloud_logout".parse::<ActivityKind>().unwrap(),
            ActivityKind::CloudLogout
        );
        assert!("cloud_signup".parse::<ActivityKind>().is_err());
    }
}
