//! Signup as the CLI does it (contract §6.3): the plans offered, a checkout session per
//! `POST /checkout`, the free plan's confirmation page, and Paddle's webhooks, which create a paid
//! checkout's tenant and drive its subscription's status.
//!
//! A checkout's tenant is made exactly once: whoever moves the session from `open` to `creating` (the
//! free page's form, or the first of `transaction.completed` / `subscription.created` to arrive) makes
//! it; everyone else finds the session claimed or completed. Webhook events are stored by their id
//! before they are acted on; a redelivery of an event already acted on does nothing.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mgmt_domain::{
    BillingEvent, CheckoutPayment, CheckoutSession, CheckoutStatus, Customer, CustomerId,
    EventType, NewBillingEvent, NewCheckoutSession, NewTenantEvent, OFFERED_REGIONS, PlanOffer,
    RepoError, Repositories, SubscriptionEventUpdate, SubscriptionStatus, Tenant, TenantId,
    check_loopback_redirect, new_checkout_session_id,
};
use serde::Deserialize;
use serde_json::json;

use crate::client::PaddleApi;
use crate::error::PaddleError;
use crate::webhook::{SignatureError, WebhookVerifier, parse_event};

/// How long a session may sit in `creating` before it counts as stuck (a crash between the claim and
/// recording the tenant): creating a tenant is a few database writes, so a minute is far beyond it.
pub const STUCK_CREATING_AFTER: chrono::Duration = chrono::Duration::seconds(60);

/// Where the signup pages live and how long a session may wait.
#[derive(Debug, Clone)]
pub struct SignupSettings {
    /// `PUBLIC_API_URL` (no trailing slash): the free plan's page is `{this}/checkout/{session}`.
    pub public_api_url: String,
    /// How long a checkout session may wait for its page or its payment.
    pub session_ttl: chrono::Duration,
    /// The payment page Paddle's payment links point at (`checkout.url` of the transaction); `None`:
    /// the account's default payment link.
    pub paddle_checkout_url: Option<String>,
}

/// Why a tenant could not be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CreateTenantError {
    /// Refused for a reason the customer can read (plan limit reached, account suspended).
    #[error("{0}")]
    Refused(String),
    /// Storage or the job queue is unavailable: try again.
    #[error("tenant creation unavailable: {0}")]
    Unavailable(String),
}

/// Makes a tenant (the server implements it with the provisioner's `TenantService`).
#[async_trait]
pub trait TenantCreator: Send + Sync {
    async fn create_tenant(
        &self,
        customer: &Customer,
        name: &str,
        plan_id: &str,
        region: &str,
    ) -> Result<Tenant, CreateTenantError>;
}

/// A signup request that did not go through.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignupError {
    /// Bad input (unknown price, region, redirect); the message says what is accepted.
    #[error("{0}")]
    InvalidInput(String),
    /// Missing, or another customer's.
    #[error("checkout session not found")]
    NotFound,
    /// The session was used already, failed or expired.
    #[error("{0}")]
    Gone(String),
    /// The plan's limit of tenants is reached (before anything is paid).
    #[error("{0}")]
    QuotaExceeded(String),
    /// A paid plan on a server without Paddle configured.
    #[error("paid plans are not available on this server")]
    BillingDisabled,
    /// Paddle unreachable or its answer lost: nothing usable was recorded; retry.
    #[error("the billing provider is unavailable")]
    Unavailable(#[source] PaddleError),
    /// Paddle refused (a misconfigured price, typically).
    #[error("the billing provider refused the checkout ({0})")]
    Refused(String),
    /// The tenant could not be made (the customer may read the message).
    #[error("{0}")]
    TenantRefused(String),
    #[error(transparent)]
    Storage(#[from] RepoError),
}

/// What `POST /checkout` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutStarted {
    pub checkout_url: String,
    pub transaction_id: String,
    pub checkout_session_id: String,
}

/// Why a webhook delivery is refused or must be redelivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// No webhook secret configured (503).
    #[error("Paddle webhooks are not configured on this server")]
    NotConfigured,
    /// Bad signature (401); nothing was stored.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Not a Paddle event (400); nothing was stored.
    #[error("{0}")]
    Malformed(String),
    /// Stored, but acting on it failed for a transient reason (503: Paddle redelivers).
    #[error("the event could not be applied yet: {0}")]
    Retry(String),
    #[error(transparent)]
    Storage(#[from] RepoError),
}

