//! Wire format of the Machines API client's composite calls against a local fake server: creates
//! made safe to repeat (name_taken adoption, machine lookup by metadata), `wait`, leases, secrets.

use std::time::Duration;

use crate::machines_common::{client, json_reply, on};
use mgmt_fly_client::resilience::BreakerState;
use mgmt_fly_client::{CreateMachineRequest, FlyError, FlyMachines, MachineConfig, MachineState};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{body_json, header, query_param};
use wiremock::{MockServer, ResponseTemplate};

#[tokio::test]
async fn name_taken_is_adopted_when_the_app_is_ours() {
    let server = MockServer::start().await;
    on("POST", "/v1/apps")
        .and(body_json(
            json!({"app_name": "a1", "name": "a1", "org_slug": "our-org"}),
        ))
        .respond_with(json_reply(
            422,
            json!({"error": "taken", "status": "name_taken"}),
        ))
        .mount(&server)
        .await;
    on("GET", "/v1/apps/a1")
        .respond_with(json_reply(
            200,
            json!({"name": "a1", "organization": {"slug": "our-org"}}),
        ))
        .mount(&server)
        .await;
    let created = client(&server).create_app("a1", None).await.unwrap();
    assert!(!created.created);
    assert_eq!(created.app.name, "a1");
}

#[tokio::test]
async fn name_taken_by_another_org_or_invisible_is_name_taken() {
    let server = MockServer::start().await;
    on("POST", "/v1/apps")
        .respond_with(json_reply(
            422,
            json!({"error": "taken", "status": "name_taken"}),
        ))
        .mount(&server)
        .await;
    on("GET", "/v1/apps/theirs")
        .respond_with(json_reply(
            200,
            json!({"name": "theirs", "organization": {"slug": "other"}}),
        ))
        .mount(&server)
        .await;
    on("GET", "/v1/apps/hidden")
        .respond_with(json_reply(404, json!({"error": "app not found"})))
        .mount(&server)
        .await;
    let c = client(&server);
    assert!(matches!(
        c.create_app("theirs", None).await,
        Err(FlyError::NameTaken(_))
    ));
    assert!(matches!(
        c.create_app("hidden", None).await,
        Err(FlyError::NameTaken(_))
    ));
}

#[tokio::test]
async fn created_app_body_is_returned() {
    let server = MockServer::start().await;
    // The app's own network is sent (Fly's CreateAppRequest `network`); without it Fly would put the
    // app in the organisation's shared default network.
    on("POST", "/v1/apps")
        .and(wiremock::matchers::body_partial_json(
            json!({"app_name": "a1", "network": "tenant-0123456789ab"}),
        ))
        .respond_with(json_reply(
            201,
            json!({"id": "app_1", "name": "a1", "extra": 1}),
        ))
        .mount(&server)
        .await;
    let created = client(&server)
        .create_app("a1", Some("tenant-0123456789ab"))
        .await
        .unwrap();
    assert!(created.created);
    assert_eq!(created.app.id.as_deref(), Some("app_1"));
}

fn machine_request() -> CreateMachineRequest {
    let mut config = MachineConfig {
        image: "registry.fly.io/x@sha256:abc".into(),
        ..Default::default()
    };
    config.metadata.insert("tenant_id".into(), "t-1".into());
    CreateMachineRequest {
        region: Some("iad".into()),
        config,
        ..Default::default()
    }
}

fn machine_json(id: &str, tenant: &str) -> serde_json::Value {
    json!({"id": id, "state": "created", "instance_id": "01H", "config": {"image": "i", "metadata": {"tenant_id": tenant}}})
}

