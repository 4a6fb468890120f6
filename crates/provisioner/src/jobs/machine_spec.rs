//! The tenant machine's configuration, as the original system set it up: the digest-pinned image, the
//! plan's guest size, the volume mount, port 8080 behind 80/443, the environment and our metadata.

use std::collections::BTreeMap;

use mgmt_domain::{Plan, Tenant, naming};
use mgmt_fly_client::{
    CreateMachineRequest, GuestConfig, HealthCheck, MachineConfig, MountConfig, PortConfig,
    RestartPolicy, ServiceConfig,
};

use crate::config::ProvisionerConfig;

/// Metadata key that marks a machine as the tenant's (found again after an ambiguous create).
pub const TENANT_METADATA_KEY: &str = "tenant_id";

/// The tenant image's process (cli-contract §8.1): the generated Dockerfile's command, run as `app`.
pub const TENANT_PROCESS: &[&str] = &[
    "/app/bin/systemprompt",
    "infra",
    "services",
    "serve",
    "--foreground",
];

/// The uid (and gid) the tenant image's process runs as (§8.1, user `app`).
pub const TENANT_UID: u32 = 1000;

/// The machine's process, started as root to hand the volume to the tenant's uid, then the image's
/// command with root dropped. Fly mounts a volume root-owned and its mount config has no owner or mode
/// option (`fly.MachineMount`: size, encryption, name, path, volume), and the image's own user (uid
/// 1000) cannot chown it; so the process (`config.processes[0]`, whose `user` overrides the image's
/// `USER`) runs `chown` on the mount point only (not recursive: the volume's content already belongs
/// to the tenant) and `exec`s the command through `setpriv` (util-linux, essential in the Debian bases
/// the CLI builds on), so the tenant's process keeps PID 1's signals and never runs as root.
fn volume_owner_process(mount_path: &str) -> BTreeMap<String, serde_json::Value> {
    let uid = TENANT_UID;
    // `$0` is the mount path, passed as an argument rather than spliced into the script.
    let script = format!(
        "chown {uid}:{uid} \"$0\" && exec setpriv --reuid={uid} --regid={uid} --clear-groups -- {}",
        TENANT_PROCESS.join(" ")
    );
    let process = serde_json::json!({
        "user": "root",
        "exec": ["/bin/sh", "-c", script, mount_path],
    });
    BTreeMap::from([("processes".to_owned(), serde_json::json!([process]))])
}

