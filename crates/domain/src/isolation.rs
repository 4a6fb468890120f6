//! What keeps one tenant from hurting the image it runs or its neighbours: where the tenant's volume may
//! be mounted (never over content the image ships) and the limits its database role gets on the shared
//! cluster.

/// Paths the tenant image populates (cli-contract §8.3): a volume mounted at, above or below one of them
/// up to the populated content would hide what the image ships (the services tree, the boot profile,
/// binaries, static files, built web assets).
pub const IMAGE_POPULATED_PATHS: &[&str] = &[
    "/app/bin",
    "/app/services",
    "/app/services/profiles",
    "/app/storage",
    "/app/web",
    "/app/web/dist",
];

/// Paths under the populated ones that the image only creates empty (§8.3): a volume may cover these.
pub const IMAGE_EMPTY_PATHS: &[&str] = &[
    "/app/logs",
    "/app/storage/files/uploads",
    "/app/storage/files/images/generated",
];

/// The default mount: the upload directory is where the tenant's process writes the files its users
/// upload (the data worth keeping across deploys), and the image creates it empty.
pub const DEFAULT_VOLUME_MOUNT_PATH: &str = "/app/storage/files/uploads";

/// Checks a volume mount path: absolute, below `/`, no `..`, no whitespace, and not at or above an
/// image-populated path, nor inside one unless it is one of the paths the image only creates empty (or
/// below those). Returns the path without a trailing `/`; the error says why, without a prefix.
pub fn check_volume_mount_path(value: &str) -> Result<String, String> {
    let syntactic = value.starts_with('/')
        && value.len() > 1
        && !value.split('/').any(|part| part == ".." || part == ".")
        && !value.contains("//")
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if !syntactic {
        return Err(format!("`{value}` is not an absolute path below `/`"));
    }
    let path = value.trim_end_matches('/');
    let is_within =
        |inner: &str, outer: &str| inner == outer || inner.starts_with(&format!("{outer}/"));
    for populated in IMAGE_POPULATED_PATHS {
        if is_within(populated, path) {
            return Err(format!(
                "`{path}` would hide `{populated}`, which the tenant image populates (cli-contract §8.3); \
                 use a path the image creates empty, such as {DEFAULT_VOLUME_MOUNT_PATH}"
            ));
        }
        if is_within(path, populated) && !IMAGE_EMPTY_PATHS.iter().any(|e| is_within(path, e)) {
            return Err(format!(
                "`{path}` is inside `{populated}`, which the tenant image populates; only {} may be \
                 mounted there",
                IMAGE_EMPTY_PATHS.join(", ")
            ));
        }
    }
    Ok(path.to_owned())
}

/// Limits of a tenant's database role, from its plan: PostgreSQL enforces them per role (`CONNECTION
/// LIMIT`, and `statement_timeout` / `idle_in_transaction_session_timeout` set on the role), so one
/// tenant cannot exhaust the shared cluster's connections or hold locks and snapshots open forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TenantDbLimits {
    /// Concurrent connections of the role (at least 1).
    pub connection_limit: i32,
    /// `statement_timeout` in milliseconds (at least 1: 0 would disable it).
    pub statement_timeout_ms: i32,
    /// `idle_in_transaction_session_timeout` in milliseconds (at least 1).
    pub idle_in_transaction_timeout_ms: i32,
}

/// The plans table's column defaults (a plan inserted without limits gets these).
impl Default for TenantDbLimits {
    fn default() -> Self {
        Self {
            connection_limit: 10,
            statement_timeout_ms: 30_000,
            idle_in_transaction_timeout_ms: 60_000,
        }
    }
}

impl TenantDbLimits {
    /// Whether every limit is set (a zero or negative value would mean "unlimited" to PostgreSQL).
    pub fn is_valid(&self) -> bool {
        self.connection_limit >= 1
            && self.statement_timeout_ms >= 1
            && self.idle_in_transaction_timeout_ms >= 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_over_image_content_are_refused() {
        for ok in [
            "/data",
            "/app/storage/files/uploads",
            "/app/storage/files/uploads/",
            "/app/storage/files/uploads/x",
            "/app/logs",
            "/app/storage/files/images/generated",
            "/srv/tenant",
        ] {
            assert!(check_volume_mount_path(ok).is_ok(), "{ok}");
        }
        assert_eq!(check_volume_mount_path("/data/").unwrap(), "/data");
        for hides in [
            "/app",
            "/app/services",
            "/app/services/",
            "/app/services/profiles",
            "/app/services/profiles/x",
            "/app/storage",
            "/app/storage/files",
            "/app/storage/files/images",
            "/app/web",
            "/app/web/dist",
            "/app/bin",
        ] {
            let err = check_volume_mount_path(hides).unwrap_err();
            assert!(err.contains("populates"), "{hides}: {err}");
        }
        for bad in ["/", "", "data", "/a/../b", "/a/./b", "/a//b", "/with space"] {
            let err = check_volume_mount_path(bad).unwrap_err();
            assert!(err.contains("absolute path"), "{bad}: {err}");
        }
    }

    #[test]
    fn limits_must_all_be_positive() {
        let ok = TenantDbLimits {
            connection_limit: 5,
            statement_timeout_ms: 1,
            idle_in_transaction_timeout_ms: 1,
        };
        assert!(ok.is_valid());
        assert!(
            !TenantDbLimits {
                connection_limit: 0,
                ..ok
            }
            .is_valid()
        );
        assert!(
            !TenantDbLimits {
                statement_timeout_ms: 0,
                ..ok
            }
            .is_valid()
        );
        assert!(
            !TenantDbLimits {
                idle_in_transaction_timeout_ms: -1,
                ..ok
            }
            .is_valid()
        );
    }
}
