//! The customer CLI's HTTP behaviour (§1, §3.4, §5.1 of `cli-contract-full.md`), written from the brief:
//! one client with a 10 s connect and a 30 s total timeout, `Authorization: Bearer`, JSON bodies with
//! their content type, body-less POSTs with neither body nor content type, no `Accept` except on SSE;
//! 2xx decoded regardless of content type, 401 mapped without reading the body, other errors read as
//! `{"error":{"code","message"}}` when they are that, and "no content" calls that never read the body.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::{Method, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::types::{ApiErrorBody, CheckoutEvent, Data, EventType, ProvisioningEvent, TenantStatus};

/// What one call of the CLI ends in, besides success.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("Authentication failed. Please run 'systemprompt cloud login' again.")]
    Auth,
    #[error("API error: {code}: {message}")]
    Api {
        status: StatusCode,
        code: String,
        message: String,
    },
    #[error("Request failed with status {status}: {body}")]
    Status { status: StatusCode, body: String },
    #[error("error decoding response body: {0}")]
    Decode(String),
    #[error("transport: {0}")]
    Transport(String),
}

impl CliError {
    /// The text the user sees (what `domain status` searches for `not_found`).
    pub fn text(&self) -> String {
        self.to_string()
    }
}

/// How the provisioning wait ended (§5.1).
#[derive(Debug)]
pub enum WaitOutcome {
    /// `tenant_ready` on the stream.
    StreamReady(ProvisioningEvent),
    /// `status == "ready"` while polling, after the stream ended without a terminal event.
    PolledReady { attempts: u32 },
}

pub struct CliClient {
    http: reqwest::Client,
    pub api_url: String,
    token: String,
}

enum Body<'a> {
    None,
    Json(&'a Value),
}

