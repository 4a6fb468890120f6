//! The customer CLI's contract, end to end, against the real binaries: `management-api` (`migrate`,
//! `token mint`, `serve` with its registry gateway and workers) and `mock-fly`, each a child process, with
//! a client that makes and decodes every call as `cli-contract-full.md` says the CLI does and skopeo doing
//! docker's push. One flow per CLI revision (see `contract::e` and `contract::h`), each ending with the
//! checks that nothing of the tenant is left (mock-fly holds no app, machine, volume, IP or certificate of
//! it, the tag is gone upstream, its database and role are dropped) and that no secret reached the log.
//!
//! Revision E runs with mock-fly's own registry as the upstream, revision H with Debian's
//! `docker-registry` (htpasswd user `x`, password = the Fly token, like registry.fly.io), so both upstreams
//! are covered. `E2E_KEEP=1` keeps the logs of a passing run (a failing one always keeps them and prints
//! their ends).

mod browser;
mod contract;
mod login;
mod signup;
mod stack;
mod upstream;

use std::time::Instant;

use stack::{Stack, Upstream};

/// Reports a flow's outcome: on failure the step, the error and the end of every log, then a panic.
/// The stack is torn down when the caller drops it, either way.
fn report(stack: &Stack, name: &str, started: Instant, outcome: anyhow::Result<()>) {
    if let Err(e) = outcome {
        stack.fail(e);
    }
    println!(
        "{name} passed ({}) in {:.1}s",
        stack.upstream.name(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_revision_e_with_mock_fly_registry_upstream() {
    let started = Instant::now();
    let stack = Stack::start(Upstream::MockFly).await;
    let outcome = contract::e::run(&stack).await;
    report(&stack, "CLI E", started, outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_revision_h_with_docker_registry_upstream() {
    let started = Instant::now();
    let stack = Stack::start(Upstream::DockerRegistry).await;
    let outcome = contract::h::run(&stack).await;
    report(&stack, "CLI H", started, outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_login_with_github() {
    let started = Instant::now();
    let stack = Stack::start_with_idp(Upstream::MockFly).await;
    let outcome = login::run(
        &stack,
        mgmt_mock_idp::Provider::Github,
        "e2e-gh@example.com",
    )
    .await;
    report(&stack, "CLI login (GitHub)", started, outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_login_with_google() {
    let started = Instant::now();
    let stack = Stack::start_with_idp(Upstream::MockFly).await;
    let outcome = login::run(
        &stack,
        mgmt_mock_idp::Provider::Google,
        "e2e-google@example.com",
    )
    .await;
    report(&stack, "CLI login (Google)", started, outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_free_plan_in_chromium() {
    let started = Instant::now();
    let stack = Stack::start(Upstream::MockFly).await;
    let outcome = signup::free_plan(&stack).await;
    report(&stack, "signup (free plan)", started, outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_paid_plan_with_webhook_faults() {
    let started = Instant::now();
    let stack = Stack::start(Upstream::MockFly).await;
    let outcome = signup::paid_plan(&stack).await;
    report(&stack, "signup (paid plan)", started, outcome);
}
