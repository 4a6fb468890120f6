//! Paddle webhooks: the `Paddle-Signature` check and the event envelope.
//!
//! Paddle signs each delivery with the notification destination's secret key:
//! `Paddle-Signature: ts=<unix seconds>;h1=<hex HMAC-SHA256(secret, "<ts>:<raw body>")>` (several `h1`
//! while a secret is being rotated). The signature is checked on the raw bytes before anything is
//! parsed, compared in constant time, and a `ts` outside the tolerance is refused so a captured
//! delivery cannot be replayed later. Hand-written on top of `hmac`/`sha2`/`subtle` because no
//! maintained Rust crate implements Paddle's scheme.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Largest webhook body accepted (Paddle's events are a few KB).
pub const MAX_WEBHOOK_BYTES: usize = 256 * 1024;

/// Why a delivery was refused (nothing is stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Paddle-Signature header is missing")]
    Missing,
    #[error("the Paddle-Signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the allowed window")]
    Expired,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks `Paddle-Signature`. `Debug` never shows the secret.
#[derive(Clone)]
pub struct WebhookVerifier {
    secret: SecretString,
    tolerance: Duration,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

type HmacSha256 = Hmac<Sha256>;

/// The signature of `body` at `ts` (what Paddle sends in `h1`), lowercase hex.
pub fn sign(secret: &str, ts: i64, body: &[u8]) -> String {
    // A key of any length is valid for HMAC: `new_from_slice` cannot fail here.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(ts.to_string().as_bytes());
    mac.update(b":");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

impl WebhookVerifier {
    /// `tolerance`: how far `ts` may be from now (either way, for clock skew).
    pub fn new(secret: SecretString, tolerance: Duration) -> Self {
        Self { secret, tolerance }
    }

    /// Verifies `header` for `body` at `now`.
    pub fn verify(
        &self,
        header: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let mut ts: Option<i64> = None;
        let mut h1 = Vec::new();
        for part in header.split(';') {
            let (k, v) = part
                .trim()
                .split_once('=')
                .ok_or(SignatureError::Malformed)?;
            match k {
                "ts" => ts = Some(v.parse().map_err(|_| SignatureError::Malformed)?),
                "h1" => h1.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
                // Future schemes are ignored, as Paddle's own SDKs do.
                _ => {}
            }
        }
        let ts = ts.ok_or(SignatureError::Malformed)?;
        if h1.is_empty() {
            return Err(SignatureError::Malformed);
        }
        let age = now.timestamp().abs_diff(ts);
        if age > self.tolerance.as_secs() {
            return Err(SignatureError::Expired);
        }
        let expected = hex::decode(sign(self.secret.expose_secret(), ts, body))
            .map_err(|_| SignatureError::Malformed)?;
        // Every candidate is compared, in constant time each.
        let matched = h1
            .iter()
            .fold(false, |acc, sig| acc | bool::from(sig.ct_eq(&expected)));
        if matched {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// A webhook event's envelope (`data` is the entity, kept as JSON and read per event type).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookEvent {
    pub event_id: String,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub data: serde_json::Value,
}

/// Parses a verified body; `Err` names what is wrong (the sender is told, nothing is stored).
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, String> {
    let event: WebhookEvent =
        serde_json::from_slice(body).map_err(|e| format!("not a Paddle event: {e}"))?;
    if !mgmt_domain::is_billing_event_id(&event.event_id) {
        return Err("event_id is not a Paddle event id".to_owned());
    }
    if event.event_type.is_empty()
        || event.event_type.len() > 100
        || !event
            .event_type
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c == b'.' || c == b'_')
    {
        return Err("event_type is not a Paddle event type".to_owned());
    }
    if !event.data.is_object() {
        return Err("data is not an object".to_owned());
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "pdl_ntfset_01h_secret_key";

    fn verifier() -> WebhookVerifier {
        WebhookVerifier::new(SECRET.to_owned().into(), Duration::from_secs(300))
    }

    #[test]
    fn a_correct_signature_verifies() {
        let now = Utc::now();
        let body = br#"{"event_id":"evt_1"}"#;
        let header = format!(
            "ts={};h1={}",
            now.timestamp(),
            sign(SECRET, now.timestamp(), body)
        );
        verifier().verify(Some(&header), body, now).unwrap();
        // A rotated secret: one of several h1 matching is enough.
        let header = format!(
            "ts={};h1={};h1={}",
            now.timestamp(),
            "00".repeat(32),
            sign(SECRET, now.timestamp(), body)
        );
        verifier().verify(Some(&header), body, now).unwrap();
    }

    #[test]
    fn known_vector() {
        // `printf '1:{}' | openssl dgst -sha256 -hmac key`
        assert_eq!(
            sign("key", 1, b"{}"),
            "8b4edda64d18586fe42266462a8fa38b405c2b3c86305e723b7301849de274bb"
        );
    }

    #[test]
    fn tampering_and_bad_headers_are_refused() {
        let now = Utc::now();
        let ts = now.timestamp();
        let body = br#"{"event_id":"evt_1"}"#;
        let good = sign(SECRET, ts, body);
        let v = verifier();
        assert_eq!(v.verify(None, body, now), Err(SignatureError::Missing));
        for bad in ["", "ts=1", "h1=00", "ts=x;h1=00", "ts=1;h1=zz", "garbage"] {
            assert_eq!(
                v.verify(Some(bad), body, now),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        let other_body = br#"{"event_id":"evt_2"}"#;
        assert_eq!(
            v.verify(Some(&format!("ts={ts};h1={good}")), other_body, now),
            Err(SignatureError::Mismatch)
        );
        let wrong_key = sign("another", ts, body);
        assert_eq!(
            v.verify(Some(&format!("ts={ts};h1={wrong_key}")), body, now),
            Err(SignatureError::Mismatch)
        );
        // The same body signed at another time does not match this ts.
        let shifted = sign(SECRET, ts - 1, body);
        assert_eq!(
            v.verify(Some(&format!("ts={ts};h1={shifted}")), body, now),
            Err(SignatureError::Mismatch)
        );
        let old = ts - 301;
        let old_sig = sign(SECRET, old, body);
        assert_eq!(
            v.verify(Some(&format!("ts={old};h1={old_sig}")), body, now),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        assert!(!format!("{:?}", verifier()).contains("secret_key"));
    }

    #[test]
    fn events_parse_strictly() {
        let ok = br#"{"event_id":"evt_01abc","event_type":"subscription.created","occurred_at":"2026-11-29T10:00:00.123456Z","notification_id":"ntf_1","data":{"id":"sub_1"}}"#;
        let e = parse_event(ok).unwrap();
        assert_eq!(e.event_type, "subscription.created");
        for bad in [
            &b"not json"[..],
            br#"{"event_id":"evt_1","event_type":"x","occurred_at":"2026-11-29T10:00:00Z"}"#,
            br#"{"event_id":"nope","event_type":"x","occurred_at":"2026-11-29T10:00:00Z","data":{}}"#,
            br#"{"event_id":"evt_1","event_type":"X;Y","occurred_at":"2026-11-29T10:00:00Z","data":{}}"#,
            br#"{"event_id":"evt_1","event_type":"x","occurred_at":"yesterday","data":{}}"#,
            br#"{"event_id":"evt_1","event_type":"x","occurred_at":"2026-11-29T10:00:00Z","data":[]}"#,
        ] {
            assert!(parse_event(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
