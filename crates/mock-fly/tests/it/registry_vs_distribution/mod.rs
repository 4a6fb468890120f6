//! Differential test: one script of registry requests against Debian's `docker-registry`
//! (distribution 2.8.2) and against mock-fly configured like it, with deletion enabled (tag delete →
//! 400) and disabled (every delete → 405); every step must give the same status and error code.

mod script;

use crate::common::mock_with;
use crate::common::oci::Reg;
use mgmt_mock_fly::TagDeleteSupport;
use mgmt_test_support::registry::{RegistryAuth, RegistryOptions, RegistryServer};
use script::script;

async fn mock_answers_like_distribution(tag_delete: TagDeleteSupport, delete_enabled: bool) {
    let m = mock_with(|c| {
        c.tag_delete = tag_delete;
        c.monolithic_post_upload = false;
    })
    .await;
    let options = RegistryOptions {
        delete_enabled,
        auth: Some(RegistryAuth {
            username: "x".into(),
            password: m.token().into(),
        }),
    };
    // Starting waits for the registry with blocking sleeps: keep them off the runtime's workers.
    let real = tokio::task::spawn_blocking(move || RegistryServer::start(options))
        .await
        .expect("docker-registry starts");
    let real_reg = Reg {
        http: reqwest::Client::new(),
        base: real.url(),
        token: m.token().to_owned(),
    };
    let expected = script(&real_reg).await;
    let actual = script(&Reg::new(&m)).await;
    let diff: Vec<String> = expected
        .iter()
        .zip(&actual)
        .filter(|(e, a)| e != a)
        .map(|(e, a)| format!("distribution: {e}\nmock-fly:     {a}"))
        .collect();
    assert!(
        diff.is_empty(),
        "mock-fly ({tag_delete:?}) differs from distribution 2.8 (delete enabled: {delete_enabled}):\n{}",
        diff.join("\n")
    );
    assert_eq!(expected.len(), actual.len());
    assert!(m.unknown_routes().is_empty(), "{:?}", m.unknown_routes());
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_registry_answers_like_distribution() {
    mock_answers_like_distribution(TagDeleteSupport::BadRequest400, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_without_deletion_answers_like_distribution_without_deletion() {
    mock_answers_like_distribution(TagDeleteSupport::MethodNotAllowed405, false).await;
}
