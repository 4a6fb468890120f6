//! Deploy attempts.

use mgmt_domain::{DeploymentStatus, NewDeployment, RepoError, TenantId};
use mgmt_persistence::testing::test_database;
use uuid::Uuid;

fn new_deployment(tenant: TenantId, n: u32) -> NewDeployment {
    NewDeployment {
        tenant_id: tenant,
        image: format!("gw.test/imgs:tenant-{tenant}"),
        digest: Some(format!("sha256:{n:064x}")),
    }
}

#[tokio::test]
async fn deployments_are_recorded_started_finished_and_superseded() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().deployments;
    let alice = t.customer().await.unwrap();
    let tenant = t.tenant(alice.id, "a").await.unwrap();
    let other = t.tenant(alice.id, "b").await.unwrap();
    assert_eq!(repo.latest_for_tenant(tenant.id).await.unwrap(), None);

    let d1 = repo.insert(new_deployment(tenant.id, 1)).await.unwrap();
    assert_eq!(
        (d1.status, d1.started_at, d1.finished_at),
        (DeploymentStatus::Pending, None, None)
    );
    let d1 = repo.mark_started(d1.id).await.unwrap();
    assert_eq!(d1.status, DeploymentStatus::InProgress);
    assert!(d1.started_at.is_some());
    assert_eq!(repo.mark_started(d1.id).await.unwrap(), d1, "idempotent");

    let d2 = repo.insert(new_deployment(tenant.id, 2)).await.unwrap();
    let d3 = repo.insert(new_deployment(tenant.id, 3)).await.unwrap();
    let o1 = repo.insert(new_deployment(other.id, 4)).await.unwrap();
    assert_eq!(
        repo.latest_for_tenant(tenant.id).await.unwrap().unwrap().id,
        d3.id
    );
    let ids: Vec<Uuid> = repo
        .list_for_tenant(tenant.id)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, [d3.id, d2.id, d1.id], "newest first");

    assert_eq!(repo.supersede_older(tenant.id, d3.id).await.unwrap(), 2);
    for id in [d1.id, d2.id] {
        let d = repo.get(id).await.unwrap();
        assert_eq!(d.status, DeploymentStatus::Superseded);
        assert!(d.finished_at.is_some());
    }
    assert_eq!(
        repo.get(d3.id).await.unwrap().status,
        DeploymentStatus::Pending
    );
    assert_eq!(
        repo.get(o1.id).await.unwrap().status,
        DeploymentStatus::Pending,
        "other tenants untouched"
    );
    assert_eq!(repo.supersede_older(tenant.id, d3.id).await.unwrap(), 0);
    assert_eq!(
        repo.supersede_older(other.id, d3.id).await.unwrap_err(),
        RepoError::NotFound {
            entity: "deployment"
        }
    );

    // A superseded deployment stays superseded when its worker reports late.
    assert_eq!(
        repo.mark_started(d2.id).await.unwrap().status,
        DeploymentStatus::Superseded
    );
    let late = repo
        .mark_finished(d1.id, DeploymentStatus::Succeeded, None)
        .await
        .unwrap();
    assert_eq!(late.status, DeploymentStatus::Superseded);

    let failed = repo
        .mark_finished(
            d3.id,
            DeploymentStatus::Failed,
            Some("machine did not start".into()),
        )
        .await
        .unwrap();
    assert_eq!(
        (failed.status, failed.error.as_deref()),
        (DeploymentStatus::Failed, Some("machine did not start"))
    );
    assert!(failed.finished_at.is_some());
    assert!(
        repo.mark_finished(o1.id, DeploymentStatus::InProgress, None)
            .await
            .is_err(),
        "not a finished status"
    );
    assert_eq!(
        repo.get(Uuid::new_v4()).await.unwrap_err(),
        RepoError::NotFound {
            entity: "deployment"
        }
    );
    assert_eq!(
        repo.mark_started(Uuid::new_v4()).await.unwrap_err(),
        RepoError::NotFound {
            entity: "deployment"
        }
    );
}
