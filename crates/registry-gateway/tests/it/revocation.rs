//! Credentials die with the tenant's right to push: a suspension or a deletion stops every outstanding
//! credential at the next request, on every gateway replica (no cache, no waiting for the TTL).

use mgmt_domain::{CustomerStatus, TenantState};
use reqwest::Method;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspension_and_deletion_stop_credentials_at_once_on_every_replica() {
    let (_reg, up) = registry();
    let gw = start_gateway(up.config()).await;
    let replica = gw.replica(up.config());
    let (t, cred) = gw.tenant("t").await;
    let dir = tempfile::tempdir().unwrap();
    let image = random_image(&dir, "v1", 1, 10_000, false);
    push_as(&gw, &image, &cred.tag, &cred).await.expect("push");
    let tag = format!("/v2/{REPO}/manifests/{}", cred.tag);
    for url in [&gw.url, &replica.url] {
        let res = request(Method::HEAD, &format!("{url}{tag}"), &cred)
            .header("accept", MANIFEST_ACCEPT.join(", "))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{url}");
    }

    gw.db
        .set_customer_status(t.customer_id, CustomerStatus::Suspended)
        .await
        .unwrap();
    for url in [&gw.url, &replica.url] {
        let res = request(Method::GET, &format!("{url}/v2/"), &cred)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{url}");
        assert!(res.text().await.unwrap().contains("suspended"));
        assert_eq!(
            outcome(request(Method::GET, &format!("{url}/v2/token"), &cred))
                .await
                .0,
            401
        );
    }
    assert!(push_as(&gw, &image, &cred.tag, &cred).await.is_err());

    // Reinstated, then deleted: the same credential works again, then stops again.
    gw.db
        .set_customer_status(t.customer_id, CustomerStatus::Active)
        .await
        .unwrap();
    assert_eq!(gw.answer(Method::GET, "/v2/", &cred).await.0, 200);
    let mut tenant = gw.repos.tenants.get(t.id).await.unwrap();
    tenant.transition(TenantState::Deleting, None).unwrap();
    gw.repos.tenants.update(&tenant).await.unwrap();
    for url in [&gw.url, &replica.url] {
        let res = request(Method::GET, &format!("{url}/v2/"), &cred)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{url}");
    }
    // Nor can a push that checked in before the deletion leave a record cleanup would not wait for:
    // the in-flight record is refused once the tenant is deleting.
    assert_eq!(
        gw.repos
            .registry_pushes
            .begin_manifest_push(t.id)
            .await
            .unwrap(),
        None
    );
}
