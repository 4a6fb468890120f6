//! Custom domains (the two uniqueness rules, the first verification kept, the release on deletion),
//! subscriptions (one per tenant, cancellations recorded) and the activity log.

use chrono::{Duration, TimeZone, Utc};
use mgmt_domain::{
    ActivityKind, CancellationRecord, NewActivity, NewCustomDomain, NewSubscription, RepoError,
    SubscriptionStatus, TenantState,
};
use mgmt_persistence::testing::test_database;

fn domain(t: mgmt_domain::TenantId, name: &str) -> NewCustomDomain {
    NewCustomDomain {
        tenant_id: t,
        domain: name.into(),
        dns_target: "sp-x.fly.dev".into(),
        status: "requested".into(),
    }
}

#[tokio::test]
async fn custom_domains_are_unique_both_ways_and_freed_by_deletion() {
    let db = test_database().await.unwrap();
    let repos = db.repositories();
    let alice = db.customer().await.unwrap();
    let a = db.tenant(alice.id, "a").await.unwrap();
    let b = db.tenant(alice.id, "b").await.unwrap();
    let domains = &repos.custom_domains;

    assert!(domains.get_for_tenant(a.id).await.unwrap().is_none());
    let d = domains.insert(domain(a.id, "a.example.com")).await.unwrap();
    assert_eq!(d.domain, "a.example.com");
    assert!(d.verified_at.is_none());
    for (tenant, name) in [(a.id, "other.example.com"), (b.id, "a.example.com")] {
        let e = domains.insert(domain(tenant, name)).await.unwrap_err();
        assert!(matches!(e, RepoError::Conflict { .. }), "{e:?}");
    }
    assert_eq!(
        domains
            .find_by_domain("a.example.com")
            .await
            .unwrap()
            .unwrap()
            .tenant_id,
        a.id
    );
    // The schema refuses what normalisation would never produce.
    assert!(
        domains
            .insert(domain(b.id, "Upper.Example.com"))
            .await
            .is_err()
    );

    // The first verification time is kept by later reports.
    let first = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
    let v = domains
        .record_status(a.id, "active", "sp-a.fly.dev", Some(first))
        .await
        .unwrap();
    assert_eq!(
        (v.verified_at, v.dns_target.as_str()),
        (Some(first), "sp-a.fly.dev")
    );
    let v = domains
        .record_status(
            a.id,
            "active",
            "sp-a.fly.dev",
            Some(first + Duration::hours(1)),
        )
        .await
        .unwrap();
    assert_eq!(v.verified_at, Some(first));
    let v = domains
        .record_status(a.id, "active", "sp-a.fly.dev", None)
        .await
        .unwrap();
    assert_eq!(v.verified_at, Some(first));
    assert!(
        domains
            .record_status(b.id, "active", "x", None)
            .await
            .unwrap_err()
            .is_not_found()
    );

    // The tenant reaching `deleted` (its row stays) lets its domain go.
    let mut tenant = repos.tenants.get(a.id).await.unwrap();
    tenant.state = TenantState::Deleted;
    repos.tenants.update(&tenant).await.unwrap();
    assert!(domains.get_for_tenant(a.id).await.unwrap().is_none());
    domains.insert(domain(b.id, "a.example.com")).await.unwrap();
    assert!(domains.delete(b.id).await.unwrap());
    assert!(!domains.delete(b.id).await.unwrap());
}

#[tokio::test]
async fn subscriptions_one_per_tenant_and_cancellations_recorded() {
    let db = test_database().await.unwrap();
    let repos = db.repositories();
    let alice = db.customer().await.unwrap();
    let bob = db.customer().await.unwrap();
    let a = db.tenant(alice.id, "a").await.unwrap();
    let subs = &repos.subscriptions;
    let new = |id: &str| NewSubscription {
        id: id.into(),
        tenant_id: a.id,
        customer_id: alice.id,
        paddle_customer_id: Some("ctm_1".into()),
        status: SubscriptionStatus::Trialing,
    };
    let s = subs.insert(new("sub_1")).await.unwrap();
    assert_eq!(s.status, SubscriptionStatus::Trialing);
    assert!(!s.cancel_settled());
    assert!(matches!(
        subs.insert(new("sub_2")).await,
        Err(RepoError::Conflict { .. })
    ));
    assert_eq!(subs.list_for_customer(alice.id).await.unwrap().len(), 1);
    assert!(subs.list_for_customer(bob.id).await.unwrap().is_empty());

    let at = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    let s = subs
        .record_cancellation(
            "sub_1",
            CancellationRecord {
                status: SubscriptionStatus::Trialing,
                scheduled_cancel_at: Some(at),
                canceled_at: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(s.scheduled_cancel_at, Some(at));
    assert!(s.cancel_settled());
    assert_eq!(subs.get_for_tenant(a.id).await.unwrap().unwrap(), s);
    let missing = subs
        .record_cancellation(
            "sub_nope",
            CancellationRecord {
                status: SubscriptionStatus::Canceled,
                scheduled_cancel_at: None,
                canceled_at: Some(at),
            },
        )
        .await;
    assert!(missing.unwrap_err().is_not_found());
}

#[tokio::test]
async fn activity_is_kept_per_customer_newest_first() {
    let db = test_database().await.unwrap();
    let repos = db.repositories();
    let alice = db.customer().await.unwrap();
    let bob = db.customer().await.unwrap();
    let at = Utc.with_ymd_and_hms(2026, 5, 20, 11, 34, 35).unwrap();
    for (customer, event) in [
        (alice.id, ActivityKind::CloudLogin),
        (bob.id, ActivityKind::CloudLogin),
        (alice.id, ActivityKind::CloudLogout),
    ] {
        repos
            .activity
            .record(NewActivity {
                customer_id: customer,
                event,
                client_timestamp: at,
                user_id: "u".into(),
            })
            .await
            .unwrap();
    }
    let mine = repos
        .activity
        .list_for_customer(alice.id, 10)
        .await
        .unwrap();
    let kinds: Vec<_> = mine.iter().map(|a| a.event).collect();
    assert_eq!(kinds, [ActivityKind::CloudLogout, ActivityKind::CloudLogin]);
    assert_eq!(mine[0].client_timestamp, at);
    assert_eq!(
        repos
            .activity
            .list_for_customer(alice.id, 1)
            .await
            .unwrap()
            .len(),
        1
    );
}
