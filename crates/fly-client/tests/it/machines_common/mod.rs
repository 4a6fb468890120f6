//! Helpers shared by the Machines API wire tests: a client pointed at a fake server with fast
//! retries, fake routes and JSON answers, and an observer that records every call.

#![allow(dead_code)] // each test binary uses the parts it needs

use std::sync::Mutex;
use std::time::Duration;

use mgmt_fly_client::resilience::{CallObserver, RetryPolicy};
use mgmt_fly_client::{HttpFlyMachines, MachinesConfig};
use secrecy::SecretString;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

pub const TOKEN: &str = "fm2_sekrit-macaroon-token";

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    }
}

pub fn client_with(
    server: &MockServer,
    token: &str,
    f: impl FnOnce(&mut MachinesConfig),
) -> HttpFlyMachines {
    let mut cfg = MachinesConfig::new(
        server.uri(),
        SecretString::from(token.to_string()),
        "our-org",
    );
    cfg.retry = fast_retry();
    cfg.consistency_wait = Duration::from_millis(300);
    f(&mut cfg);
    HttpFlyMachines::new(cfg).unwrap()
}

/// A fake route: `verb` on exactly `route`.
pub fn on(verb: &str, route: &str) -> MockBuilder {
    Mock::given(method(verb)).and(path(route))
}

/// A JSON answer with `status`.
pub fn json_reply(status: u16, body: impl serde::Serialize) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

pub fn client(server: &MockServer) -> HttpFlyMachines {
    client_with(server, TOKEN, |_| {})
}

#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<(String, String, String)>>);

impl CallObserver for Recorder {
    fn on_call(&self, upstream: &str, operation: &str, outcome: &str, _elapsed: Duration) {
        self.0
            .lock()
            .unwrap()
            .push((upstream.into(), operation.into(), outcome.into()));
    }
}
