//! Provisioning benchmark: wall time of a provision with mock-fly adding 50 ms to every call, against
//! the critical-path bound, and the number of Fly calls per provision, deploy and delete.
//!
//! Run: `cargo bench -p mgmt-provisioner --bench provision` (needs PostgreSQL and skopeo, like the tests).
//! The Fly critical path of a fresh provision is `create_app → get_app → {secrets | volume | ip |
//! certificate}`: three sequential calls, so the bound is 3 × latency (the database step runs beside it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use mgmt_domain::{NewRegistryPush, Repositories, TenantId, TenantState, naming};
use mgmt_mock_fly::{MockFly, MockFlyConfig};
use mgmt_persistence::testing::{tenant_cluster_admin, test_database};
use mgmt_provisioner::{CreateTenant, ProvisionerConfig, TenantService, Workers};
use mgmt_test_support::oci;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

const LATENCY: Duration = Duration::from_millis(50);
const CRITICAL_PATH_CALLS: u32 = 3;
const RUNS: usize = 5;
const REPO: &str = "tenant-images";

fn fly_calls(mock: &MockFly) -> usize {
    mock.requests()
        .iter()
        .filter(|r| {
            r.op.as_deref()
                .is_some_and(|op| !op.starts_with("registry_") && !op.starts_with("mock_"))
        })
        .count()
}