impl CliClient {
    pub fn new(api_url: &str, token: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            api_url: api_url.to_owned(),
            token: token.to_owned(),
        })
    }

    /// The same client with another bearer token.
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            http: self.http.clone(),
            api_url: self.api_url.clone(),
            token: token.to_owned(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body<'_>,
    ) -> Result<(StatusCode, Vec<u8>), CliError> {
        // Base URL and path are concatenated verbatim.
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.api_url))
            .bearer_auth(&self.token);
        if let Body::Json(v) = body {
            req = req
                .header(header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(v).expect("JSON"));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| CliError::Transport(e.to_string()))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CliError::Transport(e.to_string()))?;
        Ok((status, bytes.to_vec()))
    }

    fn error(status: StatusCode, bytes: &[u8]) -> CliError {
        if status == StatusCode::UNAUTHORIZED {
            return CliError::Auth;
        }
        let text = String::from_utf8_lossy(bytes).into_owned();
        match serde_json::from_str::<ApiErrorBody>(&text) {
            Ok(body) => CliError::Api {
                status,
                code: body.error.code,
                message: body.error.message,
            },
            Err(_) => CliError::Status {
                status,
                body: text.chars().take(500).collect(),
            },
        }
    }

    async fn decoded<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Body<'_>,
    ) -> Result<T, CliError> {
        let (status, bytes) = self.send(method, path, body).await?;
        if !status.is_success() {
            return Err(Self::error(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            CliError::Decode(format!(
                "{e} (body: {})",
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ))
        })
    }

    async fn no_content(&self, method: Method, path: &str, body: Body<'_>) -> Result<(), CliError> {
        let (status, bytes) = self.send(method, path, body).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(Self::error(status, &bytes))
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.decoded(Method::GET, path, Body::None).await
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, CliError> {
        self.decoded(Method::POST, path, Body::Json(body)).await
    }

    /// A POST without a body (restart, rotate-credentials, subscription cancel).
    pub async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.decoded(Method::POST, path, Body::None).await
    }

    pub async fn put<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, CliError> {
        self.decoded(Method::PUT, path, Body::Json(body)).await
    }

    /// PUT secrets: any 2xx, body never read.
    pub async fn put_no_content(&self, path: &str, body: &Value) -> Result<(), CliError> {
        self.no_content(Method::PUT, path, Body::Json(body)).await
    }

    /// POST activity: any 2xx, body never read.
    pub async fn post_no_content(&self, path: &str, body: &Value) -> Result<(), CliError> {
        self.no_content(Method::POST, path, Body::Json(body)).await
    }

    /// DELETE tenant, secret, custom domain: any 2xx, body never read.
    pub async fn delete_no_content(&self, path: &str) -> Result<(), CliError> {
        self.no_content(Method::DELETE, path, Body::None).await
    }

    /// §7 (H): the RFC 8693 exchange of the login JWT at `POST {api_url}/api/v1/core/oauth/token`, form
    /// encoded, no Authorization; `resource` is the API URL exactly as stored; `client_id=sp_web` from
    /// v0.23 on, absent before. Returns the issued token and its lifetime (an integer, or the CLI's 300 s
    /// default when absent).
    pub async fn exchange(&self, client_id: Option<&str>) -> Result<(String, u64), CliError> {
        #[derive(serde::Deserialize)]
        struct Issued {
            access_token: String,
            expires_in: Option<u64>,
        }
        let mut form = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", self.token.as_str()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("resource", self.api_url.as_str()),
        ];
        if let Some(id) = client_id {
            form.push(("client_id", id));
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        let resp = self
            .http
            .post(format!("{}/api/v1/core/oauth/token", self.api_url))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| CliError::Transport(e.to_string()))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CliError::Transport(e.to_string()))?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(CliError::Auth);
        }
        if !status.is_success() {
            // The CLI does not parse the OAuth error body: status and text only.
            return Err(CliError::Status {
                status,
                body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            });
        }
        let issued: Issued =
            serde_json::from_slice(&bytes).map_err(|e| CliError::Decode(e.to_string()))?;
        Ok((issued.access_token, issued.expires_in.unwrap_or(300)))
    }

    /// §3.4: a `secrets_url` that starts with the API URL loses that prefix; the rest is appended to it.
    pub async fn get_secrets_url<T: DeserializeOwned>(
        &self,
        secrets_url: &str,
    ) -> Result<T, CliError> {
        let path = secrets_url
            .strip_prefix(&self.api_url)
            .unwrap_or(secrets_url)
            .to_owned();
        self.get(&path).await
    }

    /// §5.1: the tenant stream until `tenant_ready` / `provisioning_failed`; on any other end, polling
    /// `/status` every 2 s, at most 60 times.
    pub async fn wait_provisioned(&self, id: &str) -> anyhow::Result<WaitOutcome> {
        match self.stream_wait(id).await {
            Ok(Some(event)) if event.event_type == EventType::TenantReady => {
                return Ok(WaitOutcome::StreamReady(event));
            }
            Ok(Some(event)) => bail!(
                "provisioning failed: {}",
                event.message.as_deref().unwrap_or("Unknown error")
            ),
            Ok(None) => println!("    the stream ended without a terminal event; polling"),
            Err(e) => println!("    the stream failed ({e:#}); polling"),
        }
        for attempt in 1..=60 {
            match self
                .get::<Data<TenantStatus>>(&format!("/api/v1/tenants/{id}/status"))
                .await
            {
                Ok(s) if s.data.status == "ready" => {
                    return Ok(WaitOutcome::PolledReady { attempts: attempt });
                }
                Ok(s) if s.data.status == "failed" => {
                    bail!(
                        "provisioning failed: {}",
                        s.data.message.unwrap_or_default()
                    )
                }
                Ok(_) | Err(_) => tokio::time::sleep(Duration::from_secs(2)).await,
            }
        }
        bail!("Provisioning timed out after 120 seconds")
    }

    /// Reads the stream as the CLI does; `Ok(None)` when it ended (or hit the 30 s cap) without a
    /// terminal event.
    async fn stream_wait(&self, id: &str) -> anyhow::Result<Option<ProvisioningEvent>> {
        let started = Instant::now();
        let mut resp = self
            .http
            .get(format!("{}/api/v1/tenants/{id}/events", self.api_url))
            .bearer_auth(&self.token)
            .header(header::ACCEPT, "text/event-stream")
            .send()
            .await
            .context("opening the stream")?;
        if resp.status() != StatusCode::OK {
            bail!("the stream opened with {}", resp.status());
        }
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let mime = content_type.split(';').next().unwrap_or_default().trim();
        if !mime.eq_ignore_ascii_case("text/event-stream") {
            bail!("the stream's content type is {content_type}");
        }
        let mut parser = SseParser::default();
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => return Ok(None),
                // The 30 s total cap, or a transport error.
                Err(e) => {
                    println!(
                        "    stream error after {:.1}s: {e}",
                        started.elapsed().as_secs_f64()
                    );
                    return Ok(None);
                }
            };
            for (name, data) in parser.feed(&String::from_utf8_lossy(&chunk)) {
                if name
                    .as_deref()
                    .is_some_and(|n| n != "provisioning" && n != "message")
                {
                    continue;
                }
                let event: ProvisioningEvent = match serde_json::from_str(&data) {
                    Ok(e) => e,
                    Err(e) => {
                        println!(
                            "    warning: skipped an event that does not decode ({e}): {data}"
                        );
                        continue;
                    }
                };
                println!(
                    "    event {:?} after {:.2}s: {}",
                    event.event_type,
                    started.elapsed().as_secs_f64(),
                    event.message.as_deref().unwrap_or("")
                );
                if matches!(
                    event.event_type,
                    EventType::TenantReady | EventType::ProvisioningFailed
                ) {
                    return Ok(Some(event));
                }
            }
        }
    }
}

