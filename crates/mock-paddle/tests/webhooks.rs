//! mock-paddle's transactions, payment page and notifications: strict like Paddle on input, every
//! delivery signed as Paddle signs (checked here with an independent HMAC), redelivered until a 2xx,
//! and each webhook fault doing what it says.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use mgmt_mock_paddle::{DEFAULT_API_KEY, DEFAULT_PRICE_ID, MockPaddle, WebhookFault};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "pdl_ntfset_mock_test";

/// A receiver that records each delivery and answers the queued statuses (then 200).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(String, Value)>>>,
    answers: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    async fn start(&self) -> String {
        let me = self.clone();
        let server = HttpServer::new(move || {
            let me = me.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let me = me.clone();
                async move {
                    let sig = req
                        .headers()
                        .get("paddle-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                    let valid = verify(&sig, &body);
                    me.got.lock().unwrap().push((sig, v));
                    let status = {
                        let mut a = me.answers.lock().unwrap();
                        if a.is_empty() { 200 } else { a.remove(0) }
                    };
                    let status = if valid { status } else { 401 };
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .finish()
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let addr = server.addrs()[0];
        tokio::spawn(server.run());
        format!("http://{addr}/hook")
    }
}

/// Paddle's scheme, computed independently of the mock.
fn verify(header: &str, body: &[u8]) -> bool {
    let mut ts = None;
    let mut h1 = None;
    for part in header.split(';') {
        match part.split_once('=') {
            Some(("ts", v)) => ts = Some(v.to_owned()),
            Some(("h1", v)) => h1 = Some(v.to_owned()),
            _ => {}
        }
    }
    let (Some(ts), Some(h1)) = (ts, h1) else {
        return false;
    };
    let mut mac = <Hmac<Sha256>>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}:").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes()) == h1
}

async fn create_txn(m: &MockPaddle, body: &Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/transactions", m.url()))
        .bearer_auth(DEFAULT_API_KEY)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn item(price: &str) -> Value {
    json!([{ "price_id": price, "quantity": 1 }])
}

#[tokio::test]
async fn transactions_are_validated_like_paddle() {
    let m = MockPaddle::start().await.unwrap();
    for (body, status, code) in [
        (json!({}), 400, "invalid_field"),
        (json!({"items": item("pri_unknown")}), 404, "not_found"),
        (
            json!({"items": [{"price_id": DEFAULT_PRICE_ID, "quantity": 0}]}),
            400,
            "invalid_field",
        ),
        (
            json!({"items": item(DEFAULT_PRICE_ID), "custom_data": "x"}),
            400,
            "invalid_field",
        ),
        (
            json!({"items": item(DEFAULT_PRICE_ID), "surprise": 1}),
            400,
            "invalid_field",
        ),
    ] {
        let (s, v) = create_txn(&m, &body).await;
        assert_eq!(
            (s, v["error"]["code"].as_str().unwrap()),
            (status, code),
            "{body}"
        );
    }
    let unauthenticated = reqwest::Client::new()
        .post(format!("{}/transactions", m.url()))
        .json(&json!({"items": item(DEFAULT_PRICE_ID)}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 403);
    let (s, v) = create_txn(
        &m,
        &json!({"items": item(DEFAULT_PRICE_ID), "custom_data": {"k": "v"}}),
    )
    .await;
    assert_eq!(s, 201);
    let id = v["data"]["id"].as_str().unwrap();
    assert!(id.starts_with("txn_"));
    assert_eq!(v["data"]["status"], "ready");
    assert_eq!(
        v["data"]["checkout"]["url"],
        format!("{}/checkout?_ptxn={id}", m.url())
    );
    assert_eq!(m.transaction(id).unwrap().custom_data, json!({"k": "v"}));
}

async fn pay(m: &MockPaddle, custom: Value) -> reqwest::Response {
    let (_, v) = create_txn(
        m,
        &json!({"items": item(DEFAULT_PRICE_ID), "custom_data": custom}),
    )
    .await;
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(v["data"]["checkout"]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("id=\"pay\""));
    client
        .post(format!("{}/checkout/pay", m.url()))
        .body(format!("_ptxn={id}"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn paying_creates_the_subscription_signs_and_redelivers_until_2xx() {
    let m = MockPaddle::start().await.unwrap();
    let r = Receiver::default();
    r.answers.lock().unwrap().extend([503, 500]);
    m.configure_webhooks(&r.start().await, SECRET);
    m.set_success_url("http://127.0.0.1:1/return");
    let resp = pay(&m, json!({"checkout_session_id": "cs_1"})).await;
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("http://127.0.0.1:1/return?_ptxn=txn_"));
    wait_for("two events delivered", || {
        m.deliveries()
            .iter()
            .filter(|d| d.status == Some(200))
            .count()
            == 2
    })
    .await;
    let d = m.deliveries();
    // The first event was refused twice, then delivered; then the second.
    assert_eq!(
        d.iter().map(|d| d.status.unwrap()).collect::<Vec<_>>(),
        vec![503, 500, 200, 200]
    );
    let got = r.got.lock().unwrap().clone();
    // The receiver answers 401 to a signature it cannot verify: the 200s prove each one verified.
    let types: Vec<&str> = got
        .iter()
        .map(|(_, v)| v["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["subscription.created"; 3]
            .iter()
            .chain(&["transaction.completed"])
            .copied()
            .collect::<Vec<_>>()
    );
    let sub = &got[0].1["data"];
    assert_eq!(sub["custom_data"]["checkout_session_id"], "cs_1");
    assert_eq!(sub["status"], "active");
    assert_eq!(got[3].1["data"]["subscription_id"], sub["id"]);
    assert!(got[0].1["event_id"].as_str().unwrap().starts_with("evt_"));
    // Paying twice is refused.
    let again = reqwest::Client::new()
        .post(format!("{}/checkout/pay", m.url()))
        .body(format!(
            "_ptxn={}",
            got[3].1["data"]["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
}

#[tokio::test]
async fn webhook_faults_do_what_they_say() {
    let m = MockPaddle::start().await.unwrap();
    let r = Receiver::default();
    m.configure_webhooks(&r.start().await, SECRET);
    let sub = m.seed_subscription(Default::default()).id;

    // Duplicate and lost answer: the same event id twice, each answered 200.
    m.inject_webhook_fault(WebhookFault::Duplicate);
    m.change_subscription(&sub, "past_due");
    m.inject_webhook_fault(WebhookFault::LostAnswer);
    m.change_subscription(&sub, "active");
    wait_for("4 deliveries", || m.deliveries().len() == 4).await;
    let d = m.deliveries();
    assert_eq!(d[0].event_id, d[1].event_id);
    assert_eq!(d[2].event_id, d[3].event_id);
    assert!(d.iter().all(|d| d.status == Some(200)));

    // Bad signature: a tampered copy first (the receiver refuses it), then the real one.
    m.inject_webhook_fault(WebhookFault::BadSignature);
    m.change_subscription(&sub, "paused");
    wait_for("forged then real", || m.deliveries().len() == 6).await;
    let d = m.deliveries();
    assert!(d[4].forged && d[4].status == Some(401));
    assert!(!d[5].forged && d[5].status == Some(200));
    let got = r.got.lock().unwrap().clone();
    assert_eq!(
        got[4].1["data"]["status"], "canceled",
        "the forged copy is tampered"
    );
    assert_eq!(got[5].1["data"]["status"], "paused");

    // Out of order: the first of two events arrives second.
    m.inject_webhook_fault(WebhookFault::OutOfOrder);
    m.change_subscription(&sub, "active");
    m.change_subscription(&sub, "canceled");
    wait_for("two more", || m.deliveries().len() == 8).await;
    let d = m.deliveries();
    assert_eq!(
        (d[6].event_type.as_str(), d[7].event_type.as_str()),
        ("subscription.canceled", "subscription.activated")
    );

    // Late: not before its delay.
    m.inject_webhook_fault(WebhookFault::Late { delay_ms: 700 });
    let t = std::time::Instant::now();
    let fresh = m.seed_subscription(Default::default()).id;
    m.change_subscription(&fresh, "paused");
    wait_for("late one", || m.deliveries().len() == 9).await;
    assert!(t.elapsed() >= Duration::from_millis(700));
}
