//! Helpers shared by the mock-fly integration tests: start a mock, call it, build images.
#![allow(dead_code)]

pub mod oci;
pub mod spec;

use std::time::Duration;

use mgmt_mock_fly::{MockFly, MockFlyConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub async fn mock() -> MockFly {
    mock_with(|_| {}).await
}

pub async fn mock_with(f: impl FnOnce(&mut MockFlyConfig)) -> MockFly {
    let mut config = MockFlyConfig {
        machine_start_delay: Duration::from_millis(100),
        ..MockFlyConfig::default()
    };
    f(&mut config);
    MockFly::start(config).await.expect("mock-fly starts")
}

/// A Machines API client with the mock's token.
#[derive(Debug, Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn new(m: &MockFly) -> Self {
        Api {
            http: reqwest::Client::new(),
            base: m.machines_url(),
            token: m.token().to_owned(),
        }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = rb.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body read");
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        self.send(rb).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    pub async fn create_app(&self, name: &str) {
        let (s, b) = self
            .post(
                "/v1/apps",
                json!({ "app_name": name, "org_slug": "personal" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }

    /// Create a machine and return its JSON.
    pub async fn create_machine(&self, app: &str, image: &str) -> Value {
        let (s, b) = self
            .post(&format!("/v1/apps/{app}/machines"), json!({ "region": "iad", "config": { "image": image, "metadata": { "tenant": "t1" } } }))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    pub async fn wait(&self, app: &str, id: &str, query: &str) -> (StatusCode, Value) {
        self.get(&format!("/v1/apps/{app}/machines/{id}/wait?{query}"))
            .await
    }
}
