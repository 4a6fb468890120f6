//! Ports: the storage interfaces the use cases need, implemented by the persistence crate.
//!
//! Object-safe (`async_trait`) so services hold `Arc<dyn TenantRepository>` and tests can swap any of
//! them. Errors are one typed enum a caller can act on.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use uuid::Uuid;

use crate::billing::{Activity, CancellationRecord, NewActivity, NewSubscription, Subscription};
use crate::checkout::{
    BillingEvent, CheckoutPayment, CheckoutSession, NewBillingEvent, NewCheckoutSession, PlanOffer,
    SubscriptionEventUpdate,
};
use crate::credentials::SealedCredential;
use crate::custom_domain::{CustomDomain, NewCustomDomain};
use crate::login::{LoggedInCustomer, LoginState, NewLoginIdentity, NewLoginState};
use crate::model::*;
use crate::tenant_id::{CustomerId, TenantId};

/// A storage failure, typed so the API can map it (404, 409, 503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// A unique constraint refused the change (`what` names it in words a customer can read).
    #[error("conflict: {what}")]
    Conflict { what: String },
    /// A limit (e.g. the plan's number of tenants) would be exceeded.
    #[error("limit reached: {what}")]
    LimitReached { what: String },
    /// The row changed since it was read (optimistic concurrency).
    #[error("{entity} was changed concurrently; reload and retry")]
    StaleVersion { entity: &'static str },
    /// The database is unreachable, overloaded or timed out: retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else (a bug or a corrupt row); not retried.
    #[error("storage error: {0}")]
    Other(String),
}

/// What [`RepoError::fenced`] names: a write refused because the run's job lease moved on.
pub const FENCED_ENTITY: &str = "job lease";

impl RepoError {
    /// The error of a write whose fence no longer holds (the job was claimed again or settled).
    pub fn fenced() -> Self {
        Self::NotFound {
            entity: FENCED_ENTITY,
        }
    }

