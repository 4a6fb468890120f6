//! The tenant machine's configuration, as the original system set it up: the digest-pinned image, the
//! plan's guest size, the volume mount, port 8080 behind 80/443, the environment and our metadata.

use std::collections::BTreeMap;

use fly_client::{
    CreateMachineRequest, GuestConfig, HealthCheck, MachineConfig, MountConfig, PortConfig,
    RestartPolicy, ServiceConfig,
};
use tenant_domain::{Plan, Tenant, naming};

use crate::config::ProvisionerConfig;

/// Metadata key that marks a machine as the tenant's (found again after an ambiguous create).
pub const TENANT_METADATA_KEY: &str = "tenant_id";

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
                path: m.volume_mount_path.clone(),
                name: Some(m.volume_name.clone()),
            }],
            services,
            metadata: BTreeMap::from([(TENANT_METADATA_KEY.to_owned(), tenant.id.to_string())]),
            checks,
            restart: Some(RestartPolicy {
                policy: "always".into(),
            }),
            extra: BTreeMap::new(),
        },
        min_secrets_version,
    }
}
