//! The Paddle Billing API over HTTP: bearer API key, JSON in and out, Paddle's error envelope decoded.
//!
//! No call is retried here: a cancel is not idempotent at Paddle (a second one is refused), so the use
//! case decides what a repeat means.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::PaddleError;
use crate::models::{
    EffectiveFrom, Envelope, ErrorEnvelope, PaddleSubscription, PaddleTransaction,
};

/// The subscription calls the use cases make (a trait so tests and other services can swap it).
#[async_trait]
pub trait PaddleApi: Send + Sync {
    /// `POST /subscriptions/{id}/cancel`.
    async fn cancel_subscription(
        &self,
        id: &str,
        effective_from: EffectiveFrom,
    ) -> Result<PaddleSubscription, PaddleError>;
    /// `GET /subscriptions/{id}`.
    async fn get_subscription(&self, id: &str) -> Result<PaddleSubscription, PaddleError>;
    /// `POST /transactions`: an automatically collected transaction for one unit of `price_id`, with
    /// `custom_data` (Paddle copies it onto the subscription the payment creates). Paddle answers
    /// with its `checkout.url` (the payment link, `…?_ptxn=txn_…`).
    async fn create_transaction(
        &self,
        price_id: &str,
        custom_data: &serde_json::Value,
        checkout_url: Option<&str>,
    ) -> Result<PaddleTransaction, PaddleError>;
}

/// Where Paddle is and how to authenticate. `Debug` never prints the key.
#[derive(Clone)]
pub struct PaddleConfig {
    /// e.g. `https://api.paddle.com` (or `https://sandbox-api.paddle.com`).
    pub base_url: String,
    pub api_key: SecretString,
    /// Per request, connect included.
    pub timeout: Duration,
}

impl PaddleConfig {
    pub fn new(base_url: impl Into<String>, api_key: SecretString) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            timeout: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for PaddleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaddleConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"[REDACTED]")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// [`PaddleApi`] with reqwest.
pub struct HttpPaddle {
    http: reqwest::Client,
    base: url::Url,
    api_key: SecretString,
}

impl std::fmt::Debug for HttpPaddle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPaddle")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// Paddle's ids are a prefix, `_` and lowercase alphanumerics; refusing anything else keeps a stored
/// id from ever reshaping the request path.
fn check_id(id: &str) -> Result<(), PaddleError> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(PaddleError::Config(
            "a Paddle id holds only letters, digits, `_` and `-`".to_owned(),
        ))
    }
}

impl HttpPaddle {
    pub fn new(config: PaddleConfig) -> Result<Self, PaddleError> {
        let mut base = url::Url::parse(&config.base_url)
            .map_err(|e| PaddleError::Config(format!("PADDLE_API_URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(PaddleError::Config(
                "PADDLE_API_URL must be http(s)".to_owned(),
            ));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirect would carry the key elsewhere; Paddle's API never redirects.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| PaddleError::Config(e.to_string()))?;
        Ok(Self {
            http,
            base,
            api_key: config.api_key,
        })
    }

    fn url(&self, segments: &[&str]) -> Result<url::Url, PaddleError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| PaddleError::Config("PADDLE_API_URL cannot be a base".to_owned()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        op: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<T, PaddleError> {
        let resp = req
            .bearer_auth(self.api_key.expose_secret())
            .send()
            .await
            .map_err(|e| unavailable(op, &e))?;
        let status = resp.status();
        // A body that breaks off is an answer lost: Paddle may have acted.
        let body = resp.bytes().await.map_err(|e| unavailable(op, &e))?;
        if status.is_success() {
            return serde_json::from_slice::<Envelope<T>>(&body)
                .map(|e| e.data)
                .map_err(|e| PaddleError::Decode(format!("{op}: {e}")));
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(PaddleError::Unavailable(format!(
                "{op}: Paddle answered {status}"
            )));
        }
        match serde_json::from_slice::<ErrorEnvelope>(&body) {
            Ok(e) => Err(PaddleError::Api {
                status: status.as_u16(),
                code: e.error.code,
                detail: e.error.detail,
            }),
            Err(_) => Err(PaddleError::Decode(format!(
                "{op}: Paddle answered {status} without its error envelope"
            ))),
        }
    }
}

fn unavailable(op: &str, e: &reqwest::Error) -> PaddleError {
    // reqwest's message names the URL (never the key, which travels in a header).
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the answer was lost"
    };
    PaddleError::Unavailable(format!("{op}: {kind}: {e}"))
}

#[async_trait]
impl PaddleApi for HttpPaddle {
    async fn cancel_subscription(
        &self,
        id: &str,
        effective_from: EffectiveFrom,
    ) -> Result<PaddleSubscription, PaddleError> {
        check_id(id)?;
        let url = self.url(&["subscriptions", id, "cancel"])?;
        let body = json!({ "effective_from": effective_from });
        self.send("cancel_subscription", self.http.post(url).json(&body))
            .await
    }

    async fn get_subscription(&self, id: &str) -> Result<PaddleSubscription, PaddleError> {
        check_id(id)?;
        let url = self.url(&["subscriptions", id])?;
        self.send("get_subscription", self.http.get(url)).await
    }

    async fn create_transaction(
        &self,
        price_id: &str,
        custom_data: &serde_json::Value,
        checkout_url: Option<&str>,
    ) -> Result<PaddleTransaction, PaddleError> {
        check_id(price_id)?;
        let url = self.url(&["transactions"])?;
        let mut body = json!({
            "items": [{ "price_id": price_id, "quantity": 1 }],
            "collection_mode": "automatic",
            "custom_data": custom_data,
        });
        if let Some(page) = checkout_url {
            body["checkout"] = json!({ "url": page });
        }
        self.send("create_transaction", self.http.post(url).json(&body))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_key() {
        let config = PaddleConfig::new(
            "https://api.paddle.com",
            SecretString::from("pdl_live_apikey_hunter2".to_owned()),
        );
        assert!(!format!("{config:?}").contains("hunter2"));
        let client = HttpPaddle::new(config).unwrap();
        assert!(!format!("{client:?}").contains("hunter2"));
    }

    #[test]
    fn ids_cannot_reshape_the_path() {
        for bad in ["", "sub_1/../x", "sub 1", "sub_1?x=1", "sub%2f"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        check_id("sub_01h04vsc0qhwtsbsxh3422wjs4").unwrap();
    }

    #[test]
    fn urls_keep_a_base_path() {
        let client = HttpPaddle::new(PaddleConfig::new(
            "http://127.0.0.1:9/paddle",
            SecretString::from("k".to_owned()),
        ))
        .unwrap();
        assert_eq!(
            client
                .url(&["subscriptions", "sub_1", "cancel"])
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/paddle/subscriptions/sub_1/cancel"
        );
    }
}