    /// Whether this is [`RepoError::fenced`] (a lost job lease).
    pub fn is_fenced(&self) -> bool {
        matches!(self, Self::NotFound { entity } if *entity == FENCED_ENTITY)
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

pub type RepoResult<T> = Result<T, RepoError>;

#[async_trait]
pub trait CustomerRepository: Send + Sync {
    async fn get(&self, id: CustomerId) -> RepoResult<Customer>;
    async fn find_by_subject(&self, subject: &str) -> RepoResult<Option<Customer>>;
    /// Returns the customer for `new.subject`, creating it if absent (safe under concurrency).
    async fn find_or_create(&self, new: NewCustomer) -> RepoResult<Customer>;
}

#[async_trait]
pub trait PlanRepository: Send + Sync {
    async fn list(&self) -> RepoResult<Vec<Plan>>;
    async fn get(&self, id: &str) -> RepoResult<Plan>;
}

#[async_trait]
pub trait TenantRepository: Send + Sync {
    /// Inserts a `pending` tenant; `Conflict` when a unique name is taken.
    async fn insert(&self, new: NewTenant) -> RepoResult<Tenant>;
    /// Inserts like [`insert`](Self::insert), but only while the customer has fewer than `max_live`
    /// tenants that are not deleted. The count and the insert are atomic per customer, so two creates
    /// at once cannot both pass the limit; `LimitReached` otherwise.
    async fn insert_within_limit(&self, new: NewTenant, max_live: i64) -> RepoResult<Tenant>;
    /// Any tenant, deleted ones included (internal use: workers, gateway).
    async fn get(&self, id: TenantId) -> RepoResult<Tenant>;
    /// The tenant only if `customer` owns it; another customer's tenant is `NotFound`, like a missing one.
    async fn get_for_customer(&self, id: TenantId, customer: CustomerId) -> RepoResult<Tenant>;
    /// A customer's tenants that are not deleted, oldest first.
    async fn list_for_customer(&self, customer: CustomerId) -> RepoResult<Vec<Tenant>>;
    /// Tenants not deleted of a customer (for the plan's `max_tenants`).
    async fn count_live_for_customer(&self, customer: CustomerId) -> RepoResult<i64>;
    /// Writes every mutable field if `tenant.row_version` is still current; returns the stored row with
    /// the next version. `StaleVersion` otherwise. Sets `deleted_at` when the state becomes `deleted`.
    async fn update(&self, tenant: &Tenant) -> RepoResult<Tenant>;
    /// Updates the tenant and appends an event in one transaction.
    async fn update_with_event(
        &self,
        tenant: &Tenant,
        event: NewTenantEvent,
    ) -> RepoResult<(Tenant, TenantEvent)>;
    /// Raises the tenant's recorded Fly secrets version to `version` (never lowers it). Outside the
    /// optimistic `row_version` scheme on purpose: it only grows, so concurrent writers cannot lose it.
    async fn raise_secrets_version(&self, id: TenantId, version: u64) -> RepoResult<()>;
    /// [`TenantRepository::update_with_event`] (or a plain update without `event`), refused with
    /// [`RepoError::fenced`] unless `fence` still holds, checked in the same transaction. `None` is
    /// unfenced (customer requests).
    async fn update_fenced(
        &self,
        tenant: &Tenant,
        event: Option<NewTenantEvent>,
        fence: Option<Fence>,
    ) -> RepoResult<Tenant>;
    /// Transactional outbox: the tenant's change, its event and the job that carries the work on are
    /// written in one transaction (a crash cannot leave the state changed with no job). With
    /// `insert_limit`, `tenant` is inserted as new (`new`) under the customer's live-tenant limit;
    /// otherwise it is updated under its row version.
    async fn write_with_job(
        &self,
        change: TenantWrite,
        event: NewTenantEvent,
        job: NewJob,
    ) -> RepoResult<Tenant>;
}

/// What [`TenantRepository::write_with_job`] writes.
#[derive(Debug, Clone)]
pub enum TenantWrite {
    /// Insert a new tenant while the customer has fewer than `max_live` live ones.
    Insert { new: NewTenant, max_live: i64 },
    /// Update the tenant under its row version.
    Update(Tenant),
}

#[async_trait]
pub trait DeploymentRepository: Send + Sync {
    async fn insert(&self, new: NewDeployment) -> RepoResult<Deployment>;
    async fn get(&self, id: Uuid) -> RepoResult<Deployment>;
    /// Newest first.
    async fn list_for_tenant(&self, tenant: TenantId) -> RepoResult<Vec<Deployment>>;
    /// The most recently requested deployment of a tenant.
    async fn latest_for_tenant(&self, tenant: TenantId) -> RepoResult<Option<Deployment>>;
    async fn mark_started(&self, id: Uuid) -> RepoResult<Deployment>;
    async fn mark_finished(
        &self,
        id: Uuid,
        status: DeploymentStatus,
        error: Option<String>,
    ) -> RepoResult<Deployment>;
    /// Marks every unfinished deployment of the tenant requested before `id` as superseded; returns how many.
    async fn supersede_older(&self, tenant: TenantId, id: Uuid) -> RepoResult<u64>;
    /// Records the digest a deployment accepted without one resolved to (the deploy job resolves it
    /// when the registry was slow at accept time). A deployment that has a digest keeps it.
    async fn set_digest(&self, id: Uuid, digest: &str) -> RepoResult<Deployment>;
}

#[async_trait]
pub trait EventRepository: Send + Sync {
    async fn append(&self, event: NewTenantEvent) -> RepoResult<TenantEvent>;
    /// Events of a tenant with `id > after`, in order, at most `limit`.
    async fn list_after(
        &self,
        tenant: TenantId,
        after: i64,
        limit: i64,
    ) -> RepoResult<Vec<TenantEvent>>;
    async fn latest(&self, tenant: TenantId) -> RepoResult<Option<TenantEvent>>;
    /// [`EventRepository::append`], refused with [`RepoError::fenced`] unless `fence` still holds.
    async fn append_fenced(
        &self,
        event: NewTenantEvent,
        fence: Option<Fence>,
    ) -> RepoResult<TenantEvent>;
}

/// A durable work queue. Claims use `FOR UPDATE SKIP LOCKED`; a running job whose lease expired may be
/// claimed again; at most one job of a tenant runs at a time.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Enqueues a job to run now. If a job of the same kind for the same tenant is already queued, that
    /// job is returned instead (so a double delete enqueues one cleanup).
    async fn enqueue(&self, job: NewJob) -> RepoResult<Job>;
    /// Claims the oldest runnable job of the given kinds for `worker`, holding it for `lease`, and counts
    /// an attempt.
    async fn claim(
        &self,
        worker: &str,
        kinds: &[JobKind],
        lease: Duration,
    ) -> RepoResult<Option<Job>>;
    /// Extends the lease of a job this worker holds; `NotFound` if it lost the lease.
    async fn heartbeat(&self, id: Uuid, worker: &str, lease: Duration) -> RepoResult<()>;
    async fn complete(&self, id: Uuid, worker: &str) -> RepoResult<()>;
    /// Records the failure and requeues the job for `run_after` (or marks it dead when out of attempts).
    async fn retry_later(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        run_after: DateTime<Utc>,
    ) -> RepoResult<Job>;
    /// Gives up on the job (it will not run again).
    async fn fail_permanently(&self, id: Uuid, worker: &str, error: &str) -> RepoResult<()>;
    async fn get(&self, id: Uuid) -> RepoResult<Job>;
    /// Jobs of a tenant, newest first.
    async fn list_for_tenant(&self, tenant: TenantId) -> RepoResult<Vec<Job>>;
    async fn stats(&self) -> RepoResult<QueueStats>;
    /// `Ok` while the job is still `running` under `fence`; [`RepoError::fenced`] otherwise.
    async fn check_fence(&self, fence: Fence) -> RepoResult<()>;
    /// Requeues a job `worker` holds for `run_after` *without* counting the attempt: for runs that
    /// did not fail (shutdown) or failed only because an upstream was down within its outage budget.
    /// Never makes the job dead.
    async fn requeue_unburned(
        &self,
        id: Uuid,
        worker: &str,
        reason: &str,
        run_after: DateTime<Utc>,
    ) -> RepoResult<Job>;
}

/// Logins in flight: each `state` is recorded once and consumed at most once.
#[async_trait]
pub trait LoginStateRepository: Send + Sync {
    /// Records a login in flight (and drops the expired ones, so the table stays small).
    async fn insert(&self, new: NewLoginState) -> RepoResult<()>;
    /// Deletes and returns the state with this hash, atomically: of two callbacks with the same state
    /// at most one gets it. `None` for an unknown or already consumed state; an expired one is
    /// returned (so the caller can still redirect to its `redirect_uri`) and must be refused by it.
    async fn consume(&self, state_hash: &str) -> RepoResult<Option<LoginState>>;
}

/// What is revoked for one bearer token: its own id, and/or every token of its subject issued up to an
/// instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Revocation {
    /// The token's `jti` is revoked.
    pub token_revoked: bool,
    /// Tokens of the subject issued at or before this instant are revoked.
    pub subject_revoked_before: Option<chrono::DateTime<chrono::Utc>>,
}

