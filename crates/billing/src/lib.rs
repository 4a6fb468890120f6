#![doc = include_str!("../README.md")]

mod cancel;
mod client;
mod error;
mod models;
mod signup;
mod webhook;

pub use cancel::{CancelError, SubscriptionService};
pub use client::{HttpPaddle, PaddleApi, PaddleConfig};
pub use error::PaddleError;
pub use models::{
    EffectiveFrom, PaddleSubscription, PaddleTransaction, ScheduledChange, TransactionCheckout,
};
pub use signup::{
    CheckoutStarted, CreateTenantError, STUCK_CREATING_AFTER, SignupError, SignupService,
    SignupSettings, TenantCreator, WebhookError, WebhookOutcome, check_create_entitlement,
};
pub use webhook::{
    MAX_WEBHOOK_BYTES, SignatureError, WebhookEvent, WebhookVerifier, parse_event, sign,
};
