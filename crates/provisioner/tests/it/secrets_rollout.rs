//! Secrets as the CLI uses them: a PUT is a merge, every name the CLI sends is accepted (names Fly or
//! the operator own are refused, naming the key, and a refused request changes nothing), and each
//! change reaches the running machine through a rollout pinned to the image it is deployed with.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::{Harness, images};
use mgmt_domain::{DeploymentStatus, Tenant, TenantState};
use mgmt_mock_fly::MachineRecord;
use mgmt_provisioner::ServiceError;
use secrecy::SecretString;

const T: Duration = Duration::from_secs(20);

fn secrets(pairs: &[(&str, &str)]) -> BTreeMap<String, SecretString> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), SecretString::from((*v).to_owned())))
        .collect()
}

/// A provisioned tenant running its first image; returns it and the digest.
async fn deployed(h: &Harness, name: &str) -> (Tenant, String) {
    let t = h.provisioned(name, "basic").await;
    let digest = images::push(h, &t.id, name).await;
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    let t = h.wait_deployed(t.id, &digest, T).await;
    (t, digest)
}

fn machine(h: &Harness, t: &Tenant) -> MachineRecord {
    let s = h.mock.state();
    let machines = s.machines_of(&t.fly_app_name);
    assert_eq!(machines.len(), 1, "one machine");
    machines[0].clone()
}

/// Digest of the app's current value of `name` (what a machine booted with it holds).
fn app_digest(h: &Harness, t: &Tenant, name: &str) -> Option<String> {
    h.mock
        .state()
        .app(&t.fly_app_name)
        .and_then(|a| a.secrets.get(name).map(|s| s.digest.clone()))
}