impl Revocation {
    /// Whether a token issued at `issued_at` (its `iat`, whole seconds; `None` when it has none) is
    /// revoked. A token without `iat` cannot prove it came after a subject revocation, so it is refused.
    pub fn revokes(&self, issued_at: Option<i64>) -> bool {
        if self.token_revoked {
            return true;
        }
        match (self.subject_revoked_before, issued_at) {
            (None, _) => false,
            (Some(_), None) => true,
            // `iat` has whole seconds: a token of the revocation's own second is refused too.
            (Some(before), Some(iat)) => iat <= before.timestamp(),
        }
    }
}

/// Revoked tokens (by `jti`) and subjects (every token issued before an instant).
#[async_trait]
pub trait TokenRevocationRepository: Send + Sync {
    /// Revokes one token until its own expiry (after which the row is purged); idempotent. Also purges
    /// the revocations of tokens that have expired.
    async fn revoke_token(
        &self,
        jti: &str,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> RepoResult<()>;
    /// Revokes every token of `subject` issued at or before `before` (a later call only moves it
    /// forward).
    async fn revoke_subject(
        &self,
        subject: &str,
        before: chrono::DateTime<chrono::Utc>,
    ) -> RepoResult<()>;
    /// What is revoked for a token of `subject` with id `jti` (one round trip).
    async fn check(&self, subject: &str, jti: Option<&str>) -> RepoResult<Revocation>;
}

/// Provider identities and the customers they log in as.
#[async_trait]
pub trait LoginIdentityRepository: Send + Sync {
    /// The customer of this (provider, provider user id), creating the customer and the identity on
    /// the first login (safe under concurrency); records the email and the time of this login.
    async fn login(&self, identity: NewLoginIdentity) -> RepoResult<LoggedInCustomer>;
}

/// What the registry gateway records about pushes, and what it asks before letting a tenant read.
#[async_trait]
pub trait RegistryPushRepository: Send + Sync {
    async fn record_manifest_push(&self, push: NewRegistryPush) -> RepoResult<RegistryPush>;
    /// Records that a tenant uploaded a blob (so it may read it back before pushing its manifest).
    async fn record_blob_upload(&self, tenant: TenantId, digest: &str) -> RepoResult<()>;
    /// Whether the tenant pushed this manifest digest, or uploaded or referenced this blob digest.
    async fn tenant_may_read(&self, tenant: TenantId, digest: &str) -> RepoResult<bool>;
    /// Newest first.
    async fn list_for_tenant(&self, tenant: TenantId) -> RepoResult<Vec<RegistryPush>>;
    /// The digests among `digests` the tenant may not read (empty: all are its own). One query
    /// however many digests.
    async fn unreadable_digests(
        &self,
        tenant: TenantId,
        digests: &[String],
    ) -> RepoResult<Vec<String>>;
    /// Whether the tenant pushed `digest` as a manifest of its own (by tag or by digest).
    async fn tenant_pushed_manifest(&self, tenant: TenantId, digest: &str) -> RepoResult<bool>;
    /// Whether the tenant's credentials may act now (tenant live, customer not suspended).
    async fn push_access(&self, tenant: TenantId) -> RepoResult<PushAccess>;

