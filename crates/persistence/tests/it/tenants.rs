//! Tenants: CRUD, ownership, unique names, optimistic concurrency, events written with updates.

use mgmt_domain::{EventType, NewTenant, NewTenantEvent, RepoError, TenantId, TenantState};
use mgmt_persistence::testing::test_database;

#[tokio::test]
async fn insert_get_list_and_count() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().tenants;
    let alice = t.customer().await.unwrap();
    let id = TenantId::new_random();
    let new = NewTenant::new(id, alice.id, "shop", "basic", "fra", "sites.example.test");
    let tenant = repo.insert(new.clone()).await.unwrap();
    assert_eq!(tenant.state, TenantState::Pending);
    assert_eq!(tenant.row_version, 1);
    assert_eq!(tenant.fly_app_name, new.fly_app_name);
    assert_eq!(tenant.database_role, format!("tenant_{}", id.short_hex()));
    assert_eq!(
        (tenant.plan_id.as_str(), tenant.region.as_str()),
        ("basic", "fra")
    );
    assert_eq!(tenant.deleted_at, None);
    assert_eq!(repo.get(id).await.unwrap(), tenant);

    let second = t.tenant(alice.id, "blog").await.unwrap();
    let listed = repo.list_for_customer(alice.id).await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.id).collect::<Vec<_>>(),
        [id, second.id],
        "oldest first"
    );
    assert_eq!(repo.count_live_for_customer(alice.id).await.unwrap(), 2);
    assert_eq!(
        repo.get(TenantId::new_random()).await.unwrap_err(),
        RepoError::NotFound { entity: "tenant" }
    );
}

#[tokio::test]
async fn a_customer_never_reads_another_customers_tenant() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().tenants;
    let alice = t.customer().await.unwrap();
    let mallory = t.customer().await.unwrap();
    let tenant = t.tenant(alice.id, "shop").await.unwrap();
    assert_eq!(
        repo.get_for_customer(tenant.id, alice.id).await.unwrap(),
        tenant
    );
    assert_eq!(
        repo.get_for_customer(tenant.id, mallory.id)
            .await
            .unwrap_err(),
        RepoError::NotFound { entity: "tenant" },
        "must look exactly like a missing tenant"
    );
    assert!(repo.list_for_customer(mallory.id).await.unwrap().is_empty());
    assert_eq!(repo.count_live_for_customer(mallory.id).await.unwrap(), 0);
}

#[tokio::test]
async fn unique_names_conflict_in_words() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().tenants;
    let alice = t.customer().await.unwrap();
    let bob = t.customer().await.unwrap();
    let first = t.tenant(alice.id, "shop").await.unwrap();

    // The same customer cannot reuse a live tenant's name; another customer can.
    let err = repo
        .insert(NewTenant::new(
            TenantId::new_random(),
            alice.id,
            "shop",
            "free",
            "iad",
            "s.test",
        ))
        .await;
    assert_eq!(
        err.unwrap_err(),
        RepoError::Conflict {
            what: "you already have a tenant with this name".into()
        }
    );
    t.tenant(bob.id, "shop").await.unwrap();

    // Same id: every derived name collides; the primary key speaks first.
    let err = repo
        .insert(NewTenant::new(
            first.id, bob.id, "other", "free", "iad", "s.test",
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::Conflict { .. }), "{err:?}");

    // A different id whose derived app name collides (same first 12 hex digits).
    let mut clash = NewTenant::new(
        TenantId::new_random(),
        bob.id,
        "clash",
        "free",
        "iad",
        "s.test",
    );
    clash.fly_app_name = first.fly_app_name.clone();
    assert_eq!(
        repo.insert(clash).await.unwrap_err(),
        RepoError::Conflict {
            what: "the tenant's Fly app name is already taken".into()
        }
    );
    let mut clash = NewTenant::new(
        TenantId::new_random(),
        bob.id,
        "clash2",
        "free",
        "iad",
        "s.test",
    );
    clash.database_role = first.database_role.clone();
    assert_eq!(
        repo.insert(clash).await.unwrap_err(),
        RepoError::Conflict {
            what: "the tenant's database role is already taken".into()
        }
    );

    let bad_plan = NewTenant::new(
        TenantId::new_random(),
        bob.id,
        "x",
        "platinum",
        "iad",
        "s.test",
    );
    assert_eq!(
        repo.insert(bad_plan).await.unwrap_err(),
        RepoError::NotFound { entity: "plan" }
    );
}

