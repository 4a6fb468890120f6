//! Plans and checkout on the wire (contract §3.9, §3.13): `Plan` in a bare array, the checkout request
//! and its bare answer, and the checkout stream's `CheckoutEvent`.

use mgmt_domain::{EventType, PlanOffer};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An element of `GET /checkout/plans` (a bare array).
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanWire {
    pub id: String,
    pub name: String,
    /// What `POST /checkout` takes as `price_id`.
    pub paddle_price_id: String,
    pub memory_mb_default: i32,
    pub volume_gb: i32,
    pub max_tenants: i32,
    /// Extra field (the CLI ignores it): whether checkout goes through Paddle.
    pub requires_payment: bool,
}

impl From<&PlanOffer> for PlanWire {
    fn from(o: &PlanOffer) -> Self {
        Self {
            id: o.plan.id.clone(),
            name: o.plan.name.clone(),
            paddle_price_id: o.paddle_price_id.clone(),
            memory_mb_default: o.plan.memory_mb,
            volume_gb: o.plan.volume_gb,
            max_tenants: o.plan.max_tenants,
            requires_payment: o.requires_payment,
        }
    }
}

/// `POST /checkout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    pub price_id: String,
    pub region: String,
    /// The CLI's loopback callback, `http://127.0.0.1:<port>/<path>`.
    pub redirect_uri: String,
}

/// The bare answer of `POST /checkout`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutResponse {
    pub checkout_url: String,
    pub transaction_id: String,
    pub checkout_session_id: String,
}

/// Data of one `event: provisioning` on the checkout stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutEventData {
    pub checkout_session_id: String,
    /// Empty only on a `provisioning_failed` of a checkout whose tenant was never made.
    pub tenant_id: String,
    pub tenant_name: String,
    #[schema(value_type = String)]
    pub event_type: EventType,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fly_app_name: Option<String>,
}
