//! Configuration of one mock-fly instance: token, delays and the registry's optional capabilities.

use std::time::Duration;

/// How registry DELETEs behave, to imitate registries with and without tag deletion (and without
/// deletion at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagDeleteSupport {
    /// distribution v3, zot, GitLab: 202 and only the tag goes away.
    #[default]
    Supported,
    /// distribution 2.8 with deletion enabled: a tag DELETE is 400 `DIGEST_INVALID` and deletes
    /// nothing; manifest DELETE by digest and blob DELETE work.
    BadRequest400,
    /// distribution with deletion disabled (`REGISTRY_STORAGE_DELETE_ENABLED` unset): every manifest
    /// and blob DELETE, by tag or digest, is 405 `UNSUPPORTED` (cancelling an upload still works).
    MethodNotAllowed405,
}

/// Everything a test may tune. `Default` gives a fast, strict, well-behaved Fly.
#[derive(Debug, Clone)]
pub struct MockFlyConfig {
    /// The only credential accepted (`Bearer`/`FlyV1` on `/v1`, Basic password on `/v2`).
    pub token: String,
    /// A created app answers 404 on every app-scoped route for this long (Fly is eventually consistent).
    pub app_visibility_delay: Duration,
    pub tag_delete: TagDeleteSupport,
    /// Time a machine spends in `starting` before it is `started`.
    pub machine_start_delay: Duration,
    /// Time a machine spends in `stopping` before it is `stopped`.
    pub machine_stop_delay: Duration,
    /// Per action per machine/app token buckets like Fly's (1 req/s burst 3; get machine 5/s burst 10).
    pub rate_limits: bool,
    /// Refuse machines whose image names this mock's registry host but is not in it (as Fly refuses an
    /// image it cannot resolve). Images on other hosts are always accepted.
    pub require_registry_images: bool,
    /// Organisation slugs accepted by `POST /v1/apps`; empty accepts any non-empty slug.
    pub org_slugs: Vec<String>,
    /// Accept a whole blob in `POST .../blobs/uploads/?digest=` (201). distribution 2.8 does not: it
    /// answers 202 and opens a session, ignoring the body; `false` imitates that.
    pub monolithic_post_upload: bool,
    /// Largest manifest accepted, like distribution's 4 MiB limit.
    pub max_manifest_bytes: usize,
    /// Deletes are asynchronous on Fly: for this long a deleted app still answers (status
    /// `suspended`, its name still taken), a deleted volume is listed as `pending_destroy` and a
    /// destroyed machine is `destroying` before it becomes `destroyed`.
    pub destroy_delay: Duration,
}

impl Default for MockFlyConfig {
    fn default() -> Self {
        Self {
            token: "mock-fly-token".to_owned(),
            app_visibility_delay: Duration::ZERO,
            tag_delete: TagDeleteSupport::Supported,
            machine_start_delay: Duration::from_millis(50),
            machine_stop_delay: Duration::from_millis(10),
            rate_limits: false,
            require_registry_images: true,
            org_slugs: Vec::new(),
            monolithic_post_upload: true,
            max_manifest_bytes: 4 * 1024 * 1024,
            destroy_delay: Duration::from_millis(50),
        }
    }
}
