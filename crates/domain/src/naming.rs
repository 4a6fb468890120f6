//! Names derived from a tenant id: Fly app, hostnames, database, role, image tag and full image.
//!
//! Every resource a tenant owns is found again (for retry and cleanup) by recomputing its name from the
//! tenant id, so these functions are the single place those spellings live.

use crate::TenantId;

/// Fly app name: `sp-{first 12 hex}`.
pub fn fly_app_name(id: &TenantId) -> String {
    format!("sp-{}", id.short_hex())
}

/// Public hostname: `{12hex}.{subdomain_suffix}` (the suffix without a leading dot).
pub fn public_hostname(id: &TenantId, subdomain_suffix: &str) -> String {
    format!(
        "{}.{}",
        id.short_hex(),
        subdomain_suffix.trim_start_matches('.')
    )
}

/// Public URL of the tenant's app.
pub fn app_url(id: &TenantId, subdomain_suffix: &str) -> String {
    format!("https://{}", public_hostname(id, subdomain_suffix))
}

/// Private-network hostname of the tenant's app inside the Fly organisation: `sp-{12hex}.internal`.
pub fn internal_hostname(id: &TenantId) -> String {
    format!("{}.internal", fly_app_name(id))
}

/// The tenant app's own Fly private network: `tenant-{12hex}` (apps in different networks cannot reach
/// each other over 6PN).
pub fn fly_network_name(id: &TenantId) -> String {
    format!("tenant-{}", id.short_hex())
}

/// Tenant database on the shared cluster: `site_{12hex}`.
pub fn tenant_database_name(id: &TenantId) -> String {
    format!("site_{}", id.short_hex())
}

/// Tenant database role on the shared cluster: `tenant_{12hex}`.
pub fn tenant_role_name(id: &TenantId) -> String {
    format!("tenant_{}", id.short_hex())
}

/// The one tag a tenant owns in the shared repository: `tenant-{id}`.
pub fn image_tag(id: &TenantId) -> String {
    format!("tenant-{id}")
}

/// The full image a tenant pushes and deploys: `{registry_host}/{repository}:tenant-{id}`.
pub fn full_image(registry_host: &str, repository: &str, id: &TenantId) -> String {
    format!("{registry_host}/{repository}:{}", image_tag(id))
}

/// The digest-pinned image given to Fly: `{registry_host}/{repository}@{digest}`.
pub fn pinned_image(registry_host: &str, repository: &str, digest: &str) -> String {
    format!("{registry_host}/{repository}@{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> TenantId {
        TenantId::parse("3f2b8c1e-9a4d-4e1f-8c2a-0b1d2e3f4a5b").unwrap()
    }

    #[test]
    fn names() {
        let id = id();
        assert_eq!(fly_app_name(&id), "sp-3f2b8c1e9a4d");
        assert_eq!(
            public_hostname(&id, "sites.example.com"),
            "3f2b8c1e9a4d.sites.example.com"
        );
        assert_eq!(
            public_hostname(&id, ".sites.example.com"),
            "3f2b8c1e9a4d.sites.example.com"
        );
        assert_eq!(
            app_url(&id, "sites.example.com"),
            "https://3f2b8c1e9a4d.sites.example.com"
        );
        assert_eq!(internal_hostname(&id), "sp-3f2b8c1e9a4d.internal");
        assert_eq!(tenant_database_name(&id), "site_3f2b8c1e9a4d");
        assert_eq!(tenant_role_name(&id), "tenant_3f2b8c1e9a4d");
        assert_eq!(
            image_tag(&id),
            "tenant-3f2b8c1e-9a4d-4e1f-8c2a-0b1d2e3f4a5b"
        );
        assert_eq!(
            full_image("registry.fly.io", "systemprompt-images", &id),
            "registry.fly.io/systemprompt-images:tenant-3f2b8c1e-9a4d-4e1f-8c2a-0b1d2e3f4a5b"
        );
        assert_eq!(
            pinned_image("registry.fly.io", "imgs", "sha256:abc"),
            "registry.fly.io/imgs@sha256:abc"
        );
    }

    #[test]
    fn names_are_valid_postgres_and_dns_identifiers() {
        let id = id();
        for n in [tenant_database_name(&id), tenant_role_name(&id)] {
            assert!(n.len() <= 63);
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            );
        }
        let app = fly_app_name(&id);
        assert!(
            app.len() <= 63
                && app
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
