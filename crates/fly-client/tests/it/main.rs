//! fly-client's integration tests, one binary: the Machines and registry clients on the wire (wiremock),
//! against mock-fly, and against Debian's `docker-registry`.

mod machines_common;
mod machines_creates;
mod machines_mock_fly;
mod machines_wire;
mod registry_docker;
mod registry_mock_fly;
mod registry_suite;
mod registry_wire;