impl CliClient {
    /// §5.2: the checkout stream, opened as the CLI opens it, until `infrastructure_ready`,
    /// `tenant_ready` or `provisioning_failed`. Only the event name `provisioning` is read; any error or
    /// end of the stream (the 30 s cap included) fails `tenant create` (no polling fallback here).
    /// Returns the terminal event and how long after the request it came.
    pub async fn checkout_stream(
        &self,
        session: &str,
    ) -> anyhow::Result<(CheckoutEvent, Duration)> {
        let started = Instant::now();
        let mut resp = self
            .http
            .get(format!("{}/api/v1/checkout/{session}/events", self.api_url))
            .bearer_auth(&self.token)
            .header(header::ACCEPT, "text/event-stream")
            .send()
            .await
            .context("SSE stream error: opening the checkout stream")?;
        if resp.status() != StatusCode::OK {
            bail!("the checkout stream opened with {}", resp.status());
        }
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let mime = content_type.split(';').next().unwrap_or_default().trim();
        if !mime.eq_ignore_ascii_case("text/event-stream") {
            bail!("the checkout stream's content type is {content_type}");
        }
        let mut parser = SseParser::default();
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => bail!("SSE stream closed unexpectedly"),
                Err(e) => bail!(
                    "SSE stream error after {:.1}s: {e}",
                    started.elapsed().as_secs_f64()
                ),
            };
            for (name, data) in parser.feed(&String::from_utf8_lossy(&chunk)) {
                if name.as_deref() != Some("provisioning") {
                    continue;
                }
                let event: CheckoutEvent = match serde_json::from_str(&data) {
                    Ok(e) => e,
                    Err(e) => {
                        println!(
                            "    warning: skipped a checkout event that does not decode ({e}): {data}"
                        );
                        continue;
                    }
                };
                println!(
                    "    checkout event {:?} after {:.2}s: {}",
                    event.event_type,
                    started.elapsed().as_secs_f64(),
                    event.message.as_deref().unwrap_or("")
                );
                if matches!(
                    event.event_type,
                    EventType::InfrastructureReady
                        | EventType::TenantReady
                        | EventType::ProvisioningFailed
                ) {
                    return Ok((event, started.elapsed()));
                }
            }
        }
    }
}

/// A server-sent events parser (the subset the CLI relies on: `event:`, multi-line `data:`, comments,
/// dispatch on a blank line). Written here because the test must read the stream exactly as the CLI does,
/// chunk by chunk, and report what it skipped.
#[derive(Default)]
struct SseParser {
    buffer: String,
    name: Option<String>,
    data: Vec<String>,
}

impl SseParser {
    /// Feeds text; returns the events completed by it as (name, data).
    fn feed(&mut self, text: &str) -> Vec<(Option<String>, String)> {
        self.buffer.push_str(text);
        let mut out = Vec::new();
        while let Some(pos) = self.buffer.find('\n') {
            let line: String = self.buffer.drain(..=pos).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    out.push((self.name.take(), self.data.join("\n")));
                }
                self.name = None;
                self.data.clear();
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "event" => self.name = Some(value.to_owned()),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
        out
    }
}