    /// Opens an upload session for the tenant unless it already has `max_open` sessions active within
    /// `idle` (idle ones are forgotten). `None`: the limit is reached.
    async fn reserve_upload(
        &self,
        tenant: TenantId,
        max_open: u32,
        idle: Duration,
    ) -> RepoResult<Option<Uuid>>;
    /// Binds a reservation to the upstream's upload id.
    async fn bind_upload(&self, session: Uuid, upload_id: &str) -> RepoResult<()>;
    /// The session holding the upstream upload `upload_id`.
    async fn upload_session(&self, upload_id: &str) -> RepoResult<Option<UploadSession>>;
    /// Adds streamed bytes to a session (and marks it active).
    async fn add_upload_bytes(&self, session: Uuid, bytes: u64) -> RepoResult<()>;
    /// Forgets a session (cancelled, failed, or finished).
    async fn release_upload(&self, session: Uuid) -> RepoResult<()>;
    /// Records a finished blob of `size` bytes as the tenant's, and closes `session` if given.
    async fn finish_upload(
        &self,
        tenant: TenantId,
        session: Option<Uuid>,
        digest: &str,
        size: u64,
    ) -> RepoResult<()>;
    /// Bytes the tenant uploaded: finished blobs first seen within `window`, plus sessions active within
    /// `idle`.
    async fn tenant_usage(
        &self,
        tenant: TenantId,
        window: Duration,
        idle: Duration,
    ) -> RepoResult<u64>;

