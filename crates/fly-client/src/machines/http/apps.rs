//! Apps and secrets: creates made safe to repeat (name_taken adoption), eventual consistency of new
//! apps, and secrets whose values go in but only names come out.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use tokio::time::{Instant, sleep};

use super::HttpFlyMachines;
use super::transport::{Req, decode};
use crate::error::{FlyError, FlyResult};
use crate::machines::models::{App, AppCreated, SecretsListing};
use crate::resilience::guard::RetryMode;

impl HttpFlyMachines {
    pub(super) async fn do_create_app(
        &self,
        name: &str,
        network: Option<&str>,
    ) -> FlyResult<AppCreated> {
        // The samples send `app_name`, the OpenAPI schema `name`: send both, Fly ignores the other.
        let mut body = json!({ "app_name": name, "name": name, "org_slug": self.org_slug });
        if let Some(network) = network {
            body["network"] = json!(network);
        }
        // Retried on every transient failure: a repeat that finds our own app is answered
        // `name_taken`, which is adopted below, so no second app can appear.
        match self
            .api
            .run(
                "create_app",
                RetryMode::Idempotent,
                &Req::post(&["apps"], body),
            )
            .await
        {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(AppCreated {
                app: App {
                    id: None,
                    name: name.into(),
                    status: None,
                    organization: None,
                },
                created: true,
            }),
            Ok(bytes) => Ok(AppCreated {
                app: decode(&bytes)?,
                created: true,
            }),
            Err(FlyError::NameTaken(message)) => self.adopt_app(name, message).await,
            Err(e) => Err(e),
        }
    }

    /// `name_taken`: ours (from an earlier attempt) when it is visible in our org. A just-created app
    /// may be invisible for a moment, so a 404 is polled for `consistency_wait` before giving up.
    async fn adopt_app(&self, name: &str, message: String) -> FlyResult<AppCreated> {
        match self.do_wait_for_app(name, self.consistency_wait).await {
            Ok(app) if in_org(&app, &self.org_slug) => Ok(AppCreated {
                app,
                created: false,
            }),
            Ok(_) | Err(FlyError::NotFound(_)) => Err(FlyError::NameTaken(message)),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn do_get_app(&self, name: &str) -> FlyResult<App> {
        self.api
            .json("get_app", RetryMode::Idempotent, &Req::get(&["apps", name]))
            .await
    }

    pub(super) async fn do_wait_for_app(&self, name: &str, timeout: Duration) -> FlyResult<App> {
        let deadline = Instant::now() + timeout;
        let mut delay = Duration::from_millis(100);
        loop {
            match self.do_get_app(name).await {
                Err(FlyError::NotFound(m)) if Instant::now() + delay > deadline => {
                    return Err(FlyError::NotFound(m));
                }
                Err(FlyError::NotFound(_)) => {
                    sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
                other => return other,
            }
        }
    }

    pub(super) async fn do_list_secret_names(&self, app: &str) -> FlyResult<SecretsListing> {
        let listing: SecretsBody = self
            .api
            .json(
                "list_secrets",
                RetryMode::Idempotent,
                &Req::get(&["apps", app, "secrets"]),
            )
            .await?;
        Ok(SecretsListing {
            names: listing.secrets.into_iter().map(|s| s.name).collect(),
            version: listing.version.or(listing.legacy_version),
        })
    }

    pub(super) async fn do_set_secrets(
        &self,
        app: &str,
        secrets: BTreeMap<String, SecretString>,
    ) -> FlyResult<u64> {
        let values: serde_json::Map<_, _> = secrets
            .iter()
            .map(|(k, v)| (k.clone(), json!(v.expose_secret())))
            .collect();
        self.update_secrets("set_secrets", app, values).await
    }

    pub(super) async fn do_unset_secrets(&self, app: &str, names: &[String]) -> FlyResult<u64> {
        // `null` unsets a secret; an unknown name is simply not there afterwards.
        let values = names
            .iter()
            .map(|k| (k.clone(), serde_json::Value::Null))
            .collect();
        self.update_secrets("unset_secrets", app, values).await
    }

    /// `POST /apps/{app}/secrets {"values": {...}}`: the same values twice leave the same state, so
    /// this is retried like an idempotent call.
    async fn update_secrets(
        &self,
        op: &str,
        app: &str,
        values: serde_json::Map<String, serde_json::Value>,
    ) -> FlyResult<u64> {
        let req = Req::post(&["apps", app, "secrets"], json!({ "values": values }));
        let resp: SecretsBody = self.api.json(op, RetryMode::Idempotent, &req).await?;
        resp.version
            .or(resp.legacy_version)
            .ok_or_else(|| FlyError::Decode("secrets update answered without a version".into()))
    }
}

/// An app is ours when its organization slug is ours; an answer without an organization counts as
/// ours, since the token only sees its own org's apps.
fn in_org(app: &App, slug: &str) -> bool {
    match app
        .organization
        .as_ref()
        .and_then(|o| o.get("slug"))
        .and_then(|s| s.as_str())
    {
        Some(found) => found == slug,
        None => true,
    }
}

/// `AppSecrets` / `AppSecretsUpdateResp`: values, if any, are never read.
#[derive(Debug, Deserialize)]
struct SecretsBody {
    #[serde(default)]
    secrets: Vec<SecretName>,
    #[serde(default)]
    version: Option<u64>,
    #[serde(default, rename = "Version")]
    legacy_version: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct SecretName {
    name: String,
}