/// What a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Stored and acted on; the outcome as recorded.
    Processed(String),
    /// A redelivery of an event acted on already: nothing was done.
    Duplicate,
}

/// Whether a customer may create a tenant on `plan_id` directly (`POST /tenants`): the plan is free
/// (or not sold at all: an operator's own plan), or the customer holds a confirmed payment for it whose
/// tenant is not made yet. `Err` is the customer-readable refusal.
pub async fn check_create_entitlement(
    repos: &Repositories,
    customer: CustomerId,
    plan_id: &str,
) -> Result<Result<(), String>, RepoError> {
    let Some(offer) = repos.checkout.offer_for_plan(plan_id).await? else {
        return Ok(Ok(()));
    };
    if !offer.requires_payment || repos.checkout.has_paid_claim(customer, plan_id).await? {
        return Ok(Ok(()));
    }
    Ok(Err(format!(
        "plan `{plan_id}` needs a subscription: sign up through the checkout (`cloud tenant create`)"
    )))
}

/// The signup use cases.
pub struct SignupService {
    repos: Repositories,
    paddle: Option<Arc<dyn PaddleApi>>,
    tenants: Arc<dyn TenantCreator>,
    verifier: Option<WebhookVerifier>,
    settings: SignupSettings,
}

impl std::fmt::Debug for SignupService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignupService")
            .field("paddle", &self.paddle.is_some())
            .field("webhooks", &self.verifier.is_some())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// An acted-on event's outcome prefix; a redelivery of such an event does nothing.
fn is_settled(outcome: Option<&str>) -> bool {
    outcome.is_some_and(|o| {
        o.starts_with("applied") || o.starts_with("ignored") || o.starts_with("failed")
    })
}

/// Why acting on an event stopped.
enum Stop {
    /// Redelivery may succeed (storage, tenant creation unavailable, a concurrent creation).
    Retry(String),
    /// Will not succeed by retrying (recorded, answered 200).
    Failed(String),
}

impl From<RepoError> for Stop {
    fn from(e: RepoError) -> Self {
        if e.is_transient() {
            Stop::Retry(e.to_string())
        } else {
            Stop::Failed(e.to_string())
        }
    }
}

/// The parts of a subscription entity in an event.
#[derive(Debug, Deserialize)]
struct SubscriptionData {
    id: String,
    status: String,
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    custom_data: Option<serde_json::Value>,
    #[serde(default)]
    canceled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    scheduled_change: Option<ScheduledChangeData>,
}

#[derive(Debug, Deserialize)]
struct ScheduledChangeData {
    action: String,
    effective_at: DateTime<Utc>,
}

/// The parts of a transaction entity in an event.
#[derive(Debug, Deserialize)]
struct TransactionData {
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    subscription_id: Option<String>,
    #[serde(default)]
    custom_data: Option<serde_json::Value>,
}

fn session_of(custom_data: Option<&serde_json::Value>) -> Option<String> {
    custom_data?
        .get("checkout_session_id")?
        .as_str()
        .filter(|s| mgmt_domain::is_checkout_session_id(s))
        .map(str::to_owned)
}

impl SignupService {
    pub fn new(
        repos: Repositories,
        paddle: Option<Arc<dyn PaddleApi>>,
        tenants: Arc<dyn TenantCreator>,
        verifier: Option<WebhookVerifier>,
        settings: SignupSettings,
    ) -> Self {
        Self {
            repos,
            paddle,
            tenants,
            verifier,
            settings,
        }
    }

    /// The plans on sale, smallest first.
    pub async fn plans(&self) -> Result<Vec<PlanOffer>, SignupError> {
        Ok(self.repos.checkout.offers().await?)
    }

    /// The browser's next stop once the tenant is (being) made: the CLI's callback.
    pub fn callback_url(session: &CheckoutSession) -> String {
        format!(
            "{}?status=pending&checkout_session_id={}",
            session.redirect_uri, session.id
        )
    }

