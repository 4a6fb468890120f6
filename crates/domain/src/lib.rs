#![doc = include_str!("../README.md")]

pub mod billing;
pub mod checkout;
pub mod credentials;
pub mod custom_domain;
pub mod deploy_rule;
pub mod dns;
pub mod email;
pub mod error_chain;
pub mod events;
pub mod grace;
pub mod image_ref;
pub mod isolation;
pub mod lifecycle;
pub mod login;
pub mod manifest;
pub mod model;
pub mod naming;
pub mod ports;
pub mod reconcile;
pub mod secret_name;
pub mod tenant_id;

pub use billing::{
    ACTIVITY_USER_ID_MAX, Activity, ActivityKind, CancellationRecord, NewActivity, NewSubscription,
    Subscription, SubscriptionStatus,
};
pub use checkout::{
    BillingEvent, CheckoutPayment, CheckoutSession, CheckoutStatus, Entitlement, NewBillingEvent,
    NewCheckoutSession, PlanOffer, SubscriptionEventUpdate, check_loopback_redirect, entitlement,
    is_billing_event_id, is_checkout_session_id, is_newer, new_checkout_session_id,
};
pub use credentials::{SealedCredential, valid_credential_name};
pub use custom_domain::{
    CustomDomain, DNS_RECORD_TTL, DNS_RECORD_TYPE, DomainNameError, NewCustomDomain,
    normalize_custom_domain,
};
pub use deploy_rule::{DeployImage, DeployImageError, RegistryTarget};
pub use dns::{DnsDeleted, DnsEnsured, DnsError, DnsRecords};
pub use error_chain::ErrorChain;
pub use events::EventType;
pub use grace::{BillingGrace, BillingSweepReport, GraceAction, SubscriptionGrace, grace_action};
pub use image_ref::{Digest, ImageRef, ImageRefError, ManifestReference};
pub use isolation::{
    DEFAULT_VOLUME_MOUNT_PATH, IMAGE_POPULATED_PATHS, TenantDbLimits, check_volume_mount_path,
};
pub use lifecycle::{CliStatus, TenantInfoStatus, TenantState, TransitionError};
pub use login::{LoggedInCustomer, LoginProvider, LoginState, NewLoginIdentity, NewLoginState};
pub use manifest::{ManifestError, ManifestKind, ParsedManifest, media_type, parse_manifest};
pub use model::*;
pub use ports::*;
pub use reconcile::{
    DriftKind, Finding, FindingRecord, Leadership, ReconcileStats, ReconcileStore,
};
pub use secret_name::{SECRET_NAME_LENGTH_MAX, SecretName, SecretNameError};
pub use tenant_id::{CustomerId, TenantId, TenantIdError};
