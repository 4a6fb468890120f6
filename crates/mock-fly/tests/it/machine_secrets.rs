//! A machine's environment holds the app's secrets as of its create or last update (Fly semantics):
//! later changes reach it only through an update, a restart keeps it, and a `min_secrets_version` the
//! app does not have is refused. The mock records digests only, never values.

use std::time::Duration;

use crate::common::{Api, mock_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn machine_secret(m: &mgmt_mock_fly::MockFly, id: &str, name: &str) -> Option<String> {
    let s = m.state();
    let machine = s.machines.iter().find(|x| x.id == id).expect("machine");
    machine.secrets.get(name).cloned()
}

fn app_secret(m: &mgmt_mock_fly::MockFly, app: &str, name: &str) -> Option<String> {
    m.state()
        .app(app)
        .and_then(|a| a.secrets.get(name).map(|s| s.digest.clone()))
}

async fn set(api: &Api, app: &str, values: Value) -> u64 {
    let (s, b) = api
        .post(
            &format!("/v1/apps/{app}/secrets"),
            json!({ "values": values }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["version"].as_u64().expect("version")
}

#[tokio::test]
async fn machines_boot_with_the_secrets_of_their_create_or_update_only() {
    let m = mock_with(|c| c.machine_start_delay = Duration::from_millis(20)).await;
    let api = Api::new(&m);
    api.create_app("sp-env").await;
    let v1 = set(&api, "sp-env", json!({ "API_KEY": "one" })).await;
    let machine = api.create_machine("sp-env", "alpine").await;
    let id = machine["id"].as_str().unwrap().to_owned();
    assert!(
        machine.to_string().find("one").is_none(),
        "values never leave the mock"
    );
    let one = app_secret(&m, "sp-env", "API_KEY").unwrap();
    assert_eq!(
        machine_secret(&m, &id, "API_KEY").as_deref(),
        Some(one.as_str())
    );
    assert_eq!(m.state().machines[0].secrets_version, v1);

    // A later change is on the app, not in the running machine; a restart does not pick it up.
    let v2 = set(&api, "sp-env", json!({ "API_KEY": "two", "OTHER": "x" })).await;
    assert!(v2 > v1);
    let two = app_secret(&m, "sp-env", "API_KEY").unwrap();
    assert_ne!(one, two);
    assert_eq!(
        api.wait("sp-env", &id, "state=started&timeout=5").await.0,
        StatusCode::OK
    );
    let (s, b) = api
        .post(&format!("/v1/apps/sp-env/machines/{id}/restart"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        api.wait("sp-env", &id, "state=started&timeout=5").await.0,
        StatusCode::OK
    );
    assert_eq!(
        machine_secret(&m, &id, "API_KEY").as_deref(),
        Some(one.as_str())
    );
    assert_eq!(machine_secret(&m, &id, "OTHER"), None);

    // A version the app does not have yet is refused, and the machine is left as it was.
    let update = |min: u64| json!({ "config": { "image": "alpine" }, "min_secrets_version": min });
    let (s, b) = api
        .post(&format!("/v1/apps/sp-env/machines/{id}"), update(v2 + 1))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["error"].as_str().unwrap().contains("min_secrets_version"),
        "{b}"
    );
    assert_eq!(m.state().machines[0].secrets_version, v1);

    // An update at the current version boots with the new values.
    let (s, b) = api
        .post(&format!("/v1/apps/sp-env/machines/{id}"), update(v2))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        machine_secret(&m, &id, "API_KEY").as_deref(),
        Some(two.as_str())
    );
    assert!(machine_secret(&m, &id, "OTHER").is_some());
    assert_eq!(m.state().machines[0].secrets_version, v2);

    // A create asking for a future version is refused too.
    let (s, b) = api
        .post(
            "/v1/apps/sp-env/machines",
            json!({ "config": { "image": "alpine" }, "min_secrets_version": v2 + 5 }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(m.state().machines.len(), 1);
}