    /// `POST /checkout`.
    #[tracing::instrument(skip_all, fields(customer_id = %customer.id))]
    pub async fn start_checkout(
        &self,
        customer: &Customer,
        price_id: &str,
        region: &str,
        redirect_uri: &str,
    ) -> Result<CheckoutStarted, SignupError> {
        if !OFFERED_REGIONS.contains(&region) {
            return Err(SignupError::InvalidInput(format!(
                "region must be one of {}",
                OFFERED_REGIONS.join(", ")
            )));
        }
        check_loopback_redirect(redirect_uri).map_err(SignupError::InvalidInput)?;
        let offer = match self.repos.checkout.offer_by_price(price_id).await? {
            Some(o) => o,
            None => {
                return Err(SignupError::InvalidInput(
                    "price_id is not the price of a plan on sale (GET /api/v1/checkout/plans)"
                        .to_owned(),
                ));
            }
        };
        // Refused before anyone pays for a tenant the plan's limit would refuse afterwards.
        let live = self
            .repos
            .tenants
            .count_live_for_customer(customer.id)
            .await?;
        if live >= i64::from(offer.plan.max_tenants) {
            return Err(SignupError::QuotaExceeded(format!(
                "plan `{}` allows {} tenant(s) per customer; delete one first",
                offer.plan.id, offer.plan.max_tenants
            )));
        }
        let paddle = match (offer.requires_payment, &self.paddle) {
            (true, None) => return Err(SignupError::BillingDisabled),
            (true, Some(p)) => Some(p.clone()),
            (false, _) => None,
        };
        let id = new_checkout_session_id();
        let session = self
            .repos
            .checkout
            .insert(NewCheckoutSession {
                tenant_name: format!("{}-{}-{}", offer.plan.id, region, &id[3..11]),
                id,
                customer_id: customer.id,
                plan_id: offer.plan.id.clone(),
                paddle_price_id: offer.paddle_price_id.clone(),
                region: region.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                expires_at: Utc::now() + self.settings.session_ttl,
            })
            .await?;
        let Some(paddle) = paddle else {
            return Ok(CheckoutStarted {
                checkout_url: format!("{}/checkout/{}", self.settings.public_api_url, session.id),
                // The CLI requires the field; a free checkout has no Paddle transaction.
                transaction_id: format!("free_{}", &session.id[3..]),
                checkout_session_id: session.id,
            });
        };
        let txn = paddle
            .create_transaction(
                &offer.paddle_price_id,
                &json!({ "checkout_session_id": session.id }),
                self.settings.paddle_checkout_url.as_deref(),
            )
            .await
            .map_err(|e| match e {
                PaddleError::Api { code, .. } => SignupError::Refused(code),
                // A lost answer may have left a transaction at Paddle: it is never paid for, since
                // nobody has its payment link, and the session stays without one.
                other => SignupError::Unavailable(other),
            })?;
        let Some(url) = txn.checkout.as_ref().and_then(|c| c.url.clone()) else {
            return Err(SignupError::Unavailable(PaddleError::Decode(
                "the transaction has no checkout.url (is a default payment link set?)".to_owned(),
            )));
        };
        self.repos
            .checkout
            .set_transaction(&session.id, &txn.id)
            .await?;
        tracing::info!(checkout_session_id = %session.id, transaction_id = %txn.id, "paid checkout started");
        Ok(CheckoutStarted {
            checkout_url: url,
            transaction_id: txn.id,
            checkout_session_id: session.id,
        })
    }

    /// A session by its id (the free page and the return page hold only the id).
    pub async fn session(&self, id: &str) -> Result<CheckoutSession, SignupError> {
        if !mgmt_domain::is_checkout_session_id(id) {
            return Err(SignupError::NotFound);
        }
        self.repos.checkout.get(id).await.map_err(|e| {
            if e.is_not_found() {
                SignupError::NotFound
            } else {
                e.into()
            }
        })
    }

    /// The customer's session (another customer's is not found).
    pub async fn session_for(
        &self,
        customer: CustomerId,
        id: &str,
    ) -> Result<CheckoutSession, SignupError> {
        let s = self.session(id).await?;
        if s.customer_id == customer {
            Ok(s)
        } else {
            Err(SignupError::NotFound)
        }
    }

    /// The plan offered by a session (for its page).
    pub async fn offer_for(&self, session: &CheckoutSession) -> Result<PlanOffer, SignupError> {
        self.repos
            .checkout
            .offer_for_plan(&session.plan_id)
            .await?
            .ok_or_else(|| SignupError::Gone("the plan is no longer on sale".to_owned()))
    }

