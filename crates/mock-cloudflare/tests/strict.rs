//! The fake answers as Cloudflare does: authentication, zone, duplicates, missing records, faults.

use mgmt_mock_cloudflare::MockCloudflare;
use serde_json::{Value, json};

async fn send(req: reqwest::RequestBuilder) -> (u16, Option<String>, Value) {
    let resp = req.send().await.expect("answer");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, resp.json().await.expect("json"))
}

fn codes(body: &Value) -> Vec<u64> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn cloudflare_answers_strictly() {
    let cf = MockCloudflare::start().await.unwrap();
    let http = reqwest::Client::new();
    let records = format!("{}/zones/{}/dns_records", cf.url(), cf.zone_id());
    let cname = json!({"type": "CNAME", "name": "a.example.com", "content": "sp-a.fly.dev", "proxied": false, "ttl": 1});

    let (s, _, b) = send(http.post(&records).json(&cname)).await;
    assert_eq!((s, codes(&b)), (400, vec![9106]));
    assert_eq!(b["success"], false);
    let (s, _, b) = send(
        http.post(&records)
            .header("authorization", "Token x")
            .json(&cname),
    )
    .await;
    assert_eq!((s, codes(&b)), (400, vec![6003]));
    let (s, _, b) = send(http.post(&records).bearer_auth("nope").json(&cname)).await;
    assert_eq!((s, codes(&b)), (403, vec![10000]));
    let other_zone = format!("{}/zones/ffff/dns_records", cf.url());
    let (s, _, b) = send(http.get(&other_zone).bearer_auth(cf.api_token())).await;
    assert_eq!((s, codes(&b)), (400, vec![7003, 7000]));
    assert!(cf.records().is_empty());

    let (s, _, b) = send(http.post(&records).bearer_auth(cf.api_token()).json(&cname)).await;
    assert_eq!(s, 200);
    assert_eq!(b["success"], true);
    let id = b["result"]["id"].as_str().unwrap().to_owned();
    let (s, _, b) = send(http.post(&records).bearer_auth(cf.api_token()).json(&cname)).await;
    assert_eq!((s, codes(&b)), (400, vec![81058]));
    let a = json!({"type": "A", "name": "A.example.com.", "content": "192.0.2.1"});
    let (s, _, b) = send(http.post(&records).bearer_auth(cf.api_token()).json(&a)).await;
    assert_eq!((s, codes(&b)), (400, vec![81053]));

    let (s, _, b) = send(
        http.get(format!("{records}?name=a.example.com"))
            .bearer_auth(cf.api_token()),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["result"].as_array().unwrap().len(), 1);
    assert_eq!(b["result_info"]["count"], 1);

    cf.faults().rate_limit("delete_record", 7);
    let (s, retry, b) = send(
        http.delete(format!("{records}/{id}"))
            .bearer_auth(cf.api_token()),
    )
    .await;
    assert_eq!(
        (s, retry.as_deref(), codes(&b)),
        (429, Some("7"), vec![971])
    );
    let (s, _, _) = send(
        http.delete(format!("{records}/{id}"))
            .bearer_auth(cf.api_token()),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, b) = send(
        http.delete(format!("{records}/{id}"))
            .bearer_auth(cf.api_token()),
    )
    .await;
    assert_eq!((s, codes(&b)), (404, vec![81044]));
    assert!(cf.records().is_empty());
    assert!(cf.unknown_routes().is_empty());
}