/// The create/update request for `tenant`'s machine running `digest`.
pub fn machine_request(
    config: &ProvisionerConfig,
    tenant: &Tenant,
    plan: &Plan,
    volume_id: &str,
    digest: &str,
    min_secrets_version: Option<u64>,
) -> CreateMachineRequest {
    let m = &config.machine;
    let image = naming::pinned_image(
        &config.upstream_registry_host,
        &config.deploy_target.repository,
        digest,
    );
    let port = m.internal_port;
    let mount_path = plan
        .volume_mount_path
        .clone()
        .unwrap_or_else(|| m.volume_mount_path.clone());
    let env: BTreeMap<String, String> = [
        ("HOST", "0.0.0.0".to_owned()),
        ("PORT", port.to_string()),
        ("RUST_LOG", m.rust_log.clone()),
        ("DATABASE_TYPE", "postgres".to_owned()),
        ("TENANT_ID", tenant.id.to_string()),
        ("TENANT_NAME", tenant.name.clone()),
        ("APP_URL", tenant.app_url()),
        ("JWT_ISSUER", m.jwt_issuer.clone()),
        ("API_SERVER_URL", m.api_server_url.clone()),
        ("API_EXTERNAL_URL", m.api_external_url.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let services = vec![ServiceConfig {
        protocol: "tcp".into(),
        internal_port: port,
        ports: vec![
            PortConfig {
                port: 80,
                handlers: vec!["http".into()],
                force_https: Some(true),
            },
            PortConfig {
                port: 443,
                handlers: vec!["tls".into(), "http".into()],
                force_https: None,
            },
        ],
    }];
    let checks = m
        .health_check_path
        .iter()
        .map(|path| {
            let check = HealthCheck {
                kind: "http".into(),
                port,
                path: Some(path.clone()),
                interval: Some("15s".into()),
                timeout: Some("5s".into()),
                grace_period: Some(format!("{}s", m.health_grace_period.as_secs())),
                method: Some("GET".into()),
            };
            ("health".to_owned(), check)
        })
        .collect();
    CreateMachineRequest {
        name: Some(tenant.fly_app_name.clone()),
        region: Some(tenant.region.clone()),
        config: MachineConfig {
            image,
            env,
            guest: Some(GuestConfig {
                cpu_kind: Some(m.cpu_kind.clone()),
                cpus: u32::try_from(plan.cpus).unwrap_or(1).max(1),
                memory_mb: u32::try_from(plan.memory_mb).unwrap_or(256).max(256),
            }),
            mounts: vec![MountConfig {
                volume: volume_id.to_owned(),
                path: mount_path.clone(),
                name: Some(m.volume_name.clone()),
            }],
            services,
            metadata: BTreeMap::from([(TENANT_METADATA_KEY.to_owned(), tenant.id.to_string())]),
            checks,
            restart: Some(RestartPolicy {
                policy: "always".into(),
            }),
            extra: volume_owner_process(&mount_path),
        },
        min_secrets_version,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use mgmt_domain::{CustomerId, RegistryTarget, TenantId, TenantState};

    use super::*;

    #[test]
    fn the_machine_runs_the_pinned_image_with_the_plan_and_the_originals_environment() {
        let config = ProvisionerConfig::new(
            RegistryTarget::new("gateway.example.com", "tenant-images"),
            "registry.fly.io",
            "sites.example.com",
            "db.internal:5432",
        );
        let id = TenantId::parse("3f2b8c1e-9a4d-4e1f-8c2a-0b1d2e3f4a5b").unwrap();
        let new = mgmt_domain::NewTenant::new(
            id,
            CustomerId::new_random(),
            "Shop",
            "basic",
            "fra",
            "sites.example.com",
        );
        let tenant = Tenant {
            id,
            customer_id: new.customer_id,
            name: new.name,
            plan_id: new.plan_id,
            region: new.region,
            state: TenantState::Deploying,
            status_message: None,
            fly_app_name: new.fly_app_name,
            machine_id: None,
            volume_id: Some("vol_1".into()),
            hostname: new.hostname,
            internal_hostname: new.internal_hostname,
            database_name: new.database_name,
            database_role: new.database_role,
            deployed_digest: None,
            external_db_access: false,
            secrets_version: None,
            row_version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            deleted_at: None,
        };
        let plan = Plan {
            id: "basic".into(),
            name: "Basic".into(),
            memory_mb: 1024,
            cpus: 1,
            volume_gb: 10,
            max_tenants: 5,
            volume_mount_path: None,
            db_limits: mgmt_domain::TenantDbLimits::default(),
        };
        let digest = format!("sha256:{}", "a".repeat(64));
        let req = machine_request(&config, &tenant, &plan, "vol_1", &digest, Some(7));
        let c = &req.config;
        assert_eq!(c.image, format!("registry.fly.io/tenant-images@{digest}"));
        assert_eq!(
            c.guest.as_ref().map(|g| (g.cpus, g.memory_mb)),
            Some((1, 1024))
        );
        assert_eq!(
            (c.mounts[0].volume.as_str(), c.mounts[0].path.as_str()),
            ("vol_1", mgmt_domain::DEFAULT_VOLUME_MOUNT_PATH)
        );
        // The mount is handed to uid 1000 before the image's command runs without root.
        let process = &c.extra["processes"][0];
        assert_eq!(process["user"], "root");
        let exec: Vec<&str> = process["exec"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(exec.len(), 4, "{exec:?}");
        assert_eq!(exec[3], mgmt_domain::DEFAULT_VOLUME_MOUNT_PATH);
        assert!(
            exec[2].starts_with("chown 1000:1000 \"$0\" && exec setpriv --reuid=1000 --regid=1000")
                && exec[2].ends_with("/app/bin/systemprompt infra services serve --foreground"),
            "{}",
            exec[2]
        );
        // A plan's own mount path wins over the operator's default.
        let plan_data = Plan {
            volume_mount_path: Some("/data".into()),
            ..plan.clone()
        };
        let on_data = machine_request(&config, &tenant, &plan_data, "vol_1", &digest, None);
        assert_eq!(on_data.config.mounts[0].path, "/data");
        assert_eq!(on_data.config.extra["processes"][0]["exec"][3], "/data");
        let ports: Vec<u16> = c.services[0].ports.iter().map(|p| p.port).collect();
        assert_eq!((c.services[0].internal_port, ports), (8080, vec![80, 443]));
        assert_eq!(
            c.metadata.get("tenant_id").map(String::as_str),
            Some("3f2b8c1e-9a4d-4e1f-8c2a-0b1d2e3f4a5b")
        );
        let keys: Vec<&str> = c.env.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "API_EXTERNAL_URL",
                "API_SERVER_URL",
                "APP_URL",
                "DATABASE_TYPE",
                "HOST",
                "JWT_ISSUER",
                "PORT",
                "RUST_LOG",
                "TENANT_ID",
                "TENANT_NAME"
            ]
        );
        assert_eq!(c.env["APP_URL"], "https://3f2b8c1e9a4d.sites.example.com");
        assert!(
            !c.env.contains_key("DATABASE_URL"),
            "secrets come from the app, never the config"
        );
        assert_eq!(req.min_secrets_version, Some(7));
        let check = &c.checks["health"];
        assert_eq!(
            (check.kind.as_str(), check.port, check.path.as_deref()),
            ("http", 8080, Some("/api/v1/health"))
        );
        assert_eq!(check.grace_period.as_deref(), Some("10s"));
        assert_eq!(req.region.as_deref(), Some("fra"));
    }
}
