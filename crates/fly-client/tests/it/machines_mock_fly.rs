//! The Machines API client against mock-fly, end to end: every call the control plane makes, in the
//! order provisioning, deploy and cleanup make them, with the image pushed to the mock's registry
//! and deployed pinned by digest. Proves the client and the mock agree on Fly's wire format.

use std::time::Duration;

use mgmt_fly_client::resilience::BreakerState;
use mgmt_fly_client::{
    CreateMachineRequest, CreateVolumeRequest, FlyMachines, HttpFlyMachines, HttpRegistry, IpKind,
    MachineConfig, MachineState, MachinesConfig, MountConfig, Registry, RegistryConfig,
};
use mgmt_mock_fly::{MockFly, MockFlyConfig};
use mgmt_test_support::oci;
use secrecy::SecretString;

const APP: &str = "sp-0123456789ab";

#[tokio::test(flavor = "multi_thread")]
async fn provision_deploy_and_clean_up_against_mock_fly() {
    let mock = MockFly::start(MockFlyConfig::default()).await.unwrap();
    let token = SecretString::from(mock.token().to_string());
    let fly = HttpFlyMachines::new(MachinesConfig::new(
        mock.machines_url(),
        token.clone(),
        "our-org",
    ))
    .unwrap();

    // Apps: created once, adopted on repeat.
    assert!(
        fly.create_app(APP, Some("tenant-net"))
            .await
            .unwrap()
            .created
    );
    let again = fly.create_app(APP, Some("tenant-net")).await.unwrap();
    assert!(!again.created, "a repeated create adopts our own app");
    assert_eq!(
        fly.wait_for_app(APP, Duration::from_secs(5))
            .await
            .unwrap()
            .name,
        APP
    );

    // Secrets: names out, versions increase.
    let secrets = [("DATABASE_URL", "postgres://x"), ("JWT_SECRET", "y")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), SecretString::from(v.to_string())))
        .collect();
    let v1 = fly.set_secrets(APP, secrets).await.unwrap();
    let mut names = fly.list_secret_names(APP).await.unwrap().names;
    names.sort();
    assert_eq!(names, ["DATABASE_URL", "JWT_SECRET"]);
    let v2 = fly
        .unset_secrets(APP, &["JWT_SECRET".into()])
        .await
        .unwrap();
    assert!(v2 > v1);
    assert_eq!(
        fly.list_secret_names(APP).await.unwrap().names,
        ["DATABASE_URL"]
    );

    // Volume, IPs, certificate.
    let vol_req = CreateVolumeRequest {
        name: "services".into(),
        region: "iad".into(),
        size_gb: 1,
        encrypted: None,
    };
    let volume = fly.create_volume(APP, &vol_req).await.unwrap();
    assert_eq!(fly.list_volumes(APP).await.unwrap()[0].id, volume.id);
    let v4 = fly.assign_ip(APP, IpKind::SharedV4).await.unwrap();
    let v6 = fly.assign_ip(APP, IpKind::V6).await.unwrap();
    assert_eq!(fly.list_ips(APP).await.unwrap().len(), 2);
    let host = "0123456789ab.tenants.example.com";
    assert_eq!(fly.add_certificate(APP, host).await.unwrap().hostname, host);
    assert_eq!(fly.get_certificate(APP, host).await.unwrap().hostname, host);
    // Fly answers a repeated add with 422; the client's add is idempotent: found first, or (when
    // the look-up missed it, as in a race) the 422 is read as "already there".
    assert_eq!(fly.add_certificate(APP, host).await.unwrap().hostname, host);
    mock.faults().fail_next("get_certificate", 1, 404);
    assert_eq!(fly.add_certificate(APP, host).await.unwrap().hostname, host);
    let posts = |m: &MockFly| {
        m.requests()
            .iter()
            .filter(|r| r.op.as_deref() == Some("create_certificate"))
            .map(|r| r.status)
            .collect::<Vec<_>>()
    };
    assert_eq!(posts(&mock), [201, 422], "the race path met Fly's 422");

    // Deploy pinned by digest: push, resolve, create, wait.
    let dir = tempfile::tempdir().unwrap();
    let image = oci::build_image(dir.path(), "t", &[b"tenant app"], true).unwrap();
    let dest = format!("{}/shared-images:tenant-x", mock.registry_host());
    oci::skopeo_push(&image, &dest, Some(("x", mock.token())), &[])
        .await
        .unwrap();
    let registry = HttpRegistry::new(RegistryConfig::new(mock.registry_url(), "x", token)).unwrap();
    let digest = registry
        .resolve("shared-images", "tenant-x")
        .await
        .unwrap()
        .unwrap()
        .digest;
    let mut config = MachineConfig {
        image: format!("{}/shared-images@{digest}", mock.registry_host()),
        ..Default::default()
    };
    config.metadata.insert("tenant_id".into(), "0123".into());
    config.mounts.push(MountConfig {
        volume: volume.id.clone(),
        path: "/app/services".into(),
        name: None,
    });
    let req = CreateMachineRequest {
        region: Some("iad".into()),
        config,
        ..Default::default()
    };
    let machine = fly.create_machine(APP, &req, None).await.unwrap();
    let wait = Duration::from_secs(10);
    fly.wait_machine(
        APP,
        &machine.id,
        MachineState::Started,
        machine.instance_id.as_deref(),
        wait,
    )
    .await
    .unwrap();
    let listed = fly
        .list_machines(APP, Some(("tenant_id", "0123")))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        fly.list_machines(APP, Some(("tenant_id", "other")))
            .await
            .unwrap()
            .is_empty()
    );

    // Update under a lease; a second lease is a conflict.
    let lease = fly
        .acquire_lease(APP, &machine.id, Duration::from_secs(30), "deploy")
        .await
        .unwrap();
    let held = fly
        .acquire_lease(APP, &machine.id, Duration::from_secs(30), "other")
        .await
        .unwrap_err();
    assert!(
        matches!(held, mgmt_fly_client::FlyError::Conflict(_)),
        "{held:?}"
    );
    let mut update = req.clone();
    update.config.env.insert("RUST_LOG".into(), "info".into());
    let updated = fly
        .update_machine(APP, &machine.id, &update, Some(&lease.nonce))
        .await
        .unwrap();
    assert_ne!(
        updated.instance_id, machine.instance_id,
        "an update is a new version"
    );
    fly.wait_machine(
        APP,
        &machine.id,
        MachineState::Started,
        updated.instance_id.as_deref(),
        wait,
    )
    .await
    .unwrap();
    fly.release_lease(APP, &machine.id, &lease.nonce)
        .await
        .unwrap();

    fly.stop_machine(APP, &machine.id, None).await.unwrap();
    fly.wait_machine(APP, &machine.id, MachineState::Stopped, None, wait)
        .await
        .unwrap();
    fly.start_machine(APP, &machine.id, None).await.unwrap();
    fly.wait_machine(APP, &machine.id, MachineState::Started, None, wait)
        .await
        .unwrap();
    fly.restart_machine(APP, &machine.id, None).await.unwrap();
    assert_eq!(
        fly.get_machine(APP, &machine.id).await.unwrap().id,
        machine.id
    );

    // Cleanup, in the order the durable job runs it; repeated deletes are NotFound ("done"). Fly's
    // deletes are asynchronous: the machine holds its volume until it is `destroyed`, and the app
    // lingers after its 202.
    fly.delete_machine(APP, &machine.id, true, None)
        .await
        .unwrap();
    fly.wait_machine(APP, &machine.id, MachineState::Destroyed, None, wait)
        .await
        .unwrap();
    fly.delete_certificate(APP, host).await.unwrap();
    fly.delete_ip(APP, &v4.ip).await.unwrap();
    fly.delete_ip(APP, &v6.ip).await.unwrap();
    fly.delete_volume(APP, &volume.id).await.unwrap();
    fly.delete_app(APP).await.unwrap();
    let lingering = fly.get_app(APP).await.unwrap();
    assert_eq!(lingering.status.as_deref(), Some("suspended"));
    let deadline = tokio::time::Instant::now() + wait;
    while fly.get_app(APP).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "the app never went");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fly.get_app(APP).await.unwrap_err().is_not_found());
    assert!(fly.delete_app(APP).await.unwrap_err().is_not_found());

    assert_eq!(fly.breaker_state(), BreakerState::Closed);
    assert!(
        mock.unknown_routes().is_empty(),
        "client used routes the mock does not know: {:?}",
        mock.unknown_routes()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_is_unauthorized() {
    let mock = MockFly::start(MockFlyConfig::default()).await.unwrap();
    let cfg = MachinesConfig::new(
        mock.machines_url(),
        SecretString::from("fm2_wrong".to_string()),
        "our-org",
    );
    let err = HttpFlyMachines::new(cfg)
        .unwrap()
        .get_app(APP)
        .await
        .unwrap_err();
    assert!(
        matches!(err, mgmt_fly_client::FlyError::Unauthorized(_)),
        "{err:?}"
    );
}
