//! Customers and plans.

use mgmt_domain::{CustomerId, CustomerStatus, NewCustomer, RepoError};
use mgmt_persistence::testing::test_database;

fn new_customer(subject: &str) -> NewCustomer {
    NewCustomer {
        subject: subject.to_owned(),
        email: format!("{subject}@example.test"),
        name: Some("Ada".to_owned()),
    }
}

#[tokio::test]
async fn find_or_create_creates_once_and_finds_by_subject() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().customers;
    assert_eq!(repo.find_by_subject("auth0|1").await.unwrap(), None);
    let c = repo.find_or_create(new_customer("auth0|1")).await.unwrap();
    assert_eq!(c.status, CustomerStatus::Active);
    assert_eq!(c.name.as_deref(), Some("Ada"));
    let again = repo.find_or_create(new_customer("auth0|1")).await.unwrap();
    assert_eq!(again, c);
    assert_eq!(
        repo.find_by_subject("auth0|1").await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(repo.get(c.id).await.unwrap(), c);
    assert_eq!(
        repo.get(CustomerId::new_random()).await.unwrap_err(),
        RepoError::NotFound { entity: "customer" }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_logins_make_one_customer() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().customers;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let repo = repo.clone();
            tokio::spawn(async move {
                repo.find_or_create(new_customer("same-user"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

#[tokio::test]
async fn plans_are_read_by_id() {
    let t = test_database().await.unwrap();
    let plans = t.repositories().plans;
    let basic = plans.get("basic").await.unwrap();
    assert_eq!(
        (
            basic.memory_mb,
            basic.cpus,
            basic.volume_gb,
            basic.max_tenants
        ),
        (1024, 1, 10, 5)
    );
    assert_eq!(
        plans.get("platinum").await.unwrap_err(),
        RepoError::NotFound { entity: "plan" }
    );
}
