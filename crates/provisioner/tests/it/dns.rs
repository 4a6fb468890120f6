//! Public DNS through the fake Cloudflare: the tenant's CNAME is created in provisioning, adopted when
//! it exists, converges after a lost answer, is removed by compensation (only if this run made it) and
//! by cleanup; a record under the name that is not ours fails provisioning and is never touched.

use std::sync::Arc;
use std::time::Duration;

use crate::common::Harness;
use mgmt_dns::{CloudflareConfig, CloudflareDns};
use mgmt_domain::{DnsRecords, Tenant, TenantState};
use mgmt_mock_cloudflare::MockCloudflare;
use mgmt_provisioner::TenantService;
use secrecy::SecretString;

const T: Duration = Duration::from_secs(30);

/// A harness whose service creates DNS records in `cf` (workers not started yet).
async fn harness(cf: &MockCloudflare) -> Harness {
    let mut h = Harness::start().await;
    let mut cfg = CloudflareConfig::new(
        cf.url(),
        SecretString::from(cf.api_token().to_owned()),
        cf.zone_id(),
    );
    cfg.backoff = Duration::from_millis(10);
    let dns: Arc<dyn DnsRecords> = Arc::new(CloudflareDns::new(cfg).expect("dns client"));
    let service = TenantService::new(
        h.repos.clone(),
        h.fly.clone(),
        h.registry.clone(),
        h.admin.clone(),
        h.service.config().clone(),
    )
    .with_dns(Some(dns));
    h.service = Arc::new(service);
    h
}

fn target(t: &Tenant) -> String {
    format!("{}.fly.dev", t.fly_app_name)
}

/// The zone's records as (type, name, content).
fn records(cf: &MockCloudflare) -> Vec<(String, String, String)> {
    cf.records()
        .into_iter()
        .map(|r| (r.kind, r.name, r.content))
        .collect()
}

async fn delete_and_wait(h: &Harness, t: &Tenant) {
    h.service.delete_tenant(h.customer.id, t.id).await.unwrap();
    h.wait_state(t.id, TenantState::Deleted, T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_is_created_in_provisioning_and_removed_in_cleanup() {
    let cf = MockCloudflare::start().await.unwrap();
    let mut h = harness(&cf).await;
    h.start_workers();
    let t = h.provisioned("routed", "basic").await;
    assert_eq!(
        t.hostname,
        format!(
            "{}.{}",
            t.id.short_hex(),
            h.service.config().subdomain_suffix
        )
    );
    assert_eq!(
        records(&cf),
        vec![("CNAME".into(), t.hostname.clone(), target(&t))]
    );
    assert!(!cf.records()[0].proxied);
    delete_and_wait(&h, &t).await;
    assert!(cf.records().is_empty());
    assert!(cf.unknown_routes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identical_record_is_adopted_and_a_lost_answer_converges() {
    let cf = MockCloudflare::start().await.unwrap();
    let mut h = harness(&cf).await;
    // A record left from an earlier life of the name (same target) is adopted as is; the tenant is
    // created before the workers run so the record is there first.
    let t2 = h.create("adopted", "basic").await;
    let seeded = cf.seed_record("CNAME", &t2.hostname, &target(&t2), false);
    h.start_workers();
    h.wait_state(t2.id, TenantState::AwaitingDeploy, T).await;
    let ours: Vec<_> = cf
        .records()
        .into_iter()
        .filter(|r| r.name == t2.hostname)
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].id, seeded.id);

    // Cloudflare creates the record but the answer never arrives: the client lists again and adopts.
    cf.faults().drop_after_acting("create_record");
    let t = h.provisioned("lost", "basic").await;
    let mine: Vec<_> = records(&cf)
        .into_iter()
        .filter(|r| r.1 == t.hostname)
        .collect();
    assert_eq!(mine, vec![("CNAME".into(), t.hostname.clone(), target(&t))]);

    delete_and_wait(&h, &t).await;
    delete_and_wait(&h, &t2).await;
    assert!(cf.records().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_is_not_ours_fails_provisioning_and_is_left_alone() {
    let cf = MockCloudflare::start().await.unwrap();
    let mut h = harness(&cf).await;
    let t = h.create("squatted", "basic").await;
    cf.seed_record("A", &t.hostname, "192.0.2.7", false);
    h.start_workers();
    let failed = h.wait_state(t.id, TenantState::Failed, T).await;
    let msg = failed.status_message.clone().unwrap_or_default();
    assert!(
        msg.contains("dns record") && msg.contains("192.0.2.7"),
        "{msg}"
    );
    assert!(h.fly_leftovers(&failed).is_empty(), "compensated");
    assert_eq!(
        records(&cf),
        vec![("A".into(), t.hostname.clone(), "192.0.2.7".into())]
    );
    delete_and_wait(&h, &t).await;
    assert_eq!(
        cf.records().len(),
        1,
        "cleanup never removes a record that is not ours"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compensation_removes_the_record_this_run_created() {
    let cf = MockCloudflare::start().await.unwrap();
    let mut h = harness(&cf).await;
    h.start_workers();
    h.mock.faults().fail_next("create_volume", 1, 400);
    let t = h.create("half", "basic").await;
    let failed = h.wait_state(t.id, TenantState::Failed, T).await;
    assert!(failed.status_message.unwrap_or_default().contains("volume"));
    assert!(
        cf.records().is_empty(),
        "the record made by the failed run is removed"
    );
    h.service
        .retry_provision(h.customer.id, t.id)
        .await
        .unwrap();
    h.wait_state(t.id, TenantState::AwaitingDeploy, T).await;
    assert_eq!(
        records(&cf),
        vec![("CNAME".into(), t.hostname.clone(), target(&t))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_domain_goes_through_the_tenants_own_record() {
    let cf = MockCloudflare::start().await.unwrap();
    let mut h = harness(&cf).await;
    h.start_workers();
    let t = h.provisioned("custom", "basic").await;
    let set = h
        .service
        .set_custom_domain(h.customer.id, t.id, "shop.example.org")
        .await
        .unwrap();
    // The customer's CNAME targets the tenant's hostname, which our record points at the app.
    assert_eq!(set.domain.dns_target, t.hostname);
    assert_eq!(
        records(&cf),
        vec![("CNAME".into(), t.hostname.clone(), target(&t))]
    );
    let polled = h.service.custom_domain(h.customer.id, t.id).await.unwrap();
    assert_eq!(polled.dns_target, t.hostname);
    delete_and_wait(&h, &t).await;
}
