//! Generated attacks against the real registry: manifests whose keys are re-cased, folded (`ſ`, `K`)
//! or duplicated at every depth distribution reads, carrying tenant B's digests, and upload queries
//! spelling `mount`/`from` every way percent-encoding allows. Whatever the gateway answers, the
//! invariant of [`Scene::assert_b_unreachable_from_a`] must hold afterwards. Seeded by proptest,
//! bounded in cases so it runs in seconds.

use mgmt_domain::media_type::{OCI_INDEX, OCI_MANIFEST};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;

use crate::attacks::Scene;
use crate::common::*;

const CASES: u32 = 48;

/// A spelling of `word` Go's JSON decoder matches to the field `word`: random ASCII case, and `s`/`k`
/// sometimes as U+017F / U+212A.
fn fold_variant(word: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..4, word.len()).prop_map(move |choices| {
        word.chars()
            .zip(choices)
            .map(|(c, n)| match (c, n) {
                ('s', 3) => '\u{17f}'.to_string(),
                ('k', 3) => '\u{212a}'.to_string(),
                (c, 1 | 3) => c.to_ascii_uppercase().to_string(),
                (c, _) => c.to_string(),
            })
            .collect::<String>()
    })
}

/// Where the foreign content is spliced in.
#[derive(Debug, Clone, Copy)]
enum Site {
    Layers,
    Config,
    LayerDigest,
    Subject,
    IndexManifests,
}

#[derive(Debug, Clone)]
struct Attack {
    site: Site,
    /// The key as written (a fold variant, or the exact key for a plain duplicate).
    key: String,
    /// Foreign entry before the genuine one (last-wins readers then see the genuine one).
    foreign_first: bool,
    content_type_upper: bool,
}

fn attacks() -> impl Strategy<Value = Attack> {
    let site = prop_oneof![
        Just(Site::Layers),
        Just(Site::Config),
        Just(Site::LayerDigest),
        Just(Site::Subject),
        Just(Site::IndexManifests),
    ];
    (site, any::<bool>(), any::<bool>(), any::<bool>()).prop_flat_map(
        |(site, exact, foreign_first, content_type_upper)| {
            let word = match site {
                Site::Layers => "layers",
                Site::Config => "config",
                Site::LayerDigest => "digest",
                Site::Subject => "subject",
                Site::IndexManifests => "manifests",
            };
            let key = if exact {
                Just(word.to_owned()).boxed()
            } else {
                fold_variant(word).boxed()
            };
            key.prop_map(move |key| Attack {
                site,
                key,
                foreign_first,
                content_type_upper,
            })
        },
    )
}

fn body(s: &Scene, a: &Attack) -> (String, String) {
    let esc = |k: &str| serde_json::to_string(k).unwrap();
    let pair = |genuine: String, foreign: String| {
        if a.foreign_first {
            format!("{foreign},{genuine}")
        } else {
            format!("{genuine},{foreign}")
        }
    };
    let a_layer = s.a_layer().to_string();
    let b_layer = s.b_layer().to_string();
    let a_config = s.a_config().to_string();
    let b_digest = &s.image_b.layer_digests[0];
    let b_manifest = &s.image_b.manifest_digest;
    let (ct, text) = match a.site {
        Site::Layers => (
            OCI_MANIFEST,
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{a_config},{}}}"#,
                pair(
                    format!(r#""layers":[{a_layer}]"#),
                    format!(r#"{}:[{b_layer}]"#, esc(&a.key))
                )
            ),
        ),
        Site::Config => (
            OCI_MANIFEST,
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[{a_layer}],{}}}"#,
                pair(
                    format!(r#""config":{a_config}"#),
                    format!(
                        r#"{}:{{"digest":"{}","size":1}}"#,
                        esc(&a.key),
                        s.image_b.config_digest
                    )
                )
            ),
        ),
        Site::LayerDigest => (
            OCI_MANIFEST,
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{a_config},"layers":[{{"size":1,{}}}]}}"#,
                pair(
                    format!(r#""digest":"{}""#, s.image_a.layer_digests[0]),
                    format!(r#"{}:"{b_digest}""#, esc(&a.key))
                )
            ),
        ),
        Site::Subject => (
            OCI_MANIFEST,
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{a_config},"layers":[{a_layer}],{}:{{"mediaType":"{OCI_MANIFEST}","digest":"{b_manifest}","size":1}}}}"#,
                esc(&a.key)
            ),
        ),
        Site::IndexManifests => (
            OCI_INDEX,
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}",{}}}"#,
                pair(
                    format!(
                        r#""manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1}}]"#,
                        s.image_a.manifest_digest
                    ),
                    format!(
                        r#"{}:[{{"mediaType":"{OCI_MANIFEST}","digest":"{b_manifest}","size":1}}]"#,
                        esc(&a.key)
                    )
                )
            ),
        ),
    };
    let ct = if a.content_type_upper {
        format!("{}; charset=utf-8", ct.to_ascii_uppercase())
    } else {
        ct.to_owned()
    };
    (ct, text)
}

/// Each character of `word` literal or `%XX` in either hex case.
fn encoded(word: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..3, word.len()).prop_map(move |choices| {
        word.bytes()
            .zip(choices)
            .map(|(b, n)| match n {
                0 => (b as char).to_string(),
                1 => format!("%{b:02X}"),
                _ => format!("%{b:02x}"),
            })
            .collect()
    })
}

#[test]
fn generated_manifests_never_let_a_reach_b() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let scene = rt.block_on(Scene::new());
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&attacks(), |attack| {
            let (ct, text) = body(&scene, &attack);
            let (status, _code) = rt.block_on(scene.put_as_a(&ct, text.clone()));
            prop_assert!(status != 201, "{attack:?} accepted: {text}");
            rt.block_on(scene.assert_b_unreachable_from_a());
            Ok(())
        })
        .unwrap();
}

#[test]
fn generated_mount_queries_never_mount() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Every accepted POST opens a session: room for all of them.
    let scene = rt.block_on(Scene::with_limits(mgmt_registry_gateway::GatewayLimits {
        max_concurrent_uploads: CASES * 2,
        ..mgmt_registry_gateway::GatewayLimits::default()
    }));
    let b_blob = scene.image_b.layer_digests[0].clone();
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        encoded("mount"),
        encoded("from"),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just("&"), Just(";"), Just("&&")],
    );
    runner
        .run(&strategy, |(mount, from, swap, escape_colon, sep)| {
            let digest = if escape_colon {
                b_blob.replace(':', "%3A")
            } else {
                b_blob.clone()
            };
            let (first, second) = (format!("{mount}={digest}"), format!("{from}={REPO}"));
            let query = if swap {
                format!("{second}{sep}{first}")
            } else {
                format!("{first}{sep}{second}")
            };
            let path = format!("/v2/{REPO}/blobs/uploads/?{query}");
            let (status, _) = rt.block_on(scene.gw.answer(Method::POST, &path, &scene.a));
            prop_assert!(
                status == 202 || status == 400,
                "{query}: {status} (201 would be a mount)"
            );
            rt.block_on(scene.assert_b_unreachable_from_a());
            Ok(())
        })
        .unwrap();
}
