//! Cancelling a tenant's subscription at Paddle, at the end of the billing period.
//!
//! Nothing is recorded unless Paddle confirmed it. A repeat is harmless: a subscription already
//! canceled or scheduled to cancel is done without calling Paddle, and when Paddle already acted on an
//! earlier call whose answer was lost, its refusal sends us to read the subscription back and record
//! what it holds (see the crate's README for the mapping of Paddle's answers).

use std::sync::Arc;

use mgmt_domain::{
    CancellationRecord, CustomerId, RepoError, Repositories, Subscription, SubscriptionStatus,
    TenantId, TenantState,
};

use crate::client::PaddleApi;
use crate::error::PaddleError;
use crate::models::{EffectiveFrom, PaddleSubscription};

/// Paddle's refusals that mean "this subscription already has a cancel (or another change) pending or
/// is canceled": the subscription is read back instead.
const ALREADY_CHANGED: [&str; 2] = [
    "subscription_locked_pending_changes",
    "subscription_update_when_canceled",
];

/// Why a cancel did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CancelError {
    /// Missing, deleted or another customer's tenant (indistinguishable on purpose).
    #[error("tenant not found")]
    TenantNotFound,
    #[error("the tenant has no subscription")]
    SubscriptionNotFound,
    /// Paddle holds another change for the subscription (e.g. a pause); it must be dealt with first.
    #[error("{0}")]
    Conflict(String),
    /// Paddle could not be reached, or its answer was lost: nothing was recorded; retry.
    #[error("billing provider unavailable")]
    Unavailable(#[source] PaddleError),
    /// Paddle refused the cancellation for a reason a retry will not change.
    #[error("billing provider refused the cancellation ({code})")]
    Refused {
        code: String,
        #[source]
        source: PaddleError,
    },
    #[error(transparent)]
    Storage(RepoError),
}

impl From<RepoError> for CancelError {
    fn from(e: RepoError) -> Self {
        Self::Storage(e)
    }
}

/// The subscription use cases.
pub struct SubscriptionService {
    repos: Repositories,
    paddle: Arc<dyn PaddleApi>,
}

impl std::fmt::Debug for SubscriptionService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionService")
            .finish_non_exhaustive()
    }
}

impl SubscriptionService {
    pub fn new(repos: Repositories, paddle: Arc<dyn PaddleApi>) -> Self {
        Self { repos, paddle }
    }

    /// Cancels the tenant's subscription at the end of its billing period; idempotent.
    #[tracing::instrument(skip(self))]
    pub async fn cancel(
        &self,
        customer: CustomerId,
        tenant: TenantId,
    ) -> Result<Subscription, CancelError> {
        let t = match self.repos.tenants.get_for_customer(tenant, customer).await {
            Ok(t) => t,
            Err(RepoError::NotFound { .. }) => return Err(CancelError::TenantNotFound),
            Err(e) => return Err(e.into()),
        };
        if t.state == TenantState::Deleted {
            return Err(CancelError::TenantNotFound);
        }
        let sub = self
            .repos
            .subscriptions
            .get_for_tenant(tenant)
            .await?
            .ok_or(CancelError::SubscriptionNotFound)?;
        if sub.cancel_settled() {
            return Ok(sub);
        }
        let confirmed = match self
            .paddle
            .cancel_subscription(&sub.id, EffectiveFrom::NextBillingPeriod)
            .await
        {
            Ok(s) => s,
            Err(e) if e.code().is_some_and(|c| ALREADY_CHANGED.contains(&c)) => {
                // An earlier cancel may have acted and lost its answer: see what Paddle holds.
                tracing::info!(subscription = %sub.id, code = e.code(), "Paddle refused a repeat; reading the subscription back");
                self.paddle
                    .get_subscription(&sub.id)
                    .await
                    .map_err(paddle_error)?
            }
            Err(e) => return Err(paddle_error(e)),
        };
        let record = cancellation(&confirmed)?;
        let stored = self
            .repos
            .subscriptions
            .record_cancellation(&sub.id, record)
            .await?;
        tracing::info!(subscription = %sub.id, tenant_id = %tenant, status = %stored.status, "subscription cancellation recorded");
        Ok(stored)
    }
}

fn paddle_error(e: PaddleError) -> CancelError {
    match e {
        e if e.is_transient() => CancelError::Unavailable(e),
        PaddleError::Api { ref code, .. } => CancelError::Refused {
            code: code.clone(),
            source: e,
        },
        other => CancelError::Refused {
            code: "unexpected_answer".to_owned(),
            source: other,
        },
    }
}

/// What to record of Paddle's subscription: canceled, or scheduled to cancel. Anything else means the
/// cancel did not take (another change is pending).
fn cancellation(s: &PaddleSubscription) -> Result<CancellationRecord, CancelError> {
    let status: SubscriptionStatus = s.status.parse().map_err(|_| CancelError::Refused {
        code: "unexpected_answer".to_owned(),
        source: PaddleError::Decode(format!("unknown subscription status `{}`", s.status)),
    })?;
    let scheduled = s.scheduled_cancel_at();
    if status != SubscriptionStatus::Canceled && scheduled.is_none() {
        return Err(CancelError::Conflict(
            "the subscription has another change pending at the billing provider; contact support"
                .to_owned(),
        ));
    }
    Ok(CancellationRecord {
        status,
        scheduled_cancel_at: scheduled,
        canceled_at: s.canceled_at,
    })
}