/// Waits until the tenant's machine holds the app's current value of every one of `names`.
async fn wait_machine_has(h: &Harness, t: &Tenant, names: &[&str]) -> MachineRecord {
    mgmt_test_support::wait::eventually(T, || async {
        let m = machine(h, t);
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| m.secrets.get(*n) != app_digest(h, t, n).as_ref())
            .collect();
        if missing.is_empty() && m.state == "started" {
            mgmt_test_support::wait::Check::Done(m)
        } else {
            mgmt_test_support::wait::Check::not_yet(format!(
                "machine {} ({}) lacks the current {missing:?}",
                m.id, m.state
            ))
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_reaches_the_running_machine_on_the_same_image() {
    let mut h = Harness::start().await;
    h.start_workers();
    let (t, digest) = deployed(&h, "put-after").await;
    let before = machine(&h, &t);
    let platform_db_url = app_digest(&h, &t, "DATABASE_URL").unwrap();
    assert_eq!(before.secrets.get("DATABASE_URL"), Some(&platform_db_url));

    // The customer's DATABASE_URL wins over the platform's, and reaches the machine.
    h.service
        .set_secrets(
            h.customer.id,
            t.id,
            secrets(&[
                ("DATABASE_URL", "postgres://customer/db"),
                ("API_KEY", "k1"),
            ]),
        )
        .await
        .unwrap();
    let after = wait_machine_has(&h, &t, &["DATABASE_URL", "API_KEY"]).await;
    assert_ne!(after.secrets["DATABASE_URL"], platform_db_url);
    assert!(after.secrets_version > before.secrets_version);
    // The version Fly answered to the PUT is recorded (Fly's list does not say it) and the machine
    // booted with at least it.
    let app_version = h.mock.state().app(&t.fly_app_name).unwrap().secrets_version;
    let recorded = h.repos.tenants.get(t.id).await.unwrap().secrets_version;
    assert_eq!(recorded, Some(app_version));
    assert!(after.secrets_version >= app_version);
    assert_eq!(after.id, before.id, "the same machine, updated");
    assert_eq!(after.image, images::pinned(&h.mock, &digest), "same digest");
    let t = h.wait_deployed(t.id, &digest, T).await;
    assert_eq!(t.state, TenantState::Running);
    let events = h.event_types(t.id).await;
    assert!(
        events.iter().any(|e| e == "deployment_requested"),
        "{events:?}"
    );

    // An unset reaches it too; unsetting a name the app lacks is done and rolls nothing out.
    h.service
        .unset_secret(h.customer.id, t.id, "API_KEY")
        .await
        .unwrap();
    mgmt_test_support::wait::eventually(T, || async {
        let m = machine(&h, &t);
        if !m.secrets.contains_key("API_KEY") && m.state == "started" {
            mgmt_test_support::wait::Check::Done(())
        } else {
            mgmt_test_support::wait::Check::not_yet(format!("{:?}", m.secrets.keys()))
        }
    })
    .await
    .unwrap();
    let t = h.wait_deployed(t.id, &digest, T).await;
    let count = h
        .repos
        .deployments
        .list_for_tenant(t.id)
        .await
        .unwrap()
        .len();
    let version = h.mock.state().app(&t.fly_app_name).unwrap().secrets_version;
    h.service
        .unset_secret(h.customer.id, t.id, "SYSTEMPROMPT_API_URL")
        .await
        .unwrap();
    assert_eq!(
        h.repos
            .deployments
            .list_for_tenant(t.id)
            .await
            .unwrap()
            .len(),
        count
    );
    assert_eq!(
        h.mock.state().app(&t.fly_app_name).unwrap().secrets_version,
        version
    );
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_puts_merge_and_cost_one_rollout() {
    let mut h = Harness::start().await;
    h.start_workers();
    let (t, digest) = deployed(&h, "three-puts").await;
    // The workers are stopped so the three PUTs queue up as the CLI's back-to-back PUTs would
    // while a rollout is in flight.
    h.stop_workers().await;
    for pairs in [
        &[("OAUTH_AT_REST_PEPPER", "p"), ("SIGNING_KEY_PEM", "pem")][..],
        &[
            ("SYSTEMPROMPT_API_TOKEN", "jwt"),
            ("SYSTEMPROMPT_USER_EMAIL", "a@b.c"),
        ][..],
        &[(
            "SYSTEMPROMPT_PROFILE",
            "/app/services/profiles/p/profile.yaml",
        )][..],
    ] {
        h.service
            .set_secrets(h.customer.id, t.id, secrets(pairs))
            .await
            .unwrap();
    }
    let names: Vec<String> = h
        .service
        .list_secret_names(h.customer.id, t.id)
        .await
        .unwrap();
    for n in [
        "DATABASE_URL",
        "JWT_SECRET",
        "OAUTH_AT_REST_PEPPER",
        "SIGNING_KEY_PEM",
        "SYSTEMPROMPT_API_TOKEN",
        "SYSTEMPROMPT_USER_EMAIL",
        "SYSTEMPROMPT_PROFILE",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} survived: {names:?}");
    }
    h.start_workers();
    let m = wait_machine_has(
        &h,
        &t,
        &[
            "OAUTH_AT_REST_PEPPER",
            "SYSTEMPROMPT_API_TOKEN",
            "SYSTEMPROMPT_PROFILE",
        ],
    )
    .await;
    assert_eq!(m.image, images::pinned(&h.mock, &digest));
    h.wait_deployed(t.id, &digest, T).await;
    let history = h.repos.deployments.list_for_tenant(t.id).await.unwrap();
    let statuses: Vec<DeploymentStatus> = history.iter().map(|d| d.status).collect();
    assert_eq!(
        statuses,
        [
            DeploymentStatus::Succeeded,
            DeploymentStatus::Superseded,
            DeploymentStatus::Superseded,
            DeploymentStatus::Succeeded
        ],
        "one rollout for three PUTs"
    );
    assert!(
        history
            .iter()
            .all(|d| d.digest.as_deref() == Some(digest.as_str()))
    );
    let updates = h
        .mock
        .requests()
        .iter()
        .filter(|r| r.op.as_deref() == Some("update_machine"))
        .count();
    assert_eq!(updates, 1, "one machine update");
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_right_after_a_deploy_keeps_the_new_image() {
    let mut h = Harness::start().await;
    h.start_workers();
    let (t, d1) = deployed(&h, "put-after-deploy").await;
    h.stop_workers().await;
    let d2 = images::push(&h, &t.id, "second").await;
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    h.service
        .set_secrets(h.customer.id, t.id, secrets(&[("API_KEY", "v")]))
        .await
        .unwrap();
    let newest = h
        .repos
        .deployments
        .latest_for_tenant(t.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(newest.digest.as_deref(), Some(d2.as_str()), "not d1 {d1}");
    h.start_workers();
    let t = h.wait_deployed(t.id, &d2, T).await;
    let m = wait_machine_has(&h, &t, &["API_KEY"]).await;
    assert_eq!(m.image, images::pinned(&h.mock, &d2));
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_set_before_the_first_deploy_boot_with_it() {
    let mut h = Harness::start().await;
    h.start_workers();
    let t = h.provisioned("before-deploy", "basic").await;
    h.service
        .set_secrets(
            h.customer.id,
            t.id,
            secrets(&[("JWT_SECRET", &"j".repeat(64)), ("ANTHROPIC_API_KEY", "a")]),
        )
        .await
        .unwrap();
    assert!(
        h.repos
            .deployments
            .list_for_tenant(t.id)
            .await
            .unwrap()
            .is_empty(),
        "no machine yet: nothing to roll out"
    );
    let t = h.repos.tenants.get(t.id).await.unwrap();
    assert_eq!(t.state, TenantState::AwaitingDeploy);
    assert_eq!(
        h.event_types(t.id).await.last().map(String::as_str),
        Some("secrets_updated")
    );
    let digest = images::push(&h, &t.id, "first").await;
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    let t = h.wait_deployed(t.id, &digest, T).await;
    wait_machine_has(&h, &t, &["JWT_SECRET", "ANTHROPIC_API_KEY", "DATABASE_URL"]).await;
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_the_cli_sends_are_accepted_and_platform_names_refused_whole() {
    let mut h = Harness::start().await;
    // Before provisioning has created the app: a conflict, not a write.
    let pending = h.create("early", "basic").await;
    match h
        .service
        .set_secrets(h.customer.id, pending.id, secrets(&[("API_KEY", "v")]))
        .await
    {
        Err(ServiceError::Conflict(m)) => assert!(m.contains("provisioning"), "{m}"),
        other => panic!("{other:?}"),
    }
    h.start_workers();
    let t = h
        .wait_state(pending.id, TenantState::AwaitingDeploy, T)
        .await;
    let pem = "A".repeat(8 * 1024);
    let accepted = [
        ("DATABASE_URL", "postgres://u:p@h/db"),
        ("JWT_SECRET", "x"),
        ("EXTERNAL_DATABASE_URL", "postgres://ext/db"),
        ("SIGNING_KEY_PEM", pem.as_str()),
        ("SYSTEMPROMPT_CUSTOM_SECRETS", "MY_KEY"),
        ("OAUTH_AT_REST_PEPPER", "p"),
        ("GEMINI_API_KEY", "g"),
        ("OPENAI_API_KEY", "o"),
        ("GITHUB_TOKEN", "t"),
        ("MY_KEY", "u"),
        ("lower_case", "l"),
    ];
    h.service
        .set_secrets(h.customer.id, t.id, secrets(&accepted))
        .await
        .unwrap();
    let app = h.mock.state().app(&t.fly_app_name).unwrap().clone();
    for (k, _) in accepted {
        assert!(app.secrets.contains_key(k), "{k}");
    }

    for (bad, why) in [
        ("FLY_APP_NAME", "FLY_"),
        ("FLY_MACHINE_ID", "FLY_"),
        ("SMTP_PASSWORD", "platform"),
        ("MY-KEY", "letters, digits and `_`"),
        ("1ABC", "letters, digits and `_`"),
    ] {
        // Mixed with a valid name: the whole request is refused and nothing is written.
        let req = secrets(&[("NEW_OK", "v"), (bad, "v")]);
        match h.service.set_secrets(h.customer.id, t.id, req).await {
            Err(ServiceError::InvalidInput(m)) => {
                assert!(m.contains(bad) && m.contains(why), "{bad}: {m}")
            }
            other => panic!("{bad}: {other:?}"),
        }
        match h.service.unset_secret(h.customer.id, t.id, bad).await {
            Err(ServiceError::InvalidInput(m)) => assert!(m.contains(bad), "{bad}: {m}"),
            other => panic!("unset {bad}: {other:?}"),
        }
    }
    let too_big = "v".repeat(mgmt_provisioner::MAX_SECRET_BYTES + 1);
    match h
        .service
        .set_secrets(
            h.customer.id,
            t.id,
            secrets(&[("NEW_OK", "v"), ("BIG", &too_big)]),
        )
        .await
    {
        Err(ServiceError::InvalidInput(m)) => assert!(m.contains("BIG"), "{m}"),
        other => panic!("{other:?}"),
    }
    let after = h.mock.state().app(&t.fly_app_name).unwrap().clone();
    assert_eq!(
        after.secrets_version, app.secrets_version,
        "nothing written"
    );
    assert!(!after.secrets.contains_key("NEW_OK"));
    h.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_asks_fly_for_at_least_the_recorded_secrets_version() {
    let mut h = Harness::start().await;
    h.start_workers();
    let (t, digest) = deployed(&h, "min-version").await;
    // As if Fly's secret store had not yet caught up with a version we were told about: the machine
    // update must carry `min_secrets_version`, which Fly (and mock-fly) refuses to boot below.
    let app_version = h.mock.state().app(&t.fly_app_name).unwrap().secrets_version;
    h.repos
        .tenants
        .raise_secrets_version(t.id, app_version + 5)
        .await
        .unwrap();
    // Lowering is never possible: a stale, smaller version is ignored.
    h.repos
        .tenants
        .raise_secrets_version(t.id, 1)
        .await
        .unwrap();
    assert_eq!(
        h.repos.tenants.get(t.id).await.unwrap().secrets_version,
        Some(app_version + 5)
    );
    h.service
        .roll_out_secrets(&t, "test: a version Fly does not have yet")
        .await
        .unwrap();
    let failed = h.wait_state(t.id, TenantState::Failed, T).await;
    let reason = failed.status_message.unwrap_or_default();
    assert!(reason.contains("secrets"), "{reason}");
    // The machine still runs the image it ran, with what it booted with.
    assert_eq!(machine(&h, &t).image, images::pinned(&h.mock, &digest));
    h.stop_workers().await;
}
