//! Signup: the plans offered at checkout (a plan and its Paddle price), checkout sessions, the Paddle
//! webhook events we store, and the entitlement rules a subscription's status imposes on a tenant.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::billing::SubscriptionStatus;
use crate::model::Plan;
use crate::tenant_id::{CustomerId, TenantId};

/// A plan as sold: its limits and its Paddle price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOffer {
    pub plan: Plan,
    /// Paddle's price id (`pri_…`); free plans carry a placeholder the CLI passes back unchanged.
    pub paddle_price_id: String,
    /// `false`: free, checked out on our own page with no subscription behind it.
    pub requires_payment: bool,
}

/// Where a checkout session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum CheckoutStatus {
    /// Waiting for the browser (free) or the payment (paid).
    Open,
    /// Confirmed (the free page was submitted, or Paddle reported the payment): the tenant is being
    /// made. Reaching it is the claim that makes the tenant exactly once.
    Creating,
    /// The tenant exists.
    Completed,
    Failed,
}

impl CheckoutStatus {
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

/// A checkout session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    /// `cs_` and 32 random lowercase hex digits: the unguessable secret of the free plan's page.
    pub id: String,
    pub customer_id: CustomerId,
    pub plan_id: String,
    pub paddle_price_id: String,
    pub region: String,
    /// The CLI's loopback callback (checked with [`check_loopback_redirect`]).
    pub redirect_uri: String,
    /// The name the tenant gets (the CLI asks for none).
    pub tenant_name: String,
    pub status: CheckoutStatus,
    pub paddle_transaction_id: Option<String>,
    pub paddle_subscription_id: Option<String>,
    pub paddle_customer_id: Option<String>,
    pub tenant_id: Option<TenantId>,
    /// Why it failed, in words a customer may read.
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl CheckoutSession {
    /// Whether the free page (or a payment) may still start the tenant's creation.
    pub fn is_open_at(&self, now: DateTime<Utc>) -> bool {
        self.status == CheckoutStatus::Open && now < self.expires_at
    }
}

/// A checkout session about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckoutSession {
    pub id: String,
    pub customer_id: CustomerId,
    pub plan_id: String,
    pub paddle_price_id: String,
    pub region: String,
    pub redirect_uri: String,
    pub tenant_name: String,
    pub expires_at: DateTime<Utc>,
}

/// What Paddle reported about a checkout's payment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckoutPayment {
    pub paddle_subscription_id: Option<String>,
    pub paddle_customer_id: Option<String>,
}

/// A fresh checkout session id: `cs_` and a v4 UUID's 32 lowercase hex digits (122 random bits, from
/// the operating system's generator): unguessable, so the id alone may open the free plan's page.
pub fn new_checkout_session_id() -> String {
    format!("cs_{}", uuid::Uuid::new_v4().simple())
}

/// Whether `s` has the shape of a checkout session id (checked before any lookup).
pub fn is_checkout_session_id(s: &str) -> bool {
    s.len() == 35
        && s.starts_with("cs_")
        && s[3..]
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// The CLI's callback: `http://127.0.0.1:<port>/<path>` or `http://[::1]:<port>/<path>`, no query,
/// no fragment, no user info. Anything else would let a checkout send the browser (and the session
/// id) elsewhere.
pub fn check_loopback_redirect(uri: &str) -> Result<(), String> {
    let refuse = || {
        Err(
            "redirect_uri must be the CLI's loopback callback, e.g. http://127.0.0.1:8766/callback"
                .to_owned(),
        )
    };
    let rest = match uri
        .strip_prefix("http://127.0.0.1:")
        .or_else(|| uri.strip_prefix("http://[::1]:"))
    {
        Some(r) => r,
        None => return refuse(),
    };
    let Some(slash) = rest.find('/') else {
        return refuse();
    };
    let (port, path) = rest.split_at(slash);
    let port_ok = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|c| c.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
    let path_ok = path.len() <= 200
        && path
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-' | b'.'));
    if port_ok && path_ok { Ok(()) } else { refuse() }
}

/// A Paddle webhook event as stored (its signature was verified before it was stored).
#[derive(Debug, Clone, PartialEq)]
pub struct BillingEvent {
    /// Paddle's event id (`evt_…`).
    pub id: String,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub payload: serde_json::Value,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    /// What came of acting on it (`applied: …`, `ignored: …`, `failed: …`).
    pub outcome: Option<String>,
    pub attempts: i32,
}

/// A verified webhook event about to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBillingEvent {
    pub id: String,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub payload: serde_json::Value,
}

