//! The domain's [`DnsRecords`] port over Cloudflare's API v4 (`/zones/{zone_id}/dns_records`).
//!
//! Every operation looks before it acts (list by name, then create or delete), so a rerun, a race
//! with another worker or an answer lost after Cloudflare acted converges on the next attempt instead
//! of failing on "record already exists". Rate limits (429, honouring `Retry-After` up to a cap), 5xx
//! and transport errors are retried a few times inside one call; anything else is reported at once.
//! The API token is sent as a Bearer token and never printed (Debug, logs, errors).

use std::time::Duration;

use async_trait::async_trait;
use mgmt_domain::{DnsDeleted, DnsEnsured, DnsError, DnsRecords};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

/// Cloudflare's public API base.
pub const DEFAULT_API_URL: &str = "https://api.cloudflare.com/client/v4";

/// Cloudflare's answers to a create whose name is already taken: "An A, AAAA, or CNAME record with
/// that host already exists", "Record already exists", "An identical record already exists". After
/// one of these the next attempt lists again and decides from what is there.
const NAME_TAKEN_CODES: [u32; 3] = [81053, 81057, 81058];
/// "Record does not exist" (a delete that lost a race with another delete).
const RECORD_MISSING: u32 = 81044;

/// Where and how to reach Cloudflare.
#[derive(Clone)]
pub struct CloudflareConfig {
    /// API base, e.g. [`DEFAULT_API_URL`] (a fake's URL in tests).
    pub api_url: String,
    pub api_token: SecretString,
    pub zone_id: String,
    /// Per request.
    pub timeout: Duration,
    /// Attempts per operation on transient failures (at least 1).
    pub max_attempts: u32,
    /// First backoff when Cloudflare gives no `Retry-After`; doubles each attempt.
    pub backoff: Duration,
    /// The longest wait honoured from a `Retry-After` (a longer one is capped: the job retries later).
    pub max_retry_after: Duration,
}

