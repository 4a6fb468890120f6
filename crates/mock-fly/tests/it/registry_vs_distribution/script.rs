//! The request script run against both registries; one line of outcome per step.

use mgmt_domain::media_type::{DOCKER_MANIFEST as DOCKER, OCI_MANIFEST as OCI};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

use crate::common::oci::{self, Reg, digest};

async fn outcome(step: &str, r: Response) -> String {
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(' ').next().unwrap_or("").to_owned());
    let range = r
        .headers()
        .get("range")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let digest = r
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(|d| d[..15].to_owned());
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let code = body["errors"][0]["code"].as_str().unwrap_or("").to_owned();
    let tags = body.get("tags").map(|t| t.to_string()).unwrap_or_default();
    format!(
        "{step}: {status} {code} {} {} {tags} {}",
        challenge.unwrap_or_default(),
        range.unwrap_or_default(),
        digest.unwrap_or_default()
    )
}

/// Sends `rb` and describes the answer as [`outcome`] does.
async fn send(step: &str, rb: RequestBuilder) -> String {
    outcome(step, rb.send().await.unwrap()).await
}

/// The script; returns one line per step.
pub async fn script(reg: &Reg) -> Vec<String> {
    let mut out = Vec::new();
    let img = oci::build("t", "differential");
    let anon = reg
        .http
        .get(format!("{}/v2/", reg.base))
        .send()
        .await
        .unwrap();
    out.push(outcome("anonymous base", anon).await);
    out.push(send("base", reg.req(Method::GET, "/v2/")).await);
    let layer_d = digest(&img.layer);
    out.push(
        send(
            "head unknown blob",
            reg.req(Method::HEAD, &format!("/v2/org/app/blobs/{layer_d}")),
        )
        .await,
    );

    let start = reg
        .req(Method::POST, "/v2/org/app/blobs/uploads/")
        .send()
        .await
        .unwrap();
    let loc = start.headers()["location"].to_str().unwrap().to_owned();
    let start_loc = loc.clone();
    out.push(outcome("start upload", start).await);
    let (a, b) = img.layer.split_at(10);
    let p1 = reg
        .req(Method::PATCH, &loc)
        .header("content-range", "0-9")
        .header("content-type", "application/octet-stream")
        .body(a.to_vec())
        .send()
        .await
        .unwrap();
    let loc = p1.headers()["location"].to_str().unwrap().to_owned();
    out.push(outcome("patch chunk", p1).await);
    let stale = reg
        .req(Method::PATCH, &start_loc)
        .body(b.to_vec())
        .send()
        .await
        .unwrap();
    out.push(outcome("patch with stale _state", stale).await);
    let no_state = loc.split('?').next().unwrap().to_owned();
    out.push(send("status without _state", reg.req(Method::GET, &no_state)).await);
    let typed = reg
        .req(Method::PATCH, &loc)
        .header("content-type", "text/plain")
        .body(Vec::new())
        .send()
        .await
        .unwrap();
    let loc = typed
        .headers()
        .get("location")
        .map_or(loc, |l| l.to_str().unwrap().to_owned());
    out.push(outcome("patch empty text/plain", typed).await);
    let status = reg.req(Method::GET, &loc).send().await.unwrap();
    let loc = status
        .headers()
        .get("location")
        .map_or(loc, |l| l.to_str().unwrap().to_owned());
    out.push(outcome("upload status", status).await);
    let p2 = reg
        .req(Method::PATCH, &loc)
        .header("content-type", "application/octet-stream")
        .body(b.to_vec())
        .send()
        .await
        .unwrap();
    let loc = p2
        .headers()
        .get("location")
        .map_or(loc, |l| l.to_str().unwrap().to_owned());
    out.push(outcome("patch rest", p2).await);
    let sep = if loc.contains('?') { '&' } else { '?' };
    out.push(
        send(
            "finish upload",
            reg.req(Method::PUT, &format!("{loc}{sep}digest={layer_d}")),
        )
        .await,
    );
    out.push(
        send(
            "get blob",
            reg.req(Method::GET, &format!("/v2/org/app/blobs/{layer_d}")),
        )
        .await,
    );

    let bad = reg
        .req(
            Method::POST,
            &format!("/v2/org/app/blobs/uploads/?digest={}", digest(b"other")),
        )
        .body("x")
        .send()
        .await
        .unwrap();
    out.push(outcome("monolithic wrong digest", bad).await);
    out.push(
        outcome(
            "manifest missing config",
            reg.put_manifest("org/app", "t1", OCI, &img.manifest).await,
        )
        .await,
    );
    reg.put_blob("org/app", &img.config).await;
    out.push(
        outcome(
            "push t1",
            reg.put_manifest("org/app", "t1", OCI, &img.manifest).await,
        )
        .await,
    );
    out.push(
        outcome(
            "push t2",
            reg.put_manifest("org/app", "t2", OCI, &img.manifest).await,
        )
        .await,
    );
    out.push(
        send(
            "get no accept",
            reg.req(Method::GET, "/v2/org/app/manifests/t1"),
        )
        .await,
    );
    out.push(
        send(
            "head docker accept",
            reg.req(Method::HEAD, "/v2/org/app/manifests/t1")
                .header("accept", DOCKER),
        )
        .await,
    );
    let two = reg
        .req(Method::GET, "/v2/org/app/manifests/t1")
        .header("accept", DOCKER)
        .header("accept", OCI)
        .send()
        .await
        .unwrap();
    out.push(outcome("get two accepts", two).await);
    out.push(send("tags", reg.req(Method::GET, "/v2/org/app/tags/list")).await);
    out.push(
        send(
            "delete by tag",
            reg.req(Method::DELETE, "/v2/org/app/manifests/t1"),
        )
        .await,
    );
    let by_digest = format!("/v2/org/app/manifests/{}", img.manifest_digest);
    out.push(send("delete by digest", reg.req(Method::DELETE, &by_digest)).await);
    out.push(
        send(
            "get t2 after",
            reg.req(Method::GET, "/v2/org/app/manifests/t2")
                .header("accept", OCI),
        )
        .await,
    );
    out.push(send("delete again", reg.req(Method::DELETE, &by_digest)).await);
    out.push(
        send(
            "tags after delete",
            reg.req(Method::GET, "/v2/org/app/tags/list"),
        )
        .await,
    );
    let wrong = format!("sha256:{}", "b".repeat(64));
    out.push(
        outcome(
            "put manifest wrong digest",
            reg.put_manifest("org/app", &wrong, OCI, &img.manifest)
                .await,
        )
        .await,
    );
    out.push(
        send(
            "unknown repo tags",
            reg.req(Method::GET, "/v2/never/tags/list"),
        )
        .await,
    );
    let config_blob = format!("/v2/org/app/blobs/{}", digest(&img.config));
    out.push(send("delete blob", reg.req(Method::DELETE, &config_blob)).await);
    out.push(send("head deleted blob", reg.req(Method::HEAD, &config_blob)).await);
    let never = digest(b"never pushed");
    for (step, path) in [
        ("delete unknown blob", format!("/v2/org/app/blobs/{never}")),
        (
            "delete manifest of unknown repo",
            format!("/v2/never/manifests/{never}"),
        ),
        (
            "delete tag of unknown repo",
            "/v2/never/manifests/t1".into(),
        ),
    ] {
        out.push(send(step, reg.req(Method::DELETE, &path)).await);
    }
    // Cancelling an upload is no deletion: it works with deletion disabled too.
    let cancel = reg
        .req(Method::POST, "/v2/org/app/blobs/uploads/")
        .send()
        .await
        .unwrap();
    let cancel_loc = cancel.headers()["location"].to_str().unwrap().to_owned();
    out.push(outcome("start upload to cancel", cancel).await);
    out.push(send("cancel upload", reg.req(Method::DELETE, &cancel_loc)).await);
    let mount = format!("/v2/org/other/blobs/uploads/?mount={layer_d}&from=org/app");
    out.push(send("mount", reg.req(Method::POST, &mount)).await);
    out
}
