//! Differential test: one script of registry requests against Debian's `docker-registry`
//! (distribution 2.8.2) and against mock-fly configured like it (tag delete → 400); every step must
//! give the same status and error code.

#[path = "../common/mod.rs"]
mod common;
mod script;

use common::oci::Reg;
use common::{distribution, mock_with};
use mock_fly::TagDeleteSupport;
use script::script;

#[tokio::test(flavor = "multi_thread")]
async fn mock_registry_answers_like_distribution() {
    let m = mock_with(|c| {
        c.tag_delete = TagDeleteSupport::BadRequest400;
        c.monolithic_post_upload = false;
    })
    .await;
    let real = distribution::start(m.token()).await;
    let real_reg = Reg {
        http: reqwest::Client::new(),
        base: real.url.clone(),
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
        "mock-fly differs from distribution 2.8:\n{}",
        diff.join("\n")
    );
    assert_eq!(expected.len(), actual.len());
    assert!(m.unknown_routes().is_empty());
}
