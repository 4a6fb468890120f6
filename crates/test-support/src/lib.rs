//! Shared test harnesses, each in its own module (and owned by the crate that needed it first):
//! - [`db`]: a fresh, migrated PostgreSQL database per test, dropped afterwards even on panic;
//! - [`registry`]: Debian's `docker-registry` (distribution 2.8) on a free 127.0.0.1 port, htpasswd auth;
//! - [`oci`]: tiny OCI images built by hand and pushed with `skopeo`.

pub mod blocking;
pub mod cargo_bin;
pub mod db;
pub mod oci;
pub mod pg_catalog;
pub mod process;
pub mod registry;
pub mod wait;
