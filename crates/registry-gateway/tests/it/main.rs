//! The registry gateway's integration tests, one binary: a real gateway on 127.0.0.1:0 in front of a
//! real upstream (Debian's `docker-registry`, mock-fly's registry, or a Bearer-token registry), with a
//! database of its own per test, and skopeo as the client.

mod attacks;
mod bearer_upstream;
mod common;
mod credentials;
mod fuzz;
mod isolation;
mod mock_fly_upstream;
mod push;
mod quotas;
mod revocation;
mod secrets;