/// Whether `s` has the shape of a Paddle event id (the table has the same check).
pub fn is_billing_event_id(s: &str) -> bool {
    s.len() > 4
        && s.len() <= 100
        && s.starts_with("evt_")
        && s[4..]
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
}

/// What a subscription event says, applied only when newer than what the subscription holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionEventUpdate {
    pub id: String,
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    pub paddle_customer_id: Option<String>,
    pub plan_id: Option<String>,
    pub status: SubscriptionStatus,
    pub scheduled_cancel_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    /// The event's `occurred_at`.
    pub occurred_at: DateTime<Utc>,
}

/// What a subscription's status allows its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entitlement {
    /// Deploys allowed.
    Full,
    /// Payment is due or the subscription paused: no deploys; after a grace the machine is stopped.
    Suspended,
    /// Canceled: no deploys; after a grace the tenant is deleted.
    Ended,
}

/// The entitlement of a tenant whose subscription has `status` (a free tenant has none: `Full`).
pub fn entitlement(status: Option<SubscriptionStatus>) -> Entitlement {
    match status {
        None | Some(SubscriptionStatus::Active | SubscriptionStatus::Trialing) => Entitlement::Full,
        Some(SubscriptionStatus::PastDue | SubscriptionStatus::Paused) => Entitlement::Suspended,
        Some(SubscriptionStatus::Canceled) => Entitlement::Ended,
    }
}

/// Whether `later` (an event's `occurred_at`) may overwrite what `applied` (the newest applied event's)
/// set: only a strictly newer event does; an equal one is a redelivery.
pub fn is_newer(later: DateTime<Utc>, applied: Option<DateTime<Utc>>) -> bool {
    applied.is_none_or(|a| later > a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_random_and_shaped() {
        let a = new_checkout_session_id();
        let b = new_checkout_session_id();
        assert_ne!(a, b);
        assert!(is_checkout_session_id(&a), "{a}");
        for bad in [
            "",
            "cs_",
            "cs_XYZ",
            &a[..34],
            &format!("{a}0"),
            "cs_../../etc/passwd0000000000000",
        ] {
            assert!(!is_checkout_session_id(bad), "{bad}");
        }
    }

    #[test]
    fn only_loopback_callbacks_are_accepted() {
        for ok in [
            "http://127.0.0.1:8766/callback",
            "http://[::1]:8766/callback",
            "http://127.0.0.1:1/",
        ] {
            check_loopback_redirect(ok).unwrap();
        }
        for bad in [
            "https://127.0.0.1:8766/callback",
            "http://localhost:8766/callback",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:8766",
            "http://127.0.0.1:0/callback",
            "http://127.0.0.1:70000/callback",
            "http://127.0.0.1:8766@evil.example/callback",
            "http://127.0.0.1:8766/callback?x=1",
            "http://127.0.0.1:8766/callback#x",
            "http://127.0.0.2:8766/callback",
            "http://evil.example/http://127.0.0.1:8766/",
        ] {
            assert!(check_loopback_redirect(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_ids() {
        assert!(is_billing_event_id("evt_01h8bkrt0000000000000000000"));
        for bad in ["", "evt_", "ntf_1", "evt_A", "evt_1;drop"] {
            assert!(!is_billing_event_id(bad), "{bad}");
        }
    }

    #[test]
    fn entitlements_follow_the_status() {
        use SubscriptionStatus::*;
        assert_eq!(entitlement(None), Entitlement::Full);
        assert_eq!(entitlement(Some(Active)), Entitlement::Full);
        assert_eq!(entitlement(Some(Trialing)), Entitlement::Full);
        assert_eq!(entitlement(Some(PastDue)), Entitlement::Suspended);
        assert_eq!(entitlement(Some(Paused)), Entitlement::Suspended);
        assert_eq!(entitlement(Some(Canceled)), Entitlement::Ended);
    }

    #[test]
    fn only_newer_events_overwrite() {
        let t = Utc::now();
        assert!(is_newer(t, None));
        assert!(is_newer(t, Some(t - chrono::Duration::seconds(1))));
        assert!(!is_newer(t, Some(t)));
        assert!(!is_newer(t - chrono::Duration::seconds(1), Some(t)));
    }
}
