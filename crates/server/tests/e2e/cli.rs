//! What the customer CLI does over HTTP: bearer-token JSON calls to `/api/v1`, the status poll, and a
//! replay of the events stream.

use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use mgmt_test_support::wait::{Check, eventually};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The CLI gives up on a call after 30 s.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Cli {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// One answer: status, body text (for messages and secret scans) and the body as JSON (`Null` when
/// it is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub text: String,
    pub json: Value,
}

impl Answer {
    /// The answer itself when 2xx, else an error quoting it.
    pub fn success(self) -> anyhow::Result<Self> {
        ensure!(
            self.status.is_success(),
            "expected a 2xx, got {}: {}",
            self.status,
            truncate(&self.text)
        );
        Ok(self)
    }

    /// The non-empty string at `data.<field>`.
    pub fn data_str(&self, field: &str) -> anyhow::Result<&str> {
        self.json["data"][field]
            .as_str()
            .filter(|s| !s.is_empty())
            .with_context(|| format!("no data.{field} in {}", truncate(&self.text)))
    }
}

impl Cli {
    pub fn new(base: &str, token: String) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder().timeout(CALL_TIMEOUT).build()?,
            base: base.to_owned(),
            token,
        })
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Answer> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}: no answer"))?;
        let status = response.status();
        let text = response.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer { status, text, json })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        self.call(Method::GET, path, None).await
    }

    /// Polls `GET /tenants/{id}/status` until it says `want`, printing each new status. A tenant
    /// that turns `failed` fails the wait at once; for `deleted`, a 404 (the tenant is gone) counts.
    pub async fn wait_status(&self, id: &str, want: &str, timeout: Duration) -> anyhow::Result<()> {
        let path = format!("/api/v1/tenants/{id}/status");
        let last = std::sync::Mutex::new(String::new());
        let (path, last) = (&path, &last);
        eventually(timeout, || async move {
            let answer = match self.get(path).await {
                Ok(answer) => answer,
                Err(e) => return Check::Fail(e),
            };
            if answer.status == StatusCode::NOT_FOUND && want == "deleted" {
                println!("    status: 404 (gone)");
                return Check::Done(());
            }
            if answer.status != StatusCode::OK {
                return Check::Fail(anyhow::anyhow!(
                    "status answered {}: {}",
                    answer.status,
                    truncate(&answer.text)
                ));
            }
            let status = answer.json["data"]["status"].as_str().unwrap_or_default();
            let message = answer.json["data"]["message"].as_str().unwrap_or_default();
            let seen = format!("{status} {message}");
            let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
            if *last != seen {
                println!("    status: {}", seen.trim_end());
                last.clone_from(&seen);
            }
            if status == want {
                Check::Done(())
            } else if status == "failed" {
                Check::Fail(anyhow::anyhow!("tenant failed: {message}"))
            } else {
                Check::NotYet(format!("status {}", seen.trim_end()))
            }
        })
        .await
        .with_context(|| format!("waiting for status {want}"))
    }

    /// `GET /tenants/{id}/events` as a server-sent events stream, read until `done` holds for what
    /// arrived so far (the stream stays open while the tenant is live). Returns the text read.
    pub async fn events_until(
        &self,
        id: &str,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let mut response = self
            .http
            .get(format!("{}/api/v1/tenants/{id}/events", self.base))
            .bearer_auth(&self.token)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .timeout(timeout)
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "events answered {}",
            response.status()
        );
        let mut text = String::new();
        let read = tokio::time::timeout(timeout, async {
            while let Some(chunk) = response.chunk().await? {
                text.push_str(&String::from_utf8_lossy(&chunk));
                if done(&text) {
                    return Ok(true);
                }
            }
            anyhow::Ok(false)
        })
        .await;
        match read {
            Ok(Ok(true)) => Ok(text),
            Ok(Ok(false)) => bail!("the stream ended early: {}", truncate(&text)),
            Ok(Err(e)) => Err(e.context(format!("reading the stream: {}", truncate(&text)))),
            Err(_) => bail!("not within {timeout:?}: {}", truncate(&text)),
        }
    }
}

/// The first 400 characters, for messages.
pub fn truncate(text: &str) -> String {
    text.chars().take(400).collect()
}
