//! The registry suite against Debian's `docker-registry` (distribution 2.8), with deletion enabled
//! (placeholder path: 2.8 has no delete-by-tag) and disabled (the placeholder stays).

use crate::registry_suite;

use crate::registry_suite::{DeletePath, Target};
use mgmt_test_support::registry::{RegistryOptions, RegistryServer};

fn target(delete_enabled: bool) -> Target {
    let server = RegistryServer::start(RegistryOptions {
        delete_enabled,
        ..Default::default()
    });
    Target {
        name: if delete_enabled {
            "docker-registry"
        } else {
            "docker-registry (delete disabled)"
        },
        url: server.url(),
        host: server.host(),
        username: server.username().into(),
        password: server.password().into(),
        delete_path: if delete_enabled {
            DeletePath::Placeholder
        } else {
            DeletePath::PlaceholderLeft
        },
        _keep: Box::new(server),
    }
}

#[tokio::test]
async fn oci_manifest_and_index_resolve() {
    registry_suite::oci_manifest_and_index_resolve(&target(true)).await;
}

#[tokio::test]
async fn unauthorized_is_not_absent() {
    registry_suite::unauthorized_is_not_absent(&target(true)).await;
}

#[tokio::test]
async fn safe_delete_keeps_the_identical_twin() {
    registry_suite::safe_delete_keeps_the_identical_twin(&target(true)).await;
}

#[tokio::test]
async fn safe_delete_with_deletion_disabled_leaves_placeholder_and_twin() {
    registry_suite::safe_delete_keeps_the_identical_twin(&target(false)).await;
}

#[tokio::test]
async fn put_manifest_round_trips() {
    registry_suite::put_manifest_round_trips(&target(true)).await;
}

#[tokio::test]
async fn docker_v2_manifest_resolves() {
    registry_suite::docker_v2_manifest_resolves(&target(true)).await;
}