    /// Records that a manifest push for the tenant is about to reach the upstream, atomically with the
    /// check that the tenant may push (a deletion cannot slip in between). `None`: it may not.
    async fn begin_manifest_push(&self, tenant: TenantId) -> RepoResult<Option<i64>>;
    /// The push answered (or failed): it is no longer in flight.
    async fn end_manifest_push(&self, id: i64) -> RepoResult<()>;
    /// Manifest pushes of the tenant begun within `window` and not ended: cleanup waits for them
    /// before it removes the tag, so a push racing a delete cannot recreate the tag afterwards.
    async fn manifest_pushes_in_flight(
        &self,
        tenant: TenantId,
        window: Duration,
    ) -> RepoResult<u64>;
}

/// Administration of tenant databases on the shared tenant PostgreSQL cluster.
#[async_trait]
pub trait TenantDatabaseAdmin: Send + Sync {
    /// Creates the role with `password` and the database owned by it; when they exist already (a retry),
    /// sets the role's password to `password` and keeps the database. Either way the role gets `limits`
    /// and only it (not PUBLIC) may connect to the database. Idempotent.
    async fn ensure_database(
        &self,
        database: &str,
        role: &str,
        password: &SecretString,
        limits: &crate::TenantDbLimits,
    ) -> RepoResult<()>;
    /// Drops the database (terminating its connections) and the role; absent ones count as done. The
    /// role loses LOGIN first, so a role whose drop fails cannot be used any more.
    async fn drop_database(&self, database: &str, role: &str) -> RepoResult<()>;
    /// Sets the existing role's password (credential rotation); `NotFound` when the role is missing.
    /// Setting the password it already has is a no-op, so a retried rotation converges.
    async fn set_password(&self, role: &str, password: &SecretString) -> RepoResult<()>;
    async fn database_exists(&self, database: &str) -> RepoResult<bool>;
    async fn role_exists(&self, role: &str) -> RepoResult<bool>;
}

/// Tenants' custom domains (one per tenant, one tenant per domain).
#[async_trait]
pub trait CustomDomainRepository: Send + Sync {
    async fn get_for_tenant(&self, tenant: TenantId) -> RepoResult<Option<CustomDomain>>;
    /// The record holding `domain` (normalised), whichever tenant it is.
    async fn find_by_domain(&self, domain: &str) -> RepoResult<Option<CustomDomain>>;
    /// `Conflict` when the tenant has a domain already or the domain is another tenant's.
    async fn insert(&self, new: NewCustomDomain) -> RepoResult<CustomDomain>;
    /// Records what Fly said about the certificate; `verified_at` is kept once set (the first issue
    /// wins). `NotFound` when the tenant has no domain (any more).
    async fn record_status(
        &self,
        tenant: TenantId,
        status: &str,
        dns_target: &str,
        verified_at: Option<DateTime<Utc>>,
    ) -> RepoResult<CustomDomain>;
    /// Removes the tenant's domain; whether there was one.
    async fn delete(&self, tenant: TenantId) -> RepoResult<bool>;
}

/// Tenants' Paddle subscriptions.
#[async_trait]
pub trait SubscriptionRepository: Send + Sync {
    /// `Conflict` when the id or the tenant has one already.
    async fn insert(&self, new: NewSubscription) -> RepoResult<Subscription>;
    async fn get_for_tenant(&self, tenant: TenantId) -> RepoResult<Option<Subscription>>;
    /// A customer's subscriptions (one per tenant at most).
    async fn list_for_customer(&self, customer: CustomerId) -> RepoResult<Vec<Subscription>>;
    /// Records a cancellation Paddle confirmed. `NotFound` for an unknown id.
    async fn record_cancellation(
        &self,
        id: &str,
        record: CancellationRecord,
    ) -> RepoResult<Subscription>;
    /// Paddle's subscription by its id.
    async fn get(&self, id: &str) -> RepoResult<Option<Subscription>>;
    /// Inserts the subscription or updates it with what a webhook event says, but only if the event is
    /// newer than the newest one applied (`occurred_at`). `Ok(None)`: an older event, nothing changed.
    async fn apply_event(
        &self,
        update: SubscriptionEventUpdate,
    ) -> RepoResult<Option<Subscription>>;
    /// What the billing sweep reads: subscriptions past due, paused or canceled, and those whose
    /// tenant's machine it stopped.
    async fn grace_candidates(&self) -> RepoResult<Vec<crate::grace::SubscriptionGrace>>;
    /// Records that the sweep stopped (`Some`) or started again (`None`) the tenant's machine.
    async fn set_machine_stopped(&self, id: &str, at: Option<DateTime<Utc>>) -> RepoResult<()>;
}

/// Plans as sold and checkout sessions.
#[async_trait]
pub trait CheckoutRepository: Send + Sync {
    /// Every plan offered at checkout (those with a price), cheapest first.
    async fn offers(&self) -> RepoResult<Vec<PlanOffer>>;
    /// The plan sold at `price_id`, if any.
    async fn offer_by_price(&self, price_id: &str) -> RepoResult<Option<PlanOffer>>;
    /// The plan's offer, if it is sold.
    async fn offer_for_plan(&self, plan_id: &str) -> RepoResult<Option<PlanOffer>>;
    async fn insert(&self, new: NewCheckoutSession) -> RepoResult<CheckoutSession>;
    async fn get(&self, id: &str) -> RepoResult<CheckoutSession>;
    /// Records Paddle's transaction of the session (once).
    async fn set_transaction(&self, id: &str, transaction_id: &str) -> RepoResult<CheckoutSession>;
    /// Moves an open, unexpired session to `creating`, recording the payment: the one claim that
    /// creates the tenant. `Ok(None)` when it is not open (claimed already, done, failed or expired).
    async fn claim(
        &self,
        id: &str,
        payment: CheckoutPayment,
    ) -> RepoResult<Option<CheckoutSession>>;
    /// `creating` → `completed` with the tenant made.
    async fn complete(&self, id: &str, tenant: TenantId) -> RepoResult<CheckoutSession>;
    /// Gives the session up, with a reason a customer may read.
    async fn fail(&self, id: &str, why: &str) -> RepoResult<CheckoutSession>;
    /// `creating` → `open` again after a creation that failed for a transient reason (a retry may
    /// claim it again).
    async fn reopen(&self, id: &str) -> RepoResult<()>;
    /// The session of a Paddle transaction.
    async fn find_by_transaction(
        &self,
        transaction_id: &str,
    ) -> RepoResult<Option<CheckoutSession>>;
    /// Whether the customer holds a confirmed (paid) checkout of `plan_id` whose tenant is not made yet:
    /// the entitlement a paid plan's creation needs.
    async fn has_paid_claim(&self, customer: CustomerId, plan_id: &str) -> RepoResult<bool>;
    /// Sessions claimed (`creating`) and not touched since `before`: a crash between the claim and
    /// recording the tenant left them; the billing sweep resumes them.
    async fn list_creating_before(&self, before: DateTime<Utc>)
    -> RepoResult<Vec<CheckoutSession>>;
}

/// Paddle's webhook events, stored before they are acted on.
#[async_trait]
pub trait BillingEventRepository: Send + Sync {
    /// Stores the event; `false` when its id is stored already (a redelivery: do nothing).
    async fn insert(&self, new: NewBillingEvent) -> RepoResult<bool>;
    async fn get(&self, id: &str) -> RepoResult<BillingEvent>;
    /// The newest `limit` events, newest first.
    async fn list(&self, limit: i64) -> RepoResult<Vec<BillingEvent>>;
    /// Records what acting on it did (and counts an attempt).
    async fn record_outcome(&self, id: &str, outcome: &str) -> RepoResult<()>;
}

/// What the CLI reports on login and logout.
#[async_trait]
pub trait ActivityRepository: Send + Sync {
    async fn record(&self, new: NewActivity) -> RepoResult<Activity>;
    /// A customer's newest activities first, at most `limit`.
    async fn list_for_customer(
        &self,
        customer: CustomerId,
        limit: i64,
    ) -> RepoResult<Vec<Activity>>;
}

/// Tenants' sealed credentials (database password, platform `JWT_SECRET`). The provisioner's vault
/// seals and opens them; storage sees ciphertext only.
#[async_trait]
pub trait TenantCredentialRepository: Send + Sync {
    async fn get(&self, tenant: TenantId, name: &str) -> RepoResult<Option<SealedCredential>>;
    /// Every credential of the tenant, by name.
    async fn list(&self, tenant: TenantId) -> RepoResult<Vec<SealedCredential>>;
    /// Stores `value` unless the tenant has a credential of that name already, and returns the stored
    /// one: concurrent first writers all end up with the same value.
    async fn insert_if_absent(
        &self,
        tenant: TenantId,
        value: &SealedCredential,
    ) -> RepoResult<SealedCredential>;
    /// Stores `value`, replacing the tenant's credential of that name.
    async fn put(&self, tenant: TenantId, value: &SealedCredential) -> RepoResult<()>;
    /// In one transaction: stores `value` (replacing its name's credential) and removes `consumed` if
    /// that name still holds exactly it (same nonce). Whether `consumed` was removed.
    async fn promote(
        &self,
        tenant: TenantId,
        value: &SealedCredential,
        consumed: &SealedCredential,
    ) -> RepoResult<bool>;
    /// Removes every credential of the tenant (cleanup); how many there were.
    async fn delete_for_tenant(&self, tenant: TenantId) -> RepoResult<u64>;
}

/// Every repository in one bundle, as the services receive them.
#[derive(Clone)]
pub struct Repositories {
    pub customers: std::sync::Arc<dyn CustomerRepository>,
    pub plans: std::sync::Arc<dyn PlanRepository>,
    pub tenants: std::sync::Arc<dyn TenantRepository>,
    pub deployments: std::sync::Arc<dyn DeploymentRepository>,
    pub events: std::sync::Arc<dyn EventRepository>,
    pub jobs: std::sync::Arc<dyn JobQueue>,
    pub registry_pushes: std::sync::Arc<dyn RegistryPushRepository>,
    pub tenant_credentials: std::sync::Arc<dyn TenantCredentialRepository>,
    pub custom_domains: std::sync::Arc<dyn CustomDomainRepository>,
    pub subscriptions: std::sync::Arc<dyn SubscriptionRepository>,
    pub checkout: std::sync::Arc<dyn CheckoutRepository>,
    pub billing_events: std::sync::Arc<dyn BillingEventRepository>,
    pub activity: std::sync::Arc<dyn ActivityRepository>,
    pub login_states: std::sync::Arc<dyn LoginStateRepository>,
    pub login_identities: std::sync::Arc<dyn LoginIdentityRepository>,
    pub revocations: std::sync::Arc<dyn TokenRevocationRepository>,
}

impl std::fmt::Debug for Repositories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repositories").finish_non_exhaustive()
    }
}
