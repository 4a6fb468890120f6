//! The customer CLI's whole flow, end to end, against the real binaries: `management-api` (`migrate`,
//! `token mint`, `serve` with its registry gateway and workers) and `mock-fly`, each a child process,
//! with reqwest doing the CLI's HTTP calls and skopeo doing docker's push:
//!
//! create → status until `awaiting_deploy` → registry-token → push (a push to another tenant's tag is
//! refused) → deploy → status until `ready`, the machine running the pushed digest → secrets →
//! restart → events → delete → status until `deleted`; then nothing of the tenant is left (mock-fly
//! holds no app, machine, volume, IP or certificate of it, the tag is gone upstream, its database and
//! role are dropped) and neither the Fly token nor the registry credential appears in the server's log.
//!
//! Once per upstream registry: mock-fly's own, and Debian's `docker-registry` (htpasswd user `x`,
//! password = the Fly token, like registry.fly.io). `E2E_KEEP=1` keeps the logs of a passing run
//! (a failing one always keeps them and prints their ends).

mod cli;
mod flow;
mod stack;
mod upstream;

use stack::Upstream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_flow_with_mock_fly_registry_upstream() {
    flow::run(Upstream::MockFly).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_flow_with_docker_registry_upstream() {
    flow::run(Upstream::DockerRegistry).await;
}
