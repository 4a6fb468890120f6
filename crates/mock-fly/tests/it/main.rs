//! mock-fly's integration tests, one binary: its Machines API checked against Fly's spec and behaviour, its
//! registry against distribution (a differential run with Debian's `docker-registry`) and skopeo.

mod apps;
mod binary;
mod common;
mod faults;
mod faults_http;
mod leases;
mod machine_images;
mod machine_secrets;
mod machines;
mod openapi;
mod registry_manifests;
mod registry_uploads;
mod registry_vs_distribution;
mod skopeo;
mod spec_checker;
mod strict;
