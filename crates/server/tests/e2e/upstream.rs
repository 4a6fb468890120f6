//! What Fly and the registry hold, seen from outside the API: mock-fly's `GET /__mock/state` and a
//! `HEAD` on the upstream registry with the org's credentials.

use std::fmt;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mgmt_domain::media_type::MANIFEST_ACCEPT;
use reqwest::StatusCode;
use serde_json::Value;

use crate::stack::Stack;

/// What mock-fly holds of one app (and of one tag of one repository in its own registry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holdings {
    pub apps: usize,
    pub machines: usize,
    pub volumes: usize,
    pub ips: usize,
    pub certificates: usize,
    /// The digest the tag points at in mock-fly's registry.
    pub tag: Option<String>,
}

impl Holdings {
    pub const NOTHING: Holdings = Holdings {
        apps: 0,
        machines: 0,
        volumes: 0,
        ips: 0,
        certificates: 0,
        tag: None,
    };
}

impl fmt::Display for Holdings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} apps, {} machines, {} volumes, {} IPs, {} certificates, tag {}",
            self.apps,
            self.machines,
            self.volumes,
            self.ips,
            self.certificates,
            self.tag.as_deref().unwrap_or("none")
        )
    }
}

/// mock-fly's whole state.
pub async fn mock_state(stack: &Stack) -> anyhow::Result<Value> {
    let response = http()
        .get(format!("{}/__mock/state", stack.mock_url))
        .send()
        .await
        .context("GET /__mock/state")?
        .error_for_status()?;
    Ok(response.json().await?)
}

fn of_app<'a>(state: &'a Value, list: &str, app: &'a str) -> impl Iterator<Item = &'a Value> {
    state[list]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |item| item["app"] == app)
}

/// What mock-fly holds for `app` and for tag `tag` of [`crate::stack::REPOSITORY`].
pub fn holdings(state: &Value, app: &str, tag: &str) -> Holdings {
    let apps: Vec<&Value> = state["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["name"] == app)
        .collect();
    let count = |field: &str| -> usize {
        apps.iter()
            .map(|a| match &a[field] {
                Value::Array(items) => items.len(),
                Value::Object(items) => items.len(),
                _ => 0,
            })
            .sum()
    };
    Holdings {
        apps: apps.len(),
        machines: of_app(state, "machines", app).count(),
        volumes: of_app(state, "volumes", app).count(),
        ips: count("ips"),
        certificates: count("certificates"),
        tag: state["repositories"][crate::stack::REPOSITORY]["tags"][tag]
            .as_str()
            .map(str::to_owned),
    }
}

/// The image of `app`'s machine (its only one).
pub fn machine_image(state: &Value, app: &str) -> Option<String> {
    of_app(state, "machines", app)
        .next()
        .and_then(|m| m["image"].as_str())
        .map(str::to_owned)
}

/// The digest the upstream registry serves for `repository:tag`, `None` on 404 (any other answer is
/// an error). Asks with the org's credentials (user `x`, the Fly token) and every manifest type.
pub async fn upstream_digest(
    stack: &Stack,
    repository: &str,
    tag: &str,
) -> anyhow::Result<Option<String>> {
    let response = http()
        .head(format!(
            "{}/v2/{repository}/manifests/{tag}",
            stack.upstream_url
        ))
        .basic_auth("x", Some(&stack.fly_token))
        .header(reqwest::header::ACCEPT, MANIFEST_ACCEPT.join(", "))
        .send()
        .await
        .context("the upstream registry did not answer")?;
    match response.status() {
        StatusCode::OK => {
            let digest = response
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .context("no Docker-Content-Digest")?;
            Ok(Some(digest.to_owned()))
        }
        StatusCode::NOT_FOUND => Ok(None),
        other => bail!("upstream HEAD {repository}:{tag} answered {other}"),
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// The secrets `app`'s machine booted with: name → mock-fly's digest of the value (it never shows values).
pub fn machine_env(state: &Value, app: &str) -> std::collections::BTreeMap<String, String> {
    of_app(state, "machines", app)
        .next()
        .and_then(|m| m["secrets"].as_object())
        .map(|secrets| {
            secrets
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// mock-fly's digest of a secret value (the first 8 bytes of its SHA-256, in hex).
pub fn value_digest(value: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(value.as_bytes())[..8])
}

/// Marks the certificate of `hostname` issued, as Fly does once DNS validates it.
pub async fn issue_certificate(stack: &Stack, hostname: &str) -> anyhow::Result<()> {
    http()
        .post(format!(
            "{}/__mock/certificates/{hostname}/issue",
            stack.mock_url
        ))
        .send()
        .await
        .context("POST /__mock/certificates/…/issue")?
        .error_for_status()?;
    Ok(())
}
