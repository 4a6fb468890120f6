//! Happy paths against real PostgreSQL + mock-fly: provision, deploy (first and later), restart,
//! secrets, delete; mock-fly's state checked after each.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::{Harness, images};
use mgmt_domain::{DeploymentStatus, TenantState};
use mgmt_provisioner::ServiceError;
use secrecy::SecretString;

const T: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_lifecycle_provision_deploy_restart_secrets_delete() {
    let mut h = Harness::start().await;
    h.start_workers();

    // Provision.
    let created = h.create("shop", "basic").await;
    assert_eq!(created.state, TenantState::Pending);
    let t = h
        .wait_state(created.id, TenantState::AwaitingDeploy, T)
        .await;
    let s = h.mock.state();
    let app = s.app(&t.fly_app_name).expect("app created");
    assert_eq!(
        app.network,
        mgmt_domain::naming::fly_network_name(&t.id),
        "each tenant app has its own private network"
    );
    let names: Vec<&str> = app.secrets.keys().map(String::as_str).collect();
    assert_eq!(names, ["DATABASE_URL", "JWT_SECRET", "SMTP_PASSWORD"]);
    let ip_types: Vec<&str> = app.ips.iter().map(|i| i.ip_type.as_str()).collect();
    assert!(
        ip_types.contains(&"shared_v4") && ip_types.contains(&"v6"),
        "{ip_types:?}"
    );
    assert!(app.certificates.contains_key(&t.hostname));
    let vols = s.volumes_of(&t.fly_app_name);
    assert_eq!(vols.len(), 1);
    assert_eq!(
        (
            vols[0].name.as_str(),
            vols[0].size_gb,
            vols[0].region.as_str()
        ),
        ("services", 10, "fra")
    );
    assert_eq!(t.volume_id.as_deref(), Some(vols[0].id.as_str()));
    assert!(
        s.machines_of(&t.fly_app_name).is_empty(),
        "no machine before the first deploy"
    );
    assert!(
        h.db_leftovers(&t).await.len() == 2,
        "database and role exist"
    );
    let events = h.event_types(t.id).await;
    for e in [
        "tenant_created",
        "database_created",
        "vm_provisioning_started",
        "secrets_configured",
        "infrastructure_ready",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} missing from {events:?}");
    }

    // First deploy: creates the machine pinned by digest.
    let d1 = images::push(&h, &t.id, "v1").await;
    let (_, dep) = h
        .service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    assert_eq!(dep.digest.as_deref(), Some(d1.as_str()));
    let t = h.wait_state(t.id, TenantState::Running, T).await;
    let s = h.mock.state();
    let machines = s.machines_of(&t.fly_app_name);
    assert_eq!(machines.len(), 1);
    let m = machines[0];
    assert_eq!(m.image, images::pinned(&h.mock, &d1));
    assert_eq!(m.state, "started");
    assert_eq!(
        m.metadata.get("tenant_id").map(String::as_str),
        Some(t.id.to_string().as_str())
    );
    assert_eq!(t.machine_id.as_deref(), Some(m.id.as_str()));
    assert_eq!(t.deployed_digest.as_deref(), Some(d1.as_str()));
    let env = &m.config["env"];
    assert_eq!(env["PORT"], "8080");
    assert_eq!(env["TENANT_ID"], t.id.to_string());
    assert_eq!(env["APP_URL"], t.app_url());
    assert_eq!(env["DATABASE_TYPE"], "postgres");
    assert_eq!(m.config["guest"]["memory_mb"], 1024);
    assert_eq!(
        m.config["mounts"][0]["path"],
        mgmt_domain::DEFAULT_VOLUME_MOUNT_PATH
    );
    assert_eq!(
        m.config["mounts"][0]["volume"],
        t.volume_id.clone().unwrap()
    );
    assert_eq!(m.config["services"][0]["internal_port"], 8080);
    let first_machine = m.id.clone();

    // Secrets: set, list (names only), unset; names Fly owns refused (see secrets_rollout.rs for more).
    let mut secrets = BTreeMap::new();
    secrets.insert(
        "API_KEY".to_owned(),
        SecretString::from("s3cr3t".to_owned()),
    );
    h.service
        .set_secrets(h.customer.id, t.id, secrets)
        .await
        .unwrap();
    let names = h
        .service
        .list_secret_names(h.customer.id, t.id)
        .await
        .unwrap();
    assert!(
        names.contains(&"API_KEY".to_owned()) && names.contains(&"DATABASE_URL".to_owned()),
        "{names:?}"
    );
    let mut reserved = BTreeMap::new();
    reserved.insert(
        "FLY_APP_NAME".to_owned(),
        SecretString::from("x".to_owned()),
    );
    assert!(matches!(
        h.service.set_secrets(h.customer.id, t.id, reserved).await,
        Err(ServiceError::InvalidInput(_))
    ));
    h.service
        .unset_secret(h.customer.id, t.id, "API_KEY")
        .await
        .unwrap();
    assert!(
        !h.mock
            .state()
            .app(&t.fly_app_name)
            .unwrap()
            .secrets
            .contains_key("API_KEY")
    );

    // Later deploy: same machine, new digest.
    let d2 = images::push(&h, &t.id, "v2").await;
    assert_ne!(d1, d2);
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    let t = h.wait_deployed(t.id, &d2, T).await;
    let s = h.mock.state();
    let machines = s.machines_of(&t.fly_app_name);
    assert_eq!(machines.len(), 1);
    assert_eq!(machines[0].id, first_machine);
    assert_eq!(machines[0].image, images::pinned(&h.mock, &d2));
    // The two deploys, and the secrets rollouts between them (on d1, or superseded by the deploy).
    let history = h.repos.deployments.list_for_tenant(t.id).await.unwrap();
    assert_eq!(
        (history[0].status, history[0].digest.as_deref()),
        (DeploymentStatus::Succeeded, Some(d2.as_str()))
    );
    assert!(
        history.iter().all(|d| matches!(
            d.status,
            DeploymentStatus::Succeeded | DeploymentStatus::Superseded
        ) && [Some(d1.as_str()), Some(d2.as_str())]
            .contains(&d.digest.as_deref())),
        "{history:?}"
    );

    // Restart: a stop and a start, waited for.
    let count = |op: &str| {
        h.mock
            .requests()
            .iter()
            .filter(|r| r.op.as_deref() == Some(op))
            .count()
    };
    let (stops, starts) = (count("stop_machine"), count("start_machine"));
    let t = h.service.restart(h.customer.id, t.id).await.unwrap();
    assert_eq!(t.state, TenantState::Running);
    assert_eq!(
        (count("stop_machine"), count("start_machine")),
        (stops + 1, starts + 1)
    );
    assert_eq!(
        h.mock.state().machines_of(&t.fly_app_name)[0].state,
        "started"
    );

    // Delete: every resource goes, the tenant ends deleted.
    let t = h.service.delete_tenant(h.customer.id, t.id).await.unwrap();
    assert_eq!(t.state, TenantState::Deleting);
    let t = h.wait_state(t.id, TenantState::Deleted, T).await;
    assert!(t.deleted_at.is_some());
    assert_eq!(h.fly_leftovers(&t), Vec::<String>::new());
    assert_eq!(h.db_leftovers(&t).await, Vec::<String>::new());
    assert!(matches!(
        h.service.restart(h.customer.id, t.id).await,
        Err(ServiceError::NotFound)
    ));
    assert!(
        h.mock.unknown_routes().is_empty(),
        "{:?}",
        h.mock.unknown_routes()
    );
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_validated_and_scoped_to_their_customer() {
    let mut h = Harness::start().await;
    h.start_workers();
    let t = h.provisioned("one", "free").await;

    // Quota of the free plan: one tenant.
    let req = mgmt_provisioner::CreateTenant {
        name: "two".into(),
        plan_id: None,
        region: None,
    };
    assert!(matches!(
        h.service.create_tenant(&h.customer, req).await,
        Err(ServiceError::QuotaExceeded(_))
    ));
    let bad_region = mgmt_provisioner::CreateTenant {
        name: "x".into(),
        plan_id: Some("basic".into()),
        region: Some("mars".into()),
    };
    assert!(matches!(
        h.service.create_tenant(&h.customer, bad_region).await,
        Err(ServiceError::InvalidInput(_))
    ));

    // Deploy rule, and an image never pushed is a clear 4xx-kind error.
    let wrong = format!(
        "{}/{}:tenant-00000000-0000-4000-8000-000000000001",
        h.mock.registry_host(),
        common::REPO
    );
    match h.service.deploy(h.customer.id, t.id, &wrong).await {
        Err(ServiceError::InvalidInput(m)) => assert!(m.contains(&h.image(&t.id)), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        h.service.deploy(h.customer.id, t.id, &h.image(&t.id)).await,
        Err(ServiceError::ImageNotFound(_))
    ));

    // Another customer sees nothing.
    let other = h.db.customer().await.unwrap();
    assert!(matches!(
        h.service.deploy(other.id, t.id, &h.image(&t.id)).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        h.service.list_secret_names(other.id, t.id).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        h.service.delete_tenant(other.id, t.id).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        h.service.retry_provision(other.id, t.id).await,
        Err(ServiceError::NotFound)
    ));

    // Wrong state.
    assert!(matches!(
        h.service.restart(h.customer.id, t.id).await,
        Err(ServiceError::Conflict(_))
    ));
    assert!(matches!(
        h.service.retry_provision(h.customer.id, t.id).await,
        Err(ServiceError::Conflict(_))
    ));
    let bad_key: BTreeMap<String, SecretString> =
        [("MY-KEY".to_owned(), SecretString::from("v".to_owned()))].into();
    assert!(matches!(
        h.service.set_secrets(h.customer.id, t.id, bad_key).await,
        Err(ServiceError::InvalidInput(_))
    ));
    assert!(!format!("{:?}", h.service).contains("extra-secret-value"));
    h.stop_workers().await;
}
