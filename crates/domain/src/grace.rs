//! Billing grace periods: what the billing sweep does to a tenant whose subscription is not in good
//! standing. Past due or paused for longer than the suspend grace: its machine is stopped (and started
//! again once the subscription is active); canceled for longer than the cancel grace: the tenant is
//! deleted. The decision is a pure function of the stored state and the clock, so a sweep that runs
//! again, on another replica or after a restart, makes the same one (durable without timers).

use chrono::{DateTime, Duration, Utc};

use crate::billing::SubscriptionStatus;
use crate::tenant_id::TenantId;

/// A subscription as the sweep reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionGrace {
    pub id: String,
    pub tenant_id: TenantId,
    pub status: SubscriptionStatus,
    /// When it entered `status` here (kept by the database on every status change).
    pub status_since: DateTime<Utc>,
    /// Paddle's cancellation time, once canceled.
    pub canceled_at: Option<DateTime<Utc>>,
    /// Set when the sweep stopped the tenant's machine; cleared when it started it again.
    pub machine_stopped_at: Option<DateTime<Utc>>,
}

/// The grace periods (`BILLING_SUSPEND_GRACE_SECS`, `BILLING_CANCEL_GRACE_SECS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillingGrace {
    /// Past due or paused this long: the machine is stopped.
    pub suspend_after: Duration,
    /// Canceled this long: the tenant is deleted.
    pub delete_after: Duration,
}

/// What one billing sweep did (counts, for the log and the tests).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BillingSweepReport {
    pub machines_stopped: usize,
    pub machines_started: usize,
    pub tenants_deleted: usize,
    /// Subscriptions whose action failed this round (retried at the next).
    pub failed: usize,
}

/// What the sweep does for one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraceAction {
    Nothing,
    StopMachine,
    StartMachine,
    DeleteTenant,
}

/// The action due at `now`.
pub fn grace_action(
    sub: &SubscriptionGrace,
    grace: &BillingGrace,
    now: DateTime<Utc>,
) -> GraceAction {
    let stopped = sub.machine_stopped_at.is_some();
    match sub.status {
        SubscriptionStatus::Active | SubscriptionStatus::Trialing if stopped => {
            GraceAction::StartMachine
        }
        SubscriptionStatus::Active | SubscriptionStatus::Trialing => GraceAction::Nothing,
        SubscriptionStatus::PastDue | SubscriptionStatus::Paused => {
            if !stopped && now >= sub.status_since + grace.suspend_after {
                GraceAction::StopMachine
            } else {
                GraceAction::Nothing
            }
        }
        SubscriptionStatus::Canceled => {
            // From Paddle's cancellation time when it is earlier (a late webhook does not lengthen
            // the grace), from when we learned it otherwise.
            let since = sub
                .canceled_at
                .map_or(sub.status_since, |c| c.min(sub.status_since));
            if now >= since + grace.delete_after {
                GraceAction::DeleteTenant
            } else if !stopped && now >= since + grace.suspend_after {
                // A canceled tenant stops serving like a suspended one while it waits for deletion.
                GraceAction::StopMachine
            } else {
                GraceAction::Nothing
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(status: SubscriptionStatus, since_secs_ago: i64, stopped: bool) -> SubscriptionGrace {
        let now = Utc::now();
        SubscriptionGrace {
            id: "sub_1".into(),
            tenant_id: TenantId::new_random(),
            status,
            status_since: now - Duration::seconds(since_secs_ago),
            canceled_at: None,
            machine_stopped_at: stopped.then_some(now),
        }
    }

    const GRACE: BillingGrace = BillingGrace {
        suspend_after: Duration::seconds(60),
        delete_after: Duration::seconds(600),
    };

    #[test]
    fn past_due_and_paused_stop_the_machine_after_the_grace_once() {
        use SubscriptionStatus::*;
        let now = Utc::now();
        for status in [PastDue, Paused] {
            assert_eq!(
                grace_action(&sub(status, 30, false), &GRACE, now),
                GraceAction::Nothing
            );
            assert_eq!(
                grace_action(&sub(status, 61, false), &GRACE, now),
                GraceAction::StopMachine
            );
            assert_eq!(
                grace_action(&sub(status, 6100, true), &GRACE, now),
                GraceAction::Nothing
            );
        }
    }

    #[test]
    fn paid_again_starts_what_the_sweep_stopped() {
        use SubscriptionStatus::*;
        let now = Utc::now();
        for status in [Active, Trialing] {
            assert_eq!(
                grace_action(&sub(status, 9999, false), &GRACE, now),
                GraceAction::Nothing
            );
            assert_eq!(
                grace_action(&sub(status, 0, true), &GRACE, now),
                GraceAction::StartMachine
            );
        }
    }

    #[test]
    fn canceled_stops_then_deletes_counting_from_the_earlier_time() {
        let now = Utc::now();
        let c = sub(SubscriptionStatus::Canceled, 30, false);
        assert_eq!(grace_action(&c, &GRACE, now), GraceAction::Nothing);
        let c = sub(SubscriptionStatus::Canceled, 61, false);
        assert_eq!(grace_action(&c, &GRACE, now), GraceAction::StopMachine);
        let c = sub(SubscriptionStatus::Canceled, 61, true);
        assert_eq!(grace_action(&c, &GRACE, now), GraceAction::Nothing);
        let c = sub(SubscriptionStatus::Canceled, 601, true);
        assert_eq!(grace_action(&c, &GRACE, now), GraceAction::DeleteTenant);
        // Learned just now, but Paddle canceled it long ago (a late webhook).
        let mut late = sub(SubscriptionStatus::Canceled, 0, false);
        late.canceled_at = Some(now - Duration::seconds(601));
        assert_eq!(grace_action(&late, &GRACE, now), GraceAction::DeleteTenant);
        // A cancellation time in the future does not shorten anything.
        let mut future = sub(SubscriptionStatus::Canceled, 0, false);
        future.canceled_at = Some(now + Duration::seconds(9999));
        assert_eq!(grace_action(&future, &GRACE, now), GraceAction::Nothing);
    }
}