    /// The free page's form: creates the tenant (once) and answers where the browser goes next.
    #[tracing::instrument(skip_all)]
    pub async fn confirm_free(&self, id: &str) -> Result<String, SignupError> {
        let session = self.session(id).await?;
        let offer = self.offer_for(&session).await?;
        if offer.requires_payment {
            return Err(SignupError::InvalidInput(
                "this checkout is paid through the billing provider's page".to_owned(),
            ));
        }
        if session.status == CheckoutStatus::Creating
            && session.updated_at < Utc::now() - STUCK_CREATING_AFTER
        {
            // A confirmation that crashed half way: this visit finishes it.
            return match self.resume(&session).await {
                Ok(_) => Ok(Self::callback_url(&session)),
                Err(Stop::Retry(why)) => Err(SignupError::TenantRefused(format!(
                    "the tenant could not be created yet ({why}); reload this page to try again"
                ))),
                Err(Stop::Failed(why)) => Err(SignupError::TenantRefused(why)),
            };
        }
        let Some(claimed) = self
            .repos
            .checkout
            .claim(id, CheckoutPayment::default())
            .await?
        else {
            return Err(SignupError::Gone(
                match session.status {
                    CheckoutStatus::Open => "this checkout has expired; run `tenant create` again",
                    CheckoutStatus::Failed => "this checkout failed; run `tenant create` again",
                    _ => "this checkout was used already",
                }
                .to_owned(),
            ));
        };
        match self.make_tenant(&claimed).await {
            Ok(_) => Ok(Self::callback_url(&claimed)),
            Err(Stop::Retry(why)) => Err(SignupError::TenantRefused(format!(
                "the tenant could not be created yet ({why}); reload this page to try again"
            ))),
            Err(Stop::Failed(why)) => Err(SignupError::TenantRefused(why)),
        }
    }

    /// Paddle's success redirect (`?_ptxn=txn_…`): the browser goes on to the CLI's callback; the
    /// checkout stream then waits for the payment's webhook.
    pub async fn paid_return(&self, transaction_id: &str) -> Result<String, SignupError> {
        let session = self
            .repos
            .checkout
            .find_by_transaction(transaction_id)
            .await?
            .ok_or(SignupError::NotFound)?;
        Ok(Self::callback_url(&session))
    }

    /// Resumes every checkout stuck in `creating` for longer than `older_than` (the billing sweep);
    /// returns how many now have their tenant. Idempotent: the tenant is looked up by the session's
    /// name before one is made, so a crash after the tenant was made only completes the session.
    pub async fn resume_stuck_checkouts(
        &self,
        older_than: chrono::Duration,
    ) -> Result<usize, RepoError> {
        let mut resumed = 0;
        for session in self
            .repos
            .checkout
            .list_creating_before(Utc::now() - older_than)
            .await?
        {
            match self.resume(&session).await {
                Ok(tenant) => {
                    resumed += 1;
                    tracing::info!(checkout_session_id = %session.id, tenant_id = %tenant, "stuck checkout resumed");
                }
                Err(Stop::Retry(why)) => {
                    tracing::warn!(checkout_session_id = %session.id, %why, "stuck checkout not resumed yet")
                }
                Err(Stop::Failed(why)) => {
                    tracing::warn!(checkout_session_id = %session.id, %why, "stuck checkout failed")
                }
            }
        }
        Ok(resumed)
    }

    /// The live tenant a session made, if it made one (its name is the session's, unique among the
    /// customer's live tenants).
    async fn tenant_named(&self, session: &CheckoutSession) -> Result<Option<TenantId>, Stop> {
        Ok(self
            .repos
            .tenants
            .list_for_customer(session.customer_id)
            .await?
            .into_iter()
            .find(|t| t.name == session.tenant_name)
            .map(|t| t.id))
    }

    /// Finishes a session claimed by someone who never completed it.
    async fn resume(&self, session: &CheckoutSession) -> Result<TenantId, Stop> {
        if let Some(tenant) = self.tenant_named(session).await? {
            self.repos.checkout.complete(&session.id, tenant).await?;
            return Ok(tenant);
        }
        let customer = self.repos.customers.get(session.customer_id).await?;
        match self
            .tenants
            .create_tenant(
                &customer,
                &session.tenant_name,
                &session.plan_id,
                &session.region,
            )
            .await
        {
            Ok(tenant) => {
                self.repos.checkout.complete(&session.id, tenant.id).await?;
                Ok(tenant.id)
            }
            Err(CreateTenantError::Refused(why)) => {
                // The original claimer may have made it in between (the name is then taken).
                if let Some(tenant) = self.tenant_named(session).await? {
                    self.repos.checkout.complete(&session.id, tenant).await?;
                    return Ok(tenant);
                }
                self.repos.checkout.fail(&session.id, &why).await?;
                Err(Stop::Failed(why))
            }
            // Stays `creating`: the next sweep (or delivery) tries again.
            Err(CreateTenantError::Unavailable(why)) => Err(Stop::Retry(why)),
        }
    }

