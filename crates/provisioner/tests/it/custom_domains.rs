//! Custom domains against mock-fly: claim, show, verify once Fly issues the certificate, remove; the
//! conflicts (another domain set, a domain another tenant or another Fly app holds); a Fly failure
//! gives the claim back; a certificate lost at Fly is requested again by the next read.

use mgmt_fly_client::FlyMachines;
use mgmt_provisioner::{CustomDomainError, ServiceError};

use crate::common::Harness;

fn has_cert(h: &Harness, host: &str) -> bool {
    h.mock
        .state()
        .apps
        .iter()
        .any(|a| a.certificates.contains_key(host))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_verify_and_remove() {
    let mut h = Harness::start().await;
    h.start_workers();
    let t = h.provisioned("dom", "free").await;
    let svc = &h.service;
    let c = h.customer.id;

    assert!(matches!(
        svc.custom_domain(c, t.id).await,
        Err(CustomDomainError::NoDomain)
    ));
    let set = svc
        .set_custom_domain(c, t.id, "Www.Example.NET.")
        .await
        .unwrap();
    assert!(set.created);
    assert_eq!(set.domain.domain, "www.example.net");
    assert_eq!(set.domain.dns_target, format!("{}.fly.dev", t.fly_app_name));
    assert_eq!(set.domain.status, "pending_validation");
    assert!(has_cert(&h, "www.example.net"));

    let again = svc
        .set_custom_domain(c, t.id, "www.example.net")
        .await
        .unwrap();
    assert!(!again.created);
    let other = svc.set_custom_domain(c, t.id, "api.example.net").await;
    assert!(
        matches!(other, Err(CustomDomainError::Service(ServiceError::Conflict(ref m))) if m.contains("remove it first")),
        "{other:?}"
    );

    assert!(!svc.custom_domain(c, t.id).await.unwrap().verified());
    assert!(h.mock.issue_certificate("www.example.net"));
    let verified = svc.custom_domain(c, t.id).await.unwrap();
    assert!(verified.verified());
    assert_eq!(verified.status, "active");
    let later = svc.custom_domain(c, t.id).await.unwrap();
    assert_eq!(
        later.verified_at, verified.verified_at,
        "the first verification sticks"
    );

    svc.remove_custom_domain(c, t.id).await.unwrap();
    assert!(!has_cert(&h, "www.example.net"));
    svc.remove_custom_domain(c, t.id).await.unwrap();
    assert!(
        h.repos
            .custom_domains
            .get_for_tenant(t.id)
            .await
            .unwrap()
            .is_none()
    );
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_failures_and_repair() {
    let mut h = Harness::start().await;
    h.start_workers();
    let a = h.provisioned("dom-a", "basic").await;
    let b = h.provisioned("dom-b", "basic").await;
    let svc = &h.service;
    let c = h.customer.id;

    // One tenant per domain.
    svc.set_custom_domain(c, a.id, "shared.example.io")
        .await
        .unwrap();
    assert!(matches!(
        svc.set_custom_domain(c, b.id, "shared.example.io").await,
        Err(CustomDomainError::DomainTaken)
    ));

    // A hostname another Fly app holds (not one of our tenants): taken, and nothing claimed.
    h.fly
        .add_certificate(&a.fly_app_name, "outside.example.io")
        .await
        .unwrap();
    assert!(matches!(
        svc.set_custom_domain(c, b.id, "outside.example.io").await,
        Err(CustomDomainError::DomainTaken)
    ));
    assert!(
        h.repos
            .custom_domains
            .get_for_tenant(b.id)
            .await
            .unwrap()
            .is_none()
    );

    // Fly unavailable: a transient error, and the claim is given back.
    h.mock.faults().fail_next("create_certificate", 20, 503);
    let e = svc.set_custom_domain(c, b.id, "later.example.io").await;
    assert!(
        matches!(e, Err(CustomDomainError::Service(ref s)) if s.is_transient()),
        "{e:?}"
    );
    assert!(
        h.repos
            .custom_domains
            .find_by_domain("later.example.io")
            .await
            .unwrap()
            .is_none()
    );
    h.mock.faults().clear();
    assert!(
        svc.set_custom_domain(c, b.id, "later.example.io")
            .await
            .unwrap()
            .created
    );

    // A certificate lost at Fly is requested again by the next read.
    h.fly
        .delete_certificate(&b.fly_app_name, "later.example.io")
        .await
        .unwrap();
    assert!(!has_cert(&h, "later.example.io"));
    svc.custom_domain(c, b.id).await.unwrap();
    assert!(has_cert(&h, "later.example.io"));

    // Invalid input never reaches Fly or storage.
    let e = svc.set_custom_domain(c, b.id, "x.sites.example.test").await;
    assert!(
        matches!(
            e,
            Err(CustomDomainError::Service(ServiceError::InvalidInput(_)))
        ),
        "{e:?}"
    );
    h.stop_workers().await;
}
