//! The org credentials never leave the server: not in any response (headers or body) nor any log line,
//! whether the request succeeds, is refused, or the upstream refuses the gateway itself.

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use secrecy::ExposeSecret;

/// Every spelling of the password a leak could take.
fn forms(up: &Upstream) -> Vec<String> {
    vec![
        up.password.clone(),
        STANDARD.encode(format!("{}:{}", up.username, up.password)),
    ]
}

async fn dump(res: reqwest::Response) -> String {
    let mut out = format!("{}\n", res.status());
    for (k, v) in res.headers() {
        out.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
    }
    out + &res.text().await.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_org_password_appears_in_no_response_and_no_log_line() {
    let logs = capture_logs();
    let (reg, up) = registry();
    let gw = start_gateway(up.config()).await;
    let (_t, cred) = gw.tenant("t").await;
    let dir = tempfile::tempdir().unwrap();
    let image = random_image(&dir, "v1", 2, 20_000, true);

    // A real push with skopeo's debug output (it prints requests and response statuses) captured.
    let src = image.skopeo_ref();
    let dst = format!("docker://{}", gw.image_ref(&cred.tag));
    let creds = format!("{}:{}", cred.username, cred.token.expose_secret());
    let out = tokio::process::Command::new("skopeo")
        .args([
            "--debug",
            "copy",
            "--all",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
            &src,
            &dst,
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen = String::from_utf8_lossy(&out.stderr).into_owned();

    let p = |s: String| format!("/v2/{REPO}/{s}");
    let requests = [
        (Method::GET, "/v2/".to_owned()),
        (Method::GET, p(format!("manifests/{}", cred.tag))),
        (Method::HEAD, p(format!("manifests/{}", cred.tag))),
        (Method::GET, p(format!("blobs/{}", image.layer_digests[0]))),
        (Method::POST, p("blobs/uploads/".into())),
        (Method::GET, p("tags/list".into())),
        (Method::GET, "/v2/_catalog".to_owned()),
        (Method::DELETE, p(format!("manifests/{}", cred.tag))),
        (Method::GET, p("manifests/tenant-someone-else".into())),
    ];
    for (method, path) in requests {
        seen.push_str(&dump(gw.req(method, &path, &cred).send().await.unwrap()).await);
    }
    seen.push_str(&dump(reqwest::get(format!("{}/v2/", gw.url)).await.unwrap()).await);

    // The upstream refusing the gateway's (wrong) credentials: a 502, with neither password exposed.
    let wrong = Upstream {
        url: reg.url(),
        username: reg.username().into(),
        password: "wrong-org-password-xyz".into(),
    };
    let bad_gw = start_gateway(wrong.config()).await;
    let (_t2, cred2) = bad_gw.tenant("t2").await;
    let res = bad_gw
        .req(Method::GET, &p(format!("manifests/{}", cred2.tag)), &cred2)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    seen.push_str(&dump(res).await);

    let logged = logs.contents();
    assert!(
        logged.contains("registry request"),
        "gateway logs were captured"
    );
    for secret in forms(&up).into_iter().chain(forms(&wrong)) {
        assert!(
            !seen.contains(&secret),
            "a response or skopeo's output contains the org password"
        );
        assert!(
            !logged.contains(&secret),
            "a log line contains the org password"
        );
    }
    // The tenant's own credential is not logged either.
    assert!(!logged.contains(cred.token.expose_secret()));
}