    /// Makes the claimed session's tenant and completes the session. A refusal fails the session
    /// (its stream reports it); a transient failure opens it again for a retry.
    async fn make_tenant(&self, session: &CheckoutSession) -> Result<TenantId, Stop> {
        let customer = self.repos.customers.get(session.customer_id).await?;
        match self
            .tenants
            .create_tenant(
                &customer,
                &session.tenant_name,
                &session.plan_id,
                &session.region,
            )
            .await
        {
            Ok(tenant) => {
                self.repos.checkout.complete(&session.id, tenant.id).await?;
                tracing::info!(checkout_session_id = %session.id, tenant_id = %tenant.id, "checkout's tenant created");
                Ok(tenant.id)
            }
            Err(CreateTenantError::Refused(why)) => {
                self.repos.checkout.fail(&session.id, &why).await?;
                Err(Stop::Failed(why))
            }
            Err(CreateTenantError::Unavailable(why)) => {
                self.repos.checkout.reopen(&session.id).await?;
                Err(Stop::Retry(why))
            }
        }
    }

    /// The tenant of a paid checkout, made on the first event that reports the payment.
    async fn ensure_tenant(
        &self,
        session_id: &str,
        payment: CheckoutPayment,
    ) -> Result<(CheckoutSession, TenantId), Stop> {
        let session = self.repos.checkout.get(session_id).await?;
        match (session.status, session.tenant_id) {
            (CheckoutStatus::Completed, Some(t)) => return Ok((session, t)),
            (CheckoutStatus::Failed, _) => {
                return Err(Stop::Failed(format!(
                    "checkout {session_id} failed: {}",
                    session.failure.as_deref().unwrap_or("unknown")
                )));
            }
            (CheckoutStatus::Creating, _)
                if session.updated_at < Utc::now() - STUCK_CREATING_AFTER =>
            {
                // Claimed long ago and never completed: the claimer crashed. This delivery resumes it.
                let tenant = self.resume(&session).await?;
                return Ok((session, tenant));
            }
            (CheckoutStatus::Creating, _) | (CheckoutStatus::Completed, None) => {
                return Err(Stop::Retry("the tenant is being created".to_owned()));
            }
            (CheckoutStatus::Open, _) => {}
        }
        let Some(claimed) = self.repos.checkout.claim(session_id, payment).await? else {
            return Err(Stop::Retry(
                "the checkout was claimed concurrently or has expired".to_owned(),
            ));
        };
        let tenant = self.make_tenant(&claimed).await?;
        Ok((claimed, tenant))
    }

    /// A webhook delivery: verify, store, act (unless acted on already).
    #[tracing::instrument(skip_all)]
    pub async fn receive_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<WebhookOutcome, WebhookError> {
        let verifier = self.verifier.as_ref().ok_or(WebhookError::NotConfigured)?;
        verifier.verify(signature, body, Utc::now())?;
        let event = parse_event(body).map_err(WebhookError::Malformed)?;
        let payload: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let inserted = self
            .repos
            .billing_events
            .insert(NewBillingEvent {
                id: event.event_id.clone(),
                event_type: event.event_type.clone(),
                occurred_at: event.occurred_at,
                payload,
            })
            .await?;
        let stored = self.repos.billing_events.get(&event.event_id).await?;
        if !inserted && is_settled(stored.outcome.as_deref()) {
            tracing::info!(event_id = %stored.id, "webhook redelivery: acted on already");
            return Ok(WebhookOutcome::Duplicate);
        }
        self.process(&stored).await.map(WebhookOutcome::Processed)
    }

