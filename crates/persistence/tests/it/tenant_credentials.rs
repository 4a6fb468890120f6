//! Tenants' sealed credentials: first writer wins, replace, promote (pending → current), removal per
//! tenant; and the tenant's external database access flag.

use mgmt_domain::{RepoError, SealedCredential, TenantId};
use mgmt_persistence::testing::test_database;

/// A stand-in sealed value: storage never opens it, so any bytes of the right shape do.
fn sealed(name: &str, fill: u8) -> SealedCredential {
    SealedCredential {
        name: name.to_owned(),
        key_id: "k1".to_owned(),
        nonce: vec![fill; 24],
        ciphertext: vec![fill; 40],
    }
}

#[tokio::test]
async fn the_first_stored_value_wins_and_put_replaces_it() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().tenant_credentials;
    let c = t.customer().await.unwrap();
    let tenant = t.tenant(c.id, "shop").await.unwrap();
    assert_eq!(repo.get(tenant.id, "jwt_secret").await.unwrap(), None);

    let first = repo
        .insert_if_absent(tenant.id, &sealed("jwt_secret", 1))
        .await
        .unwrap();
    assert_eq!(first, sealed("jwt_secret", 1));
    // A rerun offering another value gets the stored one back.
    let again = repo
        .insert_if_absent(tenant.id, &sealed("jwt_secret", 2))
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(
        repo.get(tenant.id, "jwt_secret").await.unwrap(),
        Some(first)
    );

    repo.put(tenant.id, &sealed("jwt_secret", 3)).await.unwrap();
    repo.put(tenant.id, &sealed("database_password", 4))
        .await
        .unwrap();
    assert_eq!(
        repo.list(tenant.id).await.unwrap(),
        [sealed("database_password", 4), sealed("jwt_secret", 3)]
    );
}

#[tokio::test]
async fn concurrent_first_writers_agree_on_one_value() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().tenant_credentials;
    let c = t.customer().await.unwrap();
    let tenant = t.tenant(c.id, "shop").await.unwrap();
    let writes = (1..=8u8).map(|i| {
        let repo = repo.clone();
        async move {
            repo.insert_if_absent(tenant.id, &sealed("database_password", i))
                .await
                .unwrap()
        }
    });
    let results = futures::future::join_all(writes).await;
    assert!(results.iter().all(|r| *r == results[0]), "{results:?}");
    assert_eq!(repo.list(tenant.id).await.unwrap(), [results[0].clone()]);
}

#[tokio::test]
async fn promote_replaces_the_current_value_and_removes_exactly_the_pending_one() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().tenant_credentials;
    let c = t.customer().await.unwrap();
    let tenant = t.tenant(c.id, "shop").await.unwrap();
    repo.put(tenant.id, &sealed("database_password", 1))
        .await
        .unwrap();
    let pending = sealed("database_password_pending", 2);
    repo.put(tenant.id, &pending).await.unwrap();

    let removed = repo
        .promote(tenant.id, &sealed("database_password", 3), &pending)
        .await
        .unwrap();
    assert!(removed);
    assert_eq!(
        repo.list(tenant.id).await.unwrap(),
        [sealed("database_password", 3)]
    );

    // A pending value replaced in between (another rotation) is not removed by the older one.
    let newer = sealed("database_password_pending", 5);
    repo.put(tenant.id, &newer).await.unwrap();
    let removed = repo
        .promote(tenant.id, &sealed("database_password", 4), &pending)
        .await
        .unwrap();
    assert!(!removed);
    assert_eq!(
        repo.get(tenant.id, "database_password_pending")
            .await
            .unwrap(),
        Some(newer)
    );
    assert_eq!(
        repo.get(tenant.id, "database_password").await.unwrap(),
        Some(sealed("database_password", 4))
    );
}

#[tokio::test]
async fn removal_is_per_tenant() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().tenant_credentials;
    let c = t.customer().await.unwrap();
    let gone = t.tenant(c.id, "gone").await.unwrap();
    let kept = t.tenant(c.id, "kept").await.unwrap();
    for tenant in [&gone, &kept] {
        repo.put(tenant.id, &sealed("database_password", 1))
            .await
            .unwrap();
        repo.put(tenant.id, &sealed("jwt_secret", 2)).await.unwrap();
    }
    assert_eq!(repo.delete_for_tenant(gone.id).await.unwrap(), 2);
    assert_eq!(repo.delete_for_tenant(gone.id).await.unwrap(), 0);
    assert!(repo.list(gone.id).await.unwrap().is_empty());
    assert_eq!(repo.list(kept.id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn bad_values_and_unknown_tenants_are_refused() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().tenant_credentials;
    let c = t.customer().await.unwrap();
    let tenant = t.tenant(c.id, "shop").await.unwrap();
    assert_eq!(
        repo.put(TenantId::new_random(), &sealed("jwt_secret", 1))
            .await
            .unwrap_err(),
        RepoError::NotFound { entity: "tenant" }
    );
    let e = repo
        .put(tenant.id, &sealed("Not A Name", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(e, RepoError::Other(ref m) if m.contains("credential name")),
        "{e:?}"
    );
    // The table's checks hold whatever the caller does: a nonce is 24 bytes, a key id is a key id.
    let short_nonce = SealedCredential {
        nonce: vec![0; 12],
        ..sealed("jwt_secret", 1)
    };
    assert!(matches!(
        repo.put(tenant.id, &short_nonce).await.unwrap_err(),
        RepoError::Other(_)
    ));
    let bad_key = SealedCredential {
        key_id: "no spaces".into(),
        ..sealed("jwt_secret", 1)
    };
    assert!(matches!(
        repo.put(tenant.id, &bad_key).await.unwrap_err(),
        RepoError::Other(_)
    ));
    assert!(repo.list(tenant.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_external_access_flag_defaults_off_and_is_stored() {
    let t = test_database().await.unwrap();
    let tenants = t.repositories().tenants;
    let c = t.customer().await.unwrap();
    let mut tenant = t.tenant(c.id, "shop").await.unwrap();
    assert!(!tenant.external_db_access);
    tenant.external_db_access = true;
    let updated = tenants.update(&tenant).await.unwrap();
    assert!(updated.external_db_access);
    assert!(tenants.get(tenant.id).await.unwrap().external_db_access);
}