async fn wait(repos: &Repositories, id: TenantId, state: TenantState) -> Duration {
    let start = Instant::now();
    loop {
        let t = repos.tenants.get(id).await.unwrap();
        if t.state == state {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "stuck in {} ({:?})",
            t.state,
            t.status_message
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Pushes an image straight to mock-fly as the tenant's tag and records the push as the registry
/// gateway would (a deploy verifies that the image is the tenant's own).
async fn push(mock: &MockFly, repos: &Repositories, id: &TenantId, content: &str) {
    let dir = tempfile::tempdir().unwrap();
    let image = oci::build_image(dir.path(), "img", &[content.as_bytes()], false).unwrap();
    let tag = naming::image_tag(id);
    let dest = format!("{}/{REPO}:{tag}", mock.registry_host());
    oci::skopeo_push(&image, &dest, Some(("x", mock.token())), &[])
        .await
        .unwrap();
    let blobs: Vec<String> = std::iter::once(&image.config_digest)
        .chain(&image.layer_digests)
        .cloned()
        .collect();
    for blob in &blobs {
        repos
            .registry_pushes
            .record_blob_upload(*id, blob)
            .await
            .unwrap();
    }
    let push = NewRegistryPush {
        tenant_id: *id,
        reference: tag,
        digest: image.manifest_digest.clone(),
        media_type: Some(oci::OCI_MANIFEST.to_owned()),
        referenced_digests: blobs,
    };
    repos
        .registry_pushes
        .record_manifest_push(push)
        .await
        .unwrap();
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let db = test_database().await.unwrap();
    let mock = MockFly::start(MockFlyConfig {
        machine_start_delay: Duration::ZERO,
        ..MockFlyConfig::default()
    })
    .await
    .unwrap();
    let repos = db.repositories();
    let mut config = ProvisionerConfig::new(
        mgmt_domain::RegistryTarget::new(mock.registry_host(), REPO),
        mock.registry_host(),
        "sites.example.test",
        "tenants-db.internal:5432",
    );
    config.keyring = Some(
        mgmt_provisioner::vault::Keyring::parse(&SecretString::from(
            // A fixed 32-byte key: the bench measures provisioning, not key handling.
            "bench:YmVuY2gta2V5LTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU=".to_owned(),
        ))
        .unwrap(),
    );
    config.worker.poll_interval = Duration::from_millis(2);
    config.worker.workers = 1;
    let token = SecretString::from(mock.token().to_owned());
    let fly = mgmt_fly_client::HttpFlyMachines::new(mgmt_fly_client::MachinesConfig::new(
        mock.machines_url(),
        token.clone(),
        "bench",
    ))
    .unwrap();
    let registry = mgmt_fly_client::HttpRegistry::new(mgmt_fly_client::RegistryConfig::new(
        mock.registry_url(),
        "x",
        token,
    ))
    .unwrap();
    let service = Arc::new(TenantService::new(
        repos.clone(),
        Arc::new(fly),
        Arc::new(registry),
        Arc::new(tenant_cluster_admin()),
        config,
    ));
    let shutdown = CancellationToken::new();
    let workers = Workers::spawn(service.clone(), shutdown.clone());

    for (label, latency) in [
        ("no added latency", Duration::ZERO),
        ("50 ms per Fly call", LATENCY),
    ] {
        mock.set_global_latency(latency);
        let mut times = Vec::new();
        let mut saga_times = Vec::new();
        let mut calls = (0, 0, 0, 0);
        for i in 0..RUNS {
            let customer = db.customer().await.unwrap();
            let req = CreateTenant {
                name: format!("bench-{i}"),
                plan_id: Some("basic".into()),
                region: None,
            };
            let before = fly_calls(&mock);
            let started = Instant::now();
            let t = service.create_tenant(&customer, req).await.unwrap();
            wait(&repos, t.id, TenantState::AwaitingDeploy).await;
            times.push(started.elapsed());
            // The saga alone: from the worker's `provisioning started` to `infrastructure_ready`.
            let events = repos.events.list_after(t.id, 0, 100).await.unwrap();
            let at = |kind: &str| {
                events
                    .iter()
                    .find(|e| e.event_type.as_str() == kind)
                    .map(|e| e.created_at)
                    .unwrap()
            };
            saga_times.push(
                (at("infrastructure_ready") - at("vm_provisioning_started"))
                    .to_std()
                    .unwrap(),
            );
            let provision_calls = fly_calls(&mock) - before;
            if i == RUNS - 1 && std::env::var_os("BENCH_TIMELINE").is_some() {
                for e in repos.events.list_after(t.id, 0, 100).await.unwrap() {
                    let at = (e.created_at - t.created_at).num_milliseconds();
                    println!(
                        "  +{at:>4} ms {} {}",
                        e.event_type.as_str(),
                        e.message.unwrap_or_default()
                    );
                }
            }
            if i == 0 && latency == LATENCY {
                push(&mock, &repos, &t.id, "bench-v1").await;
                let b = fly_calls(&mock);
                service
                    .deploy(
                        customer.id,
                        t.id,
                        &service.config().deploy_target.expected_image(&t.id),
                    )
                    .await
                    .unwrap();
                wait(&repos, t.id, TenantState::Running).await;
                let first_deploy = fly_calls(&mock) - b;
                push(&mock, &repos, &t.id, "bench-v2").await;
                let b = fly_calls(&mock);
                service
                    .deploy(
                        customer.id,
                        t.id,
                        &service.config().deploy_target.expected_image(&t.id),
                    )
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
                wait(&repos, t.id, TenantState::Running).await;
                let later_deploy = fly_calls(&mock) - b;
                let b = fly_calls(&mock);
                service.delete_tenant(customer.id, t.id).await.unwrap();
                wait(&repos, t.id, TenantState::Deleted).await;
                calls = (
                    provision_calls,
                    first_deploy,
                    later_deploy,
                    fly_calls(&mock) - b,
                );
            }
        }
        times.sort();
        saga_times.sort();
        let median = times[times.len() / 2];
        println!(
            "provision wall time, {label}: median {:?} (min {:?}, max {:?}, {RUNS} runs)",
            median,
            times[0],
            times[times.len() - 1]
        );
        let saga = saga_times[saga_times.len() / 2];
        println!(
            "  of which the saga in the worker (claim to infrastructure_ready): median {saga:?}"
        );
        if latency == LATENCY {
            let bound = LATENCY * CRITICAL_PATH_CALLS;
            println!(
                "critical-path bound: {CRITICAL_PATH_CALLS} sequential Fly calls x 50 ms = {bound:?}; end-to-end / bound = {:.2}, saga / bound = {:.2}",
                median.as_secs_f64() / bound.as_secs_f64(),
                saga.as_secs_f64() / bound.as_secs_f64()
            );
            println!(
                "Fly calls: provision {}, first deploy {}, later deploy {}, delete {}",
                calls.0, calls.1, calls.2, calls.3
            );
        }
    }
    shutdown.cancel();
    workers.await.unwrap();
}
