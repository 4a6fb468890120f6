//! `POST /activity` body: what the CLI reports on login and logout.

use serde::Deserialize;
use utoipa::ToSchema;

/// `{event, timestamp, data: {user_id}}`; unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityRequest {
    /// `cloud_login` or `cloud_logout`.
    pub event: String,
    /// RFC 3339, e.g. `2026-05-20T11:34:35.123456789+00:00`.
    pub timestamp: String,
    pub data: ActivityData,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityData {
    /// The user id on login, the email on logout.
    pub user_id: String,
}
