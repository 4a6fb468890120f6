#![doc = include_str!("../README.md")]

mod cancel;
mod client;
mod error;
mod models;

pub use cancel::{CancelError, SubscriptionService};
pub use client::{HttpPaddle, PaddleApi, PaddleConfig};
pub use error::PaddleError;
pub use models::{EffectiveFrom, PaddleSubscription, ScheduledChange};