impl CloudflareConfig {
    pub fn new(
        api_url: impl Into<String>,
        api_token: SecretString,
        zone_id: impl Into<String>,
    ) -> Self {
        Self {
            api_url: api_url.into(),
            api_token,
            zone_id: zone_id.into(),
            timeout: Duration::from_secs(15),
            max_attempts: 4,
            backoff: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for CloudflareConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudflareConfig")
            .field("api_url", &self.api_url)
            .field("api_token", &"[redacted]")
            .field("zone_id", &self.zone_id)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// The Cloudflare DNS client.
#[derive(Debug, Clone)]
pub struct CloudflareDns {
    http: reqwest::Client,
    config: CloudflareConfig,
    records_url: url::Url,
}

/// One record as Cloudflare lists it (the fields we read).
#[derive(Debug, Clone, Deserialize)]
struct Record {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    content: String,
    #[serde(default)]
    proxied: bool,
}

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    result: Option<T>,
}

#[derive(Debug, Deserialize)]
struct ApiMessage {
    code: u32,
    message: String,
}

/// How one attempt failed.
#[derive(Debug)]
enum Failure {
    /// Try again after `wait`.
    Retry(String, Duration),
    /// Give up with this error.
    Final(DnsError),
}

/// An error answer in one line: the status, then Cloudflare's messages.
fn describe(status: StatusCode, errors: &[ApiMessage]) -> String {
    if errors.is_empty() {
        return format!("HTTP {status}");
    }
    let list: Vec<String> = errors
        .iter()
        .map(|e| format!("{} {}", e.code, e.message))
        .collect();
    format!("HTTP {status}: {}", list.join("; "))
}

/// Names compare as DNS does: case-insensitive, with or without the root dot.
fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

impl CloudflareDns {
    pub fn new(config: CloudflareConfig) -> Result<Self, String> {
        if config.zone_id.trim().is_empty() {
            return Err("the Cloudflare zone id is empty".into());
        }
        let base = config.api_url.trim_end_matches('/');
        let records_url = url::Url::parse(&format!("{base}/zones/{}/dns_records", config.zone_id))
            .map_err(|e| format!("invalid Cloudflare API URL {base}: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| format!("cannot build the Cloudflare HTTP client: {e}"))?;
        Ok(Self {
            http,
            config,
            records_url,
        })
    }

    /// Runs `attempt` (given the number of earlier attempts) until it succeeds, fails for good, or the
    /// attempts run out.
    async fn with_retries<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, DnsError>
    where
        F: FnMut(u32) -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let max = self.config.max_attempts.max(1);
        let mut n = 0;
        loop {
            n += 1;
            match attempt(n - 1).await {
                Ok(v) => return Ok(v),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Retry(reason, _)) if n >= max => {
                    return Err(DnsError::Unavailable(format!(
                        "{what}: {reason} (after {n} attempts)"
                    )));
                }
                Err(Failure::Retry(reason, wait)) => {
                    tracing::warn!(operation = what, attempt = n, error = %reason, wait_ms = wait.as_millis() as u64, "Cloudflare call failed; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn backoff(&self, n: u32) -> Duration {
        self.config
            .backoff
            .saturating_mul(2u32.saturating_pow(n.min(6)))
    }

    /// Sends one request and opens Cloudflare's envelope.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        attempt: u32,
    ) -> Result<Result<T, (StatusCode, Vec<ApiMessage>)>, Failure> {
        let resp = req
            .bearer_auth(self.config.api_token.expose_secret())
            .send()
            .await
            .map_err(|e| Failure::Retry(format!("request failed: {e}"), self.backoff(attempt)))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Failure::Retry(format!("answer lost: {e}"), self.backoff(attempt)))?;
        let envelope: Option<Envelope<T>> = serde_json::from_slice(&bytes).ok();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let errors = envelope.map(|e| e.errors).unwrap_or_default();
            let wait = retry_after
                .map(|w| w.min(self.config.max_retry_after))
                .unwrap_or_else(|| self.backoff(attempt));
            return Err(Failure::Retry(describe(status, &errors), wait));
        }
        match envelope {
            Some(Envelope {
                success: true,
                result: Some(result),
                ..
            }) if status.is_success() => Ok(Ok(result)),
            Some(e) if !status.is_success() || !e.success => Ok(Err((status, e.errors))),
            _ => Err(Failure::Final(DnsError::Unavailable(format!(
                "unexpected Cloudflare answer ({status})"
            )))),
        }
    }

    /// Turns an error answer nobody handled into the port's error.
    fn refused(status: StatusCode, errors: &[ApiMessage]) -> Failure {
        Failure::Final(DnsError::Refused(describe(status, errors)))
    }

    async fn list(&self, name: &str, attempt: u32) -> Result<Vec<Record>, Failure> {
        let mut url = self.records_url.clone();
        url.query_pairs_mut()
            .append_pair("name", name.trim_end_matches('.'))
            .append_pair("per_page", "100");
        match self
            .call::<Vec<Record>>(self.http.get(url), attempt)
            .await?
        {
            Ok(records) => Ok(records
                .into_iter()
                .filter(|r| same_name(&r.name, name))
                .collect()),
            Err((status, errors)) => Err(Self::refused(status, &errors)),
        }
    }

    async fn ensure_once(
        &self,
        name: &str,
        target: &str,
        attempt: u32,
    ) -> Result<DnsEnsured, Failure> {
        let existing = self.list(name, attempt).await?;
        if existing
            .iter()
            .any(|r| r.kind == "CNAME" && same_name(&r.content, target) && !r.proxied)
        {
            return Ok(DnsEnsured::Adopted);
        }
        if let Some(r) = existing.first() {
            let proxied = if r.proxied { ", proxied" } else { "" };
            return Err(Failure::Final(DnsError::Conflict {
                name: name.to_owned(),
                existing: format!("{} {}{proxied}", r.kind, r.content),
            }));
        }
        let body = json!({
            "type": "CNAME",
            "name": name.trim_end_matches('.'),
            "content": target.trim_end_matches('.'),
            "proxied": false,
            "ttl": 1,
        });
        let req = self.http.post(self.records_url.clone()).json(&body);
        match self.call::<Record>(req, attempt).await? {
            Ok(_) => Ok(DnsEnsured::Created),
            // Someone (or our own lost earlier answer) made a record meanwhile: list again and decide.
            Err((StatusCode::BAD_REQUEST, errors))
                if errors.iter().any(|e| NAME_TAKEN_CODES.contains(&e.code)) =>
            {
                Err(Failure::Retry(
                    "the name was taken meanwhile".into(),
                    Duration::ZERO,
                ))
            }
            Err((status, errors)) => Err(Self::refused(status, &errors)),
        }
    }

    async fn delete_once(
        &self,
        name: &str,
        target: &str,
        attempt: u32,
    ) -> Result<DnsDeleted, Failure> {
        let existing = self.list(name, attempt).await?;
        let Some(ours) = existing
            .iter()
            .find(|r| r.kind == "CNAME" && same_name(&r.content, target))
        else {
            return Ok(if existing.is_empty() {
                DnsDeleted::Absent
            } else {
                DnsDeleted::NotOurs
            });
        };
        let mut url = self.records_url.clone();
        url.path_segments_mut()
            .map_err(|()| {
                Failure::Final(DnsError::Refused(
                    "the Cloudflare API URL cannot hold a path".into(),
                ))
            })?
            .push(&ours.id);
        match self
            .call::<serde_json::Value>(self.http.delete(url), attempt)
            .await?
        {
            Ok(_) => Ok(DnsDeleted::Deleted),
            Err((StatusCode::NOT_FOUND, errors))
                if errors.iter().any(|e| e.code == RECORD_MISSING) =>
            {
                Ok(DnsDeleted::Absent)
            }
            Err((status, errors)) => Err(Self::refused(status, &errors)),
        }
    }
}

#[async_trait]
impl DnsRecords for CloudflareDns {
    async fn ensure_cname(&self, name: &str, target: &str) -> Result<DnsEnsured, DnsError> {
        let r = self
            .with_retries("ensure CNAME", |attempt| {
                self.ensure_once(name, target, attempt)
            })
            .await;
        if let Ok(outcome) = &r {
            tracing::info!(name, target, ?outcome, "DNS CNAME in place");
        }
        r
    }

    async fn delete_cname(&self, name: &str, target: &str) -> Result<DnsDeleted, DnsError> {
        let r = self
            .with_retries("delete CNAME", |attempt| {
                self.delete_once(name, target, attempt)
            })
            .await;
        if let Ok(outcome) = &r {
            tracing::info!(name, target, ?outcome, "DNS CNAME removed");
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_like_dns() {
        assert!(same_name("A.example.com.", "a.example.com"));
        assert!(!same_name("a.example.com", "b.example.com"));
    }

    #[test]
    fn debug_redacts_the_token() {
        let cfg = CloudflareConfig::new(DEFAULT_API_URL, SecretString::from("tok-SECRET"), "z");
        assert!(!format!("{cfg:?}").contains("tok-SECRET"));
        let dns = CloudflareDns::new(cfg).expect("client");
        assert!(!format!("{dns:?}").contains("tok-SECRET"));
    }

    #[test]
    fn refuses_an_empty_zone() {
        let cfg = CloudflareConfig::new(DEFAULT_API_URL, SecretString::from("t"), " ");
        assert!(CloudflareDns::new(cfg).is_err());
    }
}
