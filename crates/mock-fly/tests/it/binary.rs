//! The `mock-fly` binary starts, prints its URLs on stdout and serves the API and inspection endpoint.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mgmt_test_support::wait::eventually_blocking;

struct Killed(Child);

impl Drop for Killed {
    /// SIGTERM first, as the demo and the e2e test stop it (the binary then removes its files); SIGKILL
    /// only if it is still running after 5 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let exited = eventually_blocking(Duration::from_secs(5), || {
            matches!(self.0.try_wait(), Ok(Some(_)))
        });
        if exited.is_ok() {
            return;
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_prints_urls_and_serves_state() {
    let child = Command::new(env!("CARGO_BIN_EXE_mock-fly"))
        .args(["--listen", "127.0.0.1:0", "--token", "demo-token"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut child = Killed(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let url = first
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches("/v1")
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{first}"
    );
    let http = reqwest::Client::new();
    let state: serde_json::Value = http
        .get(format!("{url}/__mock/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["apps"], serde_json::json!([]));
    let denied = http
        .get(format!("{url}/v1/apps/x"))
        .bearer_auth("mock-fly-token")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    let ok = http
        .get(format!("{url}/v1/apps/x"))
        .bearer_auth("demo-token")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 404);
}