    /// Acts on a stored event and records the outcome (also the operator's replay).
    pub async fn process(&self, event: &BillingEvent) -> Result<String, WebhookError> {
        let outcome = match self.apply(event).await {
            Ok(o) => o,
            Err(Stop::Failed(why)) => format!("failed: {why}"),
            Err(Stop::Retry(why)) => {
                self.repos
                    .billing_events
                    .record_outcome(&event.id, &format!("retry: {why}"))
                    .await?;
                return Err(WebhookError::Retry(why));
            }
        };
        self.repos
            .billing_events
            .record_outcome(&event.id, &outcome)
            .await?;
        tracing::info!(event_id = %event.id, event_type = %event.event_type, %outcome, "billing event processed");
        Ok(outcome)
    }

    /// Re-runs a stored event (operator command). Acting is idempotent, so a replay of an applied
    /// event changes nothing.
    pub async fn replay(&self, id: &str) -> Result<String, WebhookError> {
        let event = self.repos.billing_events.get(id).await?;
        self.process(&event).await
    }

    pub async fn list_events(&self, limit: i64) -> Result<Vec<BillingEvent>, RepoError> {
        self.repos.billing_events.list(limit).await
    }

    async fn apply(&self, event: &BillingEvent) -> Result<String, Stop> {
        let data = event.payload.get("data").cloned().unwrap_or_default();
        match event.event_type.as_str() {
            "transaction.completed" | "transaction.paid" => {
                let t: TransactionData = serde_json::from_value(data)
                    .map_err(|e| Stop::Failed(format!("transaction data: {e}")))?;
                let Some(session) = session_of(t.custom_data.as_ref()) else {
                    return Ok("ignored: not one of our checkouts".to_owned());
                };
                let Some(sub) = t.subscription_id else {
                    return Ok("ignored: the transaction has no subscription".to_owned());
                };
                let payment = CheckoutPayment {
                    paddle_subscription_id: Some(sub),
                    paddle_customer_id: t.customer_id,
                };
                let (_, tenant) = self.ensure_tenant(&session, payment).await?;
                Ok(format!("applied: tenant {tenant}"))
            }
            t if t.starts_with("subscription.") => {
                let s: SubscriptionData = serde_json::from_value(data)
                    .map_err(|e| Stop::Failed(format!("subscription data: {e}")))?;
                self.apply_subscription(event, s).await
            }
            _ => Ok("ignored: event type not handled".to_owned()),
        }
    }

    async fn apply_subscription(
        &self,
        event: &BillingEvent,
        s: SubscriptionData,
    ) -> Result<String, Stop> {
        let Ok(status) = s.status.parse::<SubscriptionStatus>() else {
            return Ok(format!(
                "ignored: unknown subscription status `{}`",
                s.status
            ));
        };
        let (tenant_id, customer_id, plan_id) = match self.repos.subscriptions.get(&s.id).await? {
            Some(known) => (known.tenant_id, known.customer_id, known.plan_id),
            None => {
                let Some(session) = session_of(s.custom_data.as_ref()) else {
                    return Ok("ignored: not one of our subscriptions".to_owned());
                };
                let payment = CheckoutPayment {
                    paddle_subscription_id: Some(s.id.clone()),
                    paddle_customer_id: s.customer_id.clone(),
                };
                let (session, tenant) = self.ensure_tenant(&session, payment).await?;
                (tenant, session.customer_id, Some(session.plan_id))
            }
        };
        let scheduled_cancel_at = s
            .scheduled_change
            .as_ref()
            .filter(|c| c.action == "cancel")
            .map(|c| c.effective_at);
        let applied = self
            .repos
            .subscriptions
            .apply_event(SubscriptionEventUpdate {
                id: s.id.clone(),
                tenant_id,
                customer_id,
                paddle_customer_id: s.customer_id,
                plan_id,
                status,
                scheduled_cancel_at,
                canceled_at: s.canceled_at,
                occurred_at: event.occurred_at,
            })
            .await?;
        if let Some(sub) = applied.as_ref().filter(|s| s.created_at == s.updated_at) {
            // Just inserted: the customer sees the subscription on the tenant's event log.
            let tenant = self.repos.tenants.get(tenant_id).await?;
            let event = NewTenantEvent::new(
                tenant_id,
                EventType::SubscriptionCreated,
                tenant.state,
                Some(format!("subscription {} is {}", sub.id, sub.status)),
            );
            self.repos.events.append(event).await?;
        }
        match applied {
            Some(sub) => Ok(format!(
                "applied: subscription {} is {} (tenant {tenant_id})",
                sub.id, sub.status
            )),
            None => Ok(format!(
                "ignored: older than the subscription's last applied event ({})",
                event.occurred_at
            )),
        }
    }
}