#[tokio::test]
async fn machine_create_408_is_resolved_by_metadata_lookup() {
    let server = MockServer::start().await;
    on("POST", "/v1/apps/a1/machines")
        .respond_with(json_reply(408, json!({"error": "timeout"})))
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/v1/apps/a1/machines")
        .and(query_param("metadata.tenant_id", "t-1"))
        .respond_with(json_reply(
            200,
            json!([machine_json("m-other", "t-2"), machine_json("m-1", "t-1")]),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let m = client(&server)
        .create_machine("a1", &machine_request(), None)
        .await
        .unwrap();
    assert_eq!(m.id, "m-1");
}

#[tokio::test]
async fn machine_create_408_without_a_match_is_retried() {
    let server = MockServer::start().await;
    on("POST", "/v1/apps/a1/machines")
        .and(header("fly-machine-lease-nonce", "n1"))
        .respond_with(ResponseTemplate::new(408))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    on("POST", "/v1/apps/a1/machines")
        .respond_with(json_reply(200, machine_json("m-2", "t-1")))
        .expect(1)
        .mount(&server)
        .await;
    on("GET", "/v1/apps/a1/machines")
        .respond_with(json_reply(200, json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let m = client(&server)
        .create_machine("a1", &machine_request(), Some("n1"))
        .await
        .unwrap();
    assert_eq!(m.id, "m-2");
}

#[tokio::test]
async fn wait_keeps_waiting_through_408_then_times_out_transient() {
    let server = MockServer::start().await;
    on("GET", "/v1/apps/a1/machines/m1/wait")
        .and(query_param("state", "started"))
        .and(query_param("instance_id", "01H"))
        .respond_with(json_reply(408, json!({"error": "deadline exceeded"})))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    on("GET", "/v1/apps/a1/machines/m1/wait")
        .respond_with(json_reply(200, json!({"ok": true})))
        .mount(&server)
        .await;
    let c = client(&server);
    c.wait_machine(
        "a1",
        "m1",
        MachineState::Started,
        Some("01H"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let waits = server.received_requests().await.unwrap();
    assert_eq!(waits.len(), 3, "two 408s, then the state was reached");
    assert!(waits[0].url.query().unwrap().contains("timeout=5"));

    on("GET", "/v1/apps/a1/machines/m2/wait")
        .respond_with(ResponseTemplate::new(408))
        .mount(&server)
        .await;
    let err = c
        .wait_machine(
            "a1",
            "m2",
            MachineState::Stopped,
            None,
            Duration::from_millis(1500),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, FlyError::Transient(_)), "{err:?}");
    assert_eq!(
        c.breaker_state(),
        BreakerState::Closed,
        "408 from wait is not a failure"
    );
}

#[tokio::test]
async fn leases_secrets_and_ips_use_fly_shapes() {
    let server = MockServer::start().await;
    on("POST", "/v1/apps/a1/machines/m1/lease")
        .and(body_json(json!({"ttl": 30, "description": "deploy"})))
        .respond_with(json_reply(
            201,
            json!({"status": "success", "data": {"nonce": "n1", "expires_at": 1}}),
        ))
        .mount(&server)
        .await;
    on("DELETE", "/v1/apps/a1/machines/m1/lease")
        .and(header("fly-machine-lease-nonce", "n1"))
        .respond_with(json_reply(
            200,
            json!({"status": "success", "data": {"ok": true}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    on("POST", "/v1/apps/a1/secrets")
        .and(body_json(json!({"values": {"K": "v"}})))
        .respond_with(json_reply(
            200,
            json!({"version": 3, "secrets": [{"name": "K", "value": "v"}]}),
        ))
        .mount(&server)
        .await;
    on("POST", "/v1/apps/a1/secrets")
        .and(body_json(json!({"values": {"K": null}})))
        .respond_with(json_reply(200, json!({"Version": 4, "secrets": []})))
        .mount(&server)
        .await;
    on("GET", "/v1/apps/a1/secrets")
        .respond_with(json_reply(
            200,
            json!({"secrets": [{"name": "K", "digest": "d"}]}),
        ))
        .mount(&server)
        .await;
    on("POST", "/v1/apps/a1/ip_assignments")
        .and(body_json(json!({"type": "shared_v4"})))
        .respond_with(json_reply(200, json!({"ip": "1.2.3.4", "shared": true})))
        .mount(&server)
        .await;
    on("DELETE", "/v1/apps/a1/machines/m1")
        .and(query_param("force", "true"))
        .respond_with(json_reply(200, json!({"ok": true})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let lease = c
        .acquire_lease("a1", "m1", Duration::from_secs(30), "deploy")
        .await
        .unwrap();
    assert_eq!(lease.nonce, "n1");
    c.release_lease("a1", "m1", "n1").await.unwrap();
    let secrets = [("K".to_string(), SecretString::from("v".to_string()))]
        .into_iter()
        .collect();
    assert_eq!(c.set_secrets("a1", secrets).await.unwrap(), 3);
    assert_eq!(c.unset_secrets("a1", &["K".into()]).await.unwrap(), 4);
    assert_eq!(c.list_secret_names("a1").await.unwrap().names, ["K"]);
    assert_eq!(
        c.assign_ip("a1", mgmt_fly_client::IpKind::SharedV4)
            .await
            .unwrap()
            .ip,
        "1.2.3.4"
    );
    c.delete_machine("a1", "m1", true, None).await.unwrap();
}

#[tokio::test]
async fn machine_create_without_metadata_is_not_repeated_after_an_ambiguous_failure() {
    let server = MockServer::start().await;
    on("POST", "/v1/apps/a1/machines")
        .respond_with(ResponseTemplate::new(504))
        .expect(1)
        .mount(&server)
        .await;
    let mut req = machine_request();
    req.config.metadata.clear();
    let err = client(&server)
        .create_machine("a1", &req, None)
        .await
        .unwrap_err();
    assert!(matches!(err, FlyError::Transient(_)), "{err:?}");
}