#[tokio::test]
async fn update_bumps_the_version_and_refuses_a_stale_one() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().tenants;
    let alice = t.customer().await.unwrap();
    let v1 = t.tenant(alice.id, "shop").await.unwrap();

    let mut a = v1.clone();
    a.transition(TenantState::Provisioning, Some("creating the app".into()))
        .unwrap();
    a.machine_id = Some("m-1".into());
    let v2 = repo.update(&a).await.unwrap();
    assert_eq!(v2.row_version, 2);
    assert_eq!(v2.state, TenantState::Provisioning);
    assert_eq!(v2.machine_id.as_deref(), Some("m-1"));
    assert!(v2.updated_at >= v1.updated_at);

    // A writer holding version 1 lost the race.
    let mut b = v1.clone();
    b.status_message = Some("late".into());
    assert_eq!(
        repo.update(&b).await.unwrap_err(),
        RepoError::StaleVersion { entity: "tenant" }
    );
    assert_eq!(
        repo.get(v1.id).await.unwrap(),
        v2,
        "a stale write changes nothing"
    );

    let mut ghost = v2.clone();
    ghost.id = TenantId::new_random();
    assert_eq!(
        repo.update(&ghost).await.unwrap_err(),
        RepoError::NotFound { entity: "tenant" }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_updates_of_one_version_exactly_one_wins() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().tenants;
    let alice = t.customer().await.unwrap();
    let v1 = t.tenant(alice.id, "shop").await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (repo, mut tenant) = (repo.clone(), v1.clone());
            tokio::spawn(async move {
                tenant.status_message = Some(format!("writer {i}"));
                repo.update(&tenant).await
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(t) => {
                wins += 1;
                assert_eq!(t.row_version, 2);
            }
            Err(e) => assert_eq!(e, RepoError::StaleVersion { entity: "tenant" }),
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn update_with_event_is_one_transaction() {
    let t = test_database().await.unwrap();
    let repos = t.repositories();
    let alice = t.customer().await.unwrap();
    let v1 = t.tenant(alice.id, "shop").await.unwrap();

    let mut next = v1.clone();
    next.transition(TenantState::Provisioning, None).unwrap();
    let event = NewTenantEvent::new(
        v1.id,
        EventType::TenantCreated,
        next.state,
        Some("started".into()),
    );
    let (v2, ev) = repos
        .tenants
        .update_with_event(&next, event.clone())
        .await
        .unwrap();
    assert_eq!(v2.row_version, 2);
    assert_eq!(
        (ev.event_type, ev.status.as_str()),
        (EventType::TenantCreated, "provisioning")
    );
    assert_eq!(repos.events.latest(v1.id).await.unwrap(), Some(ev.clone()));

    // Stale: neither the update nor the event is written.
    let err = repos
        .tenants
        .update_with_event(&next, event)
        .await
        .unwrap_err();
    assert_eq!(err, RepoError::StaleVersion { entity: "tenant" });
    assert_eq!(repos.events.list_after(v1.id, 0, 100).await.unwrap(), [ev]);
    assert_eq!(repos.tenants.get(v1.id).await.unwrap(), v2);
}

#[tokio::test]
async fn deleting_sets_deleted_at_and_frees_the_name() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().tenants;
    let alice = t.customer().await.unwrap();
    let mut tenant = t.tenant(alice.id, "shop").await.unwrap();
    tenant.transition(TenantState::Deleting, None).unwrap();
    tenant = repo.update(&tenant).await.unwrap();
    assert_eq!(tenant.deleted_at, None);
    assert_eq!(
        repo.count_live_for_customer(alice.id).await.unwrap(),
        1,
        "deleting still counts"
    );
    tenant.transition(TenantState::Deleted, None).unwrap();
    let deleted = repo.update(&tenant).await.unwrap();
    assert!(deleted.deleted_at.is_some());

    assert!(repo.list_for_customer(alice.id).await.unwrap().is_empty());
    assert_eq!(repo.count_live_for_customer(alice.id).await.unwrap(), 0);
    assert_eq!(
        repo.get_for_customer(deleted.id, alice.id).await.unwrap(),
        deleted,
        "owner still reads it"
    );
    let reborn = t.tenant(alice.id, "shop").await.unwrap();
    assert_ne!(reborn.id, deleted.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tenant_limit_holds_under_concurrent_creates() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().tenants;
    let alice = t.customer().await.unwrap();
    // Eight creates at once against a limit of two: the count and the insert are atomic per customer.
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let repo = repo.clone();
            let new = NewTenant::new(
                TenantId::new_random(),
                alice.id,
                format!("shop-{i}"),
                "basic",
                "iad",
                "sites.example.test",
            );
            tokio::spawn(async move { repo.insert_within_limit(new, 2).await })
        })
        .collect();
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => created += 1,
            Err(RepoError::LimitReached { what }) => assert!(what.contains("allows 2"), "{what}"),
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(created, 2);
    assert_eq!(repo.count_live_for_customer(alice.id).await.unwrap(), 2);

    // A deleted tenant frees its place; an unknown customer is NotFound.
    let mut first = repo.list_for_customer(alice.id).await.unwrap().remove(0);
    first.transition(TenantState::Deleting, None).unwrap();
    let mut first = repo.update(&first).await.unwrap();
    first.transition(TenantState::Deleted, None).unwrap();
    repo.update(&first).await.unwrap();
    let again = NewTenant::new(
        TenantId::new_random(),
        alice.id,
        "shop-again",
        "basic",
        "iad",
        "sites.example.test",
    );
    repo.insert_within_limit(again, 2).await.unwrap();
    let stranger = NewTenant::new(
        TenantId::new_random(),
        mgmt_domain::CustomerId::new_random(),
        "x",
        "basic",
        "iad",
        "sites.example.test",
    );
    assert_eq!(
        repo.insert_within_limit(stranger, 2).await.unwrap_err(),
        RepoError::NotFound { entity: "customer" }
    );
}
