//! Machines API responses against the OpenAPI spec's schemas and the README's documented corrections
//! (app create returns the app; lease responses are wrapped; error bodies are `{"error", "status"?}`).

use crate::common::spec::{self, check, response_schema, schema};
use crate::common::{Api, mock};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Checker {
    spec: Value,
    api: Api,
}

impl Checker {
    /// Call the mock, assert the status, validate the body against the spec's schema for it.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        spec_path: &str,
        status: u16,
    ) -> Value {
        let (s, b) = self.api.call(method.clone(), path, body).await;
        assert_eq!(s.as_u16(), status, "{method} {path}: {b}");
        let sch = response_schema(
            &self.spec,
            spec_path,
            &method.as_str().to_lowercase(),
            status,
        );
        assert!(
            !sch.is_null(),
            "spec has no JSON schema for {method} {spec_path} {status}"
        );
        check(&self.spec, sch, &b, &format!("{method} {path}"));
        b
    }

    fn error(&self, b: &Value, what: &str) {
        check(&self.spec, schema("ErrorResponse"), b, what);
        assert!(
            b["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {b}"
        );
    }
}

#[tokio::test]
async fn machines_api_responses_match_the_spec() {
    let Some(spec) = spec::load() else { return };
    let m = mock().await;
    let c = Checker {
        spec,
        api: Api::new(&m),
    };
    let api = &c.api;

    // Correction: POST /v1/apps answers 201 with the App (the spec shows no body).
    let (s, app) = api
        .post(
            "/v1/apps",
            json!({ "app_name": "sp-spec", "org_slug": "personal" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    check(&c.spec, schema("App"), &app, "POST /v1/apps");
    c.call(
        Method::GET,
        "/v1/apps/sp-spec",
        None,
        "/apps/{app_name}",
        200,
    )
    .await;
    c.call(
        Method::GET,
        "/v1/apps?org_slug=personal",
        None,
        "/apps",
        200,
    )
    .await;

    let p = "/apps/{app_name}/secrets";
    c.call(
        Method::POST,
        "/v1/apps/sp-spec/secrets",
        Some(json!({ "values": { "A": "1" } })),
        p,
        200,
    )
    .await;
    c.call(Method::GET, "/v1/apps/sp-spec/secrets", None, p, 200)
        .await;
    let one = "/apps/{app_name}/secrets/{secret_name}";
    c.call(
        Method::POST,
        "/v1/apps/sp-spec/secrets/B",
        Some(json!({ "value": "2" })),
        one,
        201,
    )
    .await;
    c.call(Method::GET, "/v1/apps/sp-spec/secrets/B", None, one, 200)
        .await;
    c.call(Method::DELETE, "/v1/apps/sp-spec/secrets/B", None, one, 200)
        .await;

    let vol = c
        .call(
            Method::POST,
            "/v1/apps/sp-spec/volumes",
            Some(json!({ "name": "services", "size_gb": 1 })),
            "/apps/{app_name}/volumes",
            200,
        )
        .await;
    c.call(
        Method::GET,
        "/v1/apps/sp-spec/volumes",
        None,
        "/apps/{app_name}/volumes",
        200,
    )
    .await;
    let vid = vol["id"].as_str().unwrap();
    c.call(
        Method::GET,
        &format!("/v1/apps/sp-spec/volumes/{vid}"),
        None,
        "/apps/{app_name}/volumes/{volume_id}",
        200,
    )
    .await;

    let ips = "/apps/{app_name}/ip_assignments";
    c.call(
        Method::POST,
        "/v1/apps/sp-spec/ip_assignments",
        Some(json!({ "type": "shared_v4" })),
        ips,
        200,
    )
    .await;
    c.call(
        Method::POST,
        "/v1/apps/sp-spec/ip_assignments",
        Some(json!({ "type": "v6" })),
        ips,
        200,
    )
    .await;
    c.call(
        Method::GET,
        "/v1/apps/sp-spec/ip_assignments",
        None,
        ips,
        200,
    )
    .await;

    c.call(
        Method::POST,
        "/v1/apps/sp-spec/certificates/acme",
        Some(json!({ "hostname": "a.example.com" })),
        "/apps/{app_name}/certificates/acme",
        201,
    )
    .await;
    c.call(
        Method::GET,
        "/v1/apps/sp-spec/certificates/a.example.com",
        None,
        "/apps/{app_name}/certificates/{hostname}",
        200,
    )
    .await;
    c.call(
        Method::GET,
        "/v1/apps/sp-spec/certificates",
        None,
        "/apps/{app_name}/certificates",
        200,
    )
    .await;

    let body = json!({ "region": "iad", "config": { "image": "alpine", "guest": { "cpus": 1, "memory_mb": 256, "cpu_kind": "shared" },
        "mounts": [{ "volume": vid, "path": "/app/services" }], "env": { "PORT": "8080" }, "metadata": { "tenant": "t" } } });
    let mach = c
        .call(
            Method::POST,
            "/v1/apps/sp-spec/machines",
            Some(body),
            "/apps/{app_name}/machines",
            200,
        )
        .await;
    let id = mach["id"].as_str().unwrap();
    let one = "/apps/{app_name}/machines/{machine_id}";
    let path = format!("/v1/apps/sp-spec/machines/{id}");
    c.call(
        Method::GET,
        &format!("{path}/wait?state=started&timeout=5"),
        None,
        &format!("{one}/wait"),
        200,
    )
    .await;
    c.call(Method::GET, &path, None, one, 200).await;
    c.call(
        Method::GET,
        "/v1/apps/sp-spec/machines",
        None,
        "/apps/{app_name}/machines",
        200,
    )
    .await;
    c.call(
        Method::POST,
        &path,
        Some(json!({ "config": { "image": "alpine:3" } })),
        one,
        200,
    )
    .await;
    c.call(
        Method::GET,
        &format!("{path}/metadata"),
        None,
        &format!("{one}/metadata"),
        200,
    )
    .await;

    // Correction: lease responses are wrapped in {"status":"success","data": Lease}.
    let (s, lease) = api
        .post(&format!("{path}/lease"), json!({ "ttl": 30 }))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(lease["status"], "success");
    check(&c.spec, schema("Lease"), &lease["data"], "lease data");
    let (s, held) = api
        .post(&format!("{path}/lease"), json!({ "ttl": 30 }))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        held.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["code", "message", "status"]
    );

    // Correction: errors are {"error": "...", "status"?: "..."} and status may be name_taken.
    let (_, taken) = api
        .post(
            "/v1/apps",
            json!({ "app_name": "sp-spec", "org_slug": "personal" }),
        )
        .await;
    c.error(&taken, "name_taken");
    for (method, p) in [
        (Method::GET, "/v1/apps/none"),
        (Method::GET, &format!("{path}/wait?state=stopped&timeout=0")),
        (Method::DELETE, &format!("/v1/apps/sp-spec/machines/{id}")),
    ] {
        let (s, b) = api.call(method, p, None).await;
        assert!(s.is_client_error(), "{p}: {s}");
        c.error(&b, p);
    }
    let (s, b) = api
        .http
        .get(format!("{}/v1/apps/none", m.machines_url()))
        .send()
        .await
        .map(|r| (r.status(), r))
        .unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    c.error(&b.json().await.unwrap(), "401");
    assert!(m.unknown_routes().is_empty(), "{:?}", m.unknown_routes());
}
