//! Billing on the wire: the domain's subscription status in the CLI's `subscription_status` spellings.

use mgmt_domain::SubscriptionStatus as Status;

use super::SubscriptionStatus;

impl From<Status> for SubscriptionStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Active => Self::Active,
            Status::Trialing => Self::Trialing,
            Status::PastDue => Self::PastDue,
            Status::Paused => Self::Paused,
            Status::Canceled => Self::Canceled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_keeps_its_spelling() {
        for s in [
            Status::Active,
            Status::Trialing,
            Status::PastDue,
            Status::Paused,
            Status::Canceled,
        ] {
            let wire = serde_json::to_value(SubscriptionStatus::from(s)).unwrap();
            assert_eq!(wire, s.as_str());
        }
    }
}
