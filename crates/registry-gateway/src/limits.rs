//! Per-tenant quotas and fairness limits of the gateway, with their documented defaults.
//!
//! Every limit is answered with the registry's own error codes so clients report it sensibly: a quota
//! (stored bytes, layer size, manifest size) with `DENIED`, a rate or concurrency limit with
//! `TOOMANYREQUESTS` and `Retry-After`.

use std::time::Duration;

/// The gateway's limits. [`GatewayLimits::default`] holds the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayLimits {
    /// Bytes of new blobs one tenant may upload within [`Self::quota_window`] (finished uploads first
    /// seen in the window plus open upload sessions). Default 10 GiB. A window rather than a lifetime
    /// total: the CLI builds with `--no-cache`, so every deploy uploads new layers, and a tenant cannot
    /// delete old ones; a lifetime quota would lock a busy tenant out for good.
    pub max_tenant_bytes: u64,
    /// The window of [`Self::max_tenant_bytes`]. Default 24 h.
    pub quota_window: Duration,
    /// Largest single blob (layer or config). Default 2 GiB.
    pub max_blob_bytes: u64,
    /// Largest manifest or index body. Default 4 MiB (distribution's own limit).
    pub max_manifest_bytes: usize,
    /// Manifest bytes buffered at once by this process, over all requests. Default 64 MiB.
    pub max_buffered_manifest_bytes: usize,
    /// Open upload sessions per tenant. Default 16 (skopeo and docker push a few layers at a time).
    pub max_concurrent_uploads: u32,
    /// An upload session idle longer than this no longer counts (the client gave up). Default 15 min.
    pub upload_idle_timeout: Duration,
    /// Sustained requests per second per tenant (per process). Default 50.
    pub requests_per_second: u32,
    /// Requests a tenant may send in a burst above the sustained rate. Default 200.
    pub request_burst: u32,
}

impl Default for GatewayLimits {
    fn default() -> Self {
        Self {
            max_tenant_bytes: 10 * 1024 * 1024 * 1024,
            quota_window: Duration::from_secs(24 * 60 * 60),
            max_blob_bytes: 2 * 1024 * 1024 * 1024,
            max_manifest_bytes: 4 * 1024 * 1024,
            max_buffered_manifest_bytes: 64 * 1024 * 1024,
            max_concurrent_uploads: 16,
            upload_idle_timeout: Duration::from_secs(15 * 60),
            requests_per_second: 50,
            request_burst: 200,
        }
    }
}
