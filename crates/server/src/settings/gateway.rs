//! The registry gateway's checked settings: its signing key, the credential lifetime and the per-tenant
//! limits ([`GatewayLimits`]). Nothing is clamped: a value out of range stops start-up, naming the
//! variable. Neither the signing key nor `JWT_SECRET` is ever echoed.

use std::ops::RangeInclusive;
use std::time::Duration;

use mgmt_registry_gateway::limits::GatewayLimits;
use secrecy::{ExposeSecret, SecretString};

use super::{RawSettings, SettingsError};

/// Shortest accepted `GATEWAY_SIGNING_KEY`, in bytes (an HMAC key shorter than its 256-bit output
/// weakens it).
pub const MIN_SIGNING_KEY_BYTES: usize = 32;
/// Accepted `GATEWAY_CREDENTIAL_TTL_SECS`: at least a minute, at most a day (a leaked credential must die).
pub const CREDENTIAL_TTL_SECS: RangeInclusive<u64> = 60..=86_400;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// The signing key, checked: long enough and not the user-token secret.
pub(super) fn signing_key(
    key: SecretString,
    jwt_secret: Option<&SecretString>,
) -> Result<SecretString, SettingsError> {
    let bytes = key.expose_secret().as_bytes();
    if bytes.len() < MIN_SIGNING_KEY_BYTES {
        return Err(SettingsError::new(format!(
            "GATEWAY_SIGNING_KEY must be at least {MIN_SIGNING_KEY_BYTES} bytes \
             (e.g. `openssl rand -hex 32`)"
        )));
    }
    if jwt_secret.is_some_and(|jwt| jwt.expose_secret().as_bytes() == bytes) {
        return Err(SettingsError::new(
            "GATEWAY_SIGNING_KEY must differ from JWT_SECRET",
        ));
    }
    Ok(key)
}

/// `GATEWAY_CREDENTIAL_TTL_SECS`, checked.
pub(super) fn credential_ttl(secs: u64) -> Result<Duration, SettingsError> {
    in_range(secs, CREDENTIAL_TTL_SECS, "GATEWAY_CREDENTIAL_TTL_SECS").map(Duration::from_secs)
}

/// The `GATEWAY_MAX_*`, `GATEWAY_UPLOAD_*` and `GATEWAY_REQUEST*` settings, checked, as the gateway's
/// limits.
pub(super) fn limits(raw: &RawSettings) -> Result<GatewayLimits, SettingsError> {
    let max_tenant_bytes = in_range(
        raw.gateway_max_tenant_bytes,
        MIB..=u64::MAX,
        "GATEWAY_MAX_TENANT_BYTES",
    )?;
    let quota_window_secs = in_range(
        raw.gateway_quota_window_secs,
        3_600..=30 * 86_400,
        "GATEWAY_QUOTA_WINDOW_SECS",
    )?;
    let max_blob_bytes = in_range(
        raw.gateway_max_blob_bytes,
        KIB..=u64::MAX,
        "GATEWAY_MAX_BLOB_BYTES",
    )?;
    if max_blob_bytes > max_tenant_bytes {
        return Err(SettingsError::new(format!(
            "GATEWAY_MAX_BLOB_BYTES ({max_blob_bytes}) must not exceed \
             GATEWAY_MAX_TENANT_BYTES ({max_tenant_bytes})"
        )));
    }
    let max_manifest_bytes = in_range(
        raw.gateway_max_manifest_bytes,
        4 * KIB..=16 * MIB,
        "GATEWAY_MAX_MANIFEST_BYTES",
    )?;
    let max_buffered_manifest_bytes = in_range(
        raw.gateway_max_buffered_manifest_bytes,
        max_manifest_bytes..=u64::MAX,
        "GATEWAY_MAX_BUFFERED_MANIFEST_BYTES",
    )
    .map_err(|e| {
        SettingsError::new(format!(
            "{e} (at least GATEWAY_MAX_MANIFEST_BYTES, a whole manifest must fit)"
        ))
    })?;
    let max_concurrent_uploads = in_range(
        raw.gateway_max_concurrent_uploads,
        1..=1_000,
        "GATEWAY_MAX_CONCURRENT_UPLOADS",
    )?;
    let upload_idle_timeout_secs = in_range(
        raw.gateway_upload_idle_timeout_secs,
        60..=86_400,
        "GATEWAY_UPLOAD_IDLE_TIMEOUT_SECS",
    )?;
    let requests_per_second = in_range(
        raw.gateway_requests_per_second,
        1..=100_000,
        "GATEWAY_REQUESTS_PER_SECOND",
    )?;
    let request_burst = in_range(
        raw.gateway_request_burst,
        requests_per_second..=u64::MAX,
        "GATEWAY_REQUEST_BURST",
    )
    .map_err(|e| SettingsError::new(format!("{e} (at least GATEWAY_REQUESTS_PER_SECOND)")))?;
    Ok(GatewayLimits {
        max_tenant_bytes,
        quota_window: Duration::from_secs(quota_window_secs),
        max_blob_bytes,
        max_manifest_bytes: narrow(max_manifest_bytes, "GATEWAY_MAX_MANIFEST_BYTES")?,
        max_buffered_manifest_bytes: narrow(
            max_buffered_manifest_bytes,
            "GATEWAY_MAX_BUFFERED_MANIFEST_BYTES",
        )?,
        max_concurrent_uploads: narrow(max_concurrent_uploads, "GATEWAY_MAX_CONCURRENT_UPLOADS")?,
        upload_idle_timeout: Duration::from_secs(upload_idle_timeout_secs),
        requests_per_second: narrow(requests_per_second, "GATEWAY_REQUESTS_PER_SECOND")?,
        request_burst: narrow(request_burst, "GATEWAY_REQUEST_BURST")?,
    })
}

/// `value` if it lies in `range`, else an error naming `var` and the accepted range.
fn in_range(value: u64, range: RangeInclusive<u64>, var: &str) -> Result<u64, SettingsError> {
    if range.contains(&value) {
        return Ok(value);
    }
    let (lo, hi) = range.into_inner();
    let accepted = if hi == u64::MAX {
        format!("at least {lo}")
    } else {
        format!("{lo} to {hi}")
    };
    Err(SettingsError::new(format!(
        "{var}: {value} is out of range, expected {accepted}"
    )))
}

/// A range-checked value into the limit's own integer type: an error naming `var` when it does not
/// fit (a burst above `u32::MAX`, a buffer above `usize::MAX`), never a panic or a silent wrap.
fn narrow<T: TryFrom<u64>>(value: u64, var: &str) -> Result<T, SettingsError> {
    T::try_from(value)
        .map_err(|_| SettingsError::new(format!("{var}: {value} is too large for this platform")))
}
