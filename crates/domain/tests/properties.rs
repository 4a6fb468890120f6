//! Property tests of the domain rules: canonical ids, the image reference grammar, secret names, the
//! deploy rule, the strict manifest reader.

use proptest::prelude::*;
use std::collections::HashSet;

use mgmt_domain::image_ref::{ManifestReference, validate_repository, validate_tag};
use mgmt_domain::{
    ImageRef, ManifestKind, RegistryTarget, SECRET_NAME_LENGTH_MAX, SecretName, TenantId,
    TenantState, media_type, naming, parse_manifest,
};
use proptest::sample::Index;
use strum::IntoEnumIterator;

fn tenant_id() -> impl Strategy<Value = TenantId> {
    any::<u128>().prop_map(|n| TenantId::from_uuid(uuid::Uuid::from_u128(n)))
}

/// Valid references built from the grammar's pieces.
fn valid_reference() -> impl Strategy<Value = String> {
    let component = "[a-z0-9]{1,8}([._-][a-z0-9]{1,8}){0,2}";
    let path = prop::collection::vec(component, 1..4).prop_map(|c| c.join("/"));
    // Always with a host: without one, a first component containing `.` is read as a host (as in
    // distribution), which the generator would otherwise have to avoid.
    let host = (
        "[a-z][a-z0-9]{0,10}\\.[a-z]{2,5}",
        prop::option::of(1u16..65535),
    )
        .prop_map(Some);
    let tag = prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}");
    let digest = prop::option::of("[0-9a-f]{64}");
    (host, path, tag, digest).prop_map(|(host, path, tag, digest)| {
        let mut s = String::new();
        if let Some((h, port)) = host {
            s.push_str(&h);
            if let Some(p) = port {
                s.push_str(&format!(":{p}"));
            }
            s.push('/');
        }
        s.push_str(&path);
        if let Some(t) = tag {
            s.push_str(&format!(":{t}"));
        }
        if let Some(d) = digest {
            s.push_str(&format!("@sha256:{d}"));
        }
        s
    })
}

proptest! {
    #[test]
    fn tenant_id_display_parse_round_trip(id in tenant_id()) {
        let shown = id.to_string();
        prop_assert_eq!(TenantId::parse(&shown).unwrap(), id);
        prop_assert_eq!(shown.to_lowercase(), shown.clone());
        // Exactly one spelling: the uppercase form is refused.
        if shown.chars().any(|c| c.is_ascii_alphabetic()) {
            prop_assert!(TenantId::parse(&shown.to_uppercase()).is_err());
        }
    }

    #[test]
    fn image_ref_round_trips(reference in valid_reference()) {
        let parsed = ImageRef::parse(&reference).unwrap();
        prop_assert_eq!(parsed.to_string(), reference.clone());
        prop_assert_eq!(ImageRef::parse(&parsed.to_string()).unwrap(), parsed);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = ImageRef::parse(&s);
        let _ = TenantId::parse(&s);
    }

    #[test]
    fn parser_never_panics_on_reference_like_noise(s in "[a-zA-Z0-9:/@._ -]{0,80}") {
        let _ = ImageRef::parse(&s);
    }

    /// The pieces alone agree with the whole: a reference parses exactly when its repository and its
    /// tag (or digest) do.
    #[test]
    fn pieces_agree_with_the_whole_reference(
        path in "[a-z0-9._/-]{1,40}",
        reference in "[a-zA-Z0-9:._-]{1,20}",
    ) {
        let whole = ImageRef::parse(&format!("registry.example.com/{path}:{reference}"));
        let pieces_ok = validate_repository(&path).is_ok() && validate_tag(&reference).is_ok();
        prop_assert_eq!(whole.is_ok(), pieces_ok, "{}:{}", path, reference);
        if !reference.contains(':') {
            prop_assert_eq!(
                ManifestReference::parse(&reference).is_ok(),
                validate_tag(&reference).is_ok()
            );
        }
    }

    /// Exactly the portable environment-variable names, at most 128 of them, are secret names, and a
    /// name shows as it was given.
    #[test]
    fn secret_names_are_environment_variable_names(s in "[A-Za-z0-9_=. -]{0,140}|[A-Z_][A-Z0-9_]{0,130}") {
        let expected = s.len() <= SECRET_NAME_LENGTH_MAX
            && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match SecretName::parse(&s) {
            Ok(name) => {
                prop_assert!(expected, "accepted {:?}", s);
                prop_assert_eq!(name.as_str(), s.as_str());
                prop_assert_eq!(name.to_string().parse::<SecretName>().unwrap(), name);
            }
            Err(e) => {
                prop_assert!(!expected, "refused {:?}: {}", s, e);
                prop_assert!(e.to_string().len() < 400);
            }
        }
    }

    /// Every key the CLI sends (a `secrets.json` key upper-cased) is accepted unless it holds a
    /// character no environment variable name can.
    #[test]
    fn upper_cased_cli_keys_are_accepted_unless_not_env_names(key in "[a-z_][a-z0-9_-]{0,60}") {
        let sent = key.to_uppercase();
        prop_assert_eq!(SecretName::parse(&sent).is_ok(), !sent.contains('-'));
    }

    #[test]
    fn secret_name_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = SecretName::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn deploy_rule_accepts_only_the_tenants_own_image(
        id in tenant_id(),
        other in tenant_id(),
        candidate in "[a-zA-Z0-9:/@._-]{0,120}",
    ) {
        let target = RegistryTarget::new("registry.example.com", "tenant-images");
        let own = target.expected_image(&id);
        // Arbitrary strings are accepted only when they are the tenant's image (plus optional digest).
        if let Ok(ok) = target.validate_deploy_image(&id, &candidate) {
            let pinned_prefix = format!("{own}@sha256:");
            prop_assert!(candidate == own || candidate.starts_with(&pinned_prefix));
            prop_assert_eq!(ok.image, own.clone());
        }
        // Another tenant's image is never accepted.
        prop_assert!(target.validate_deploy_image(&id, &target.expected_image(&other)).is_ok() == (id == other));
        // Mutations of the tenant's own image are refused.
        for mutated in [format!("{own}x"), format!("{own} "), own.to_uppercase(), own.replacen('/', "/x/", 1), own.replace(':', "@")] {
            prop_assert!(target.validate_deploy_image(&id, &mutated).is_err(), "{}", mutated);
        }
        prop_assert!(target.validate_deploy_image(&id, &own).is_ok());
    }

    #[test]
    fn derived_names_are_distinct_per_tenant(a in tenant_id(), b in tenant_id()) {
        prop_assume!(a.short_hex() != b.short_hex());
        prop_assert_ne!(naming::fly_app_name(&a), naming::fly_app_name(&b));
        prop_assert_ne!(naming::tenant_database_name(&a), naming::tenant_database_name(&b));
        prop_assert_ne!(naming::image_tag(&a), naming::image_tag(&b));
    }

    #[test]
    fn transitions_never_leave_deleted(path in prop::collection::vec(0usize..8, 0..20)) {
        let mut state = TenantState::Pending;
        for i in path {
            let to = TenantState::iter().nth(i).unwrap();
            match state.transition(to) {
                Ok(next) => { prop_assert!(state != TenantState::Deleted); state = next; }
                Err(e) => prop_assert_eq!(e.from, state),
            }
        }
    }
}

/// A JSON tree for generating manifests: objects keep their key order, and know whether Go decodes them
/// into a struct (case-folded keys) or a map (`annotations`, exact keys).
#[derive(Debug, Clone)]
enum J {
    S(String),
    N(u64),
    A(Vec<J>),
    O(Vec<(String, J)>, Shape),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Struct,
    Map,
}

impl J {
    fn obj(entries: Vec<(&str, J)>) -> J {
        J::O(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            Shape::Struct,
        )
    }

    /// Compact canonical serialization.
    fn write(&self, out: &mut String) {
        match self {
            J::S(s) => out.push_str(&serde_json::to_string(s).unwrap()),
            J::N(n) => out.push_str(&n.to_string()),
            J::A(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            J::O(entries, _) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn field(&self, name: &str) -> Option<&J> {
        match self {
            J::O(entries, _) => entries.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Paths (indices into entries/items) of every non-empty object, with its shape.
    fn objects(&self, path: &mut Vec<usize>, out: &mut Vec<(Vec<usize>, Shape)>) {
        match self {
            J::A(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(i);
                    item.objects(path, out);
                    path.pop();
                }
            }
            J::O(entries, shape) => {
                if !entries.is_empty() {
                    out.push((path.clone(), *shape));
                }
                for (i, (_, v)) in entries.iter().enumerate() {
                    path.push(i);
                    v.objects(path, out);
                    path.pop();
                }
            }
            J::S(_) | J::N(_) => {}
        }
    }

    fn at_mut(&mut self, path: &[usize]) -> &mut J {
        match (self, path.split_first()) {
            (j, None) => j,
            (J::A(items), Some((i, rest))) => items[*i].at_mut(rest),
            (J::O(entries, _), Some((i, rest))) => entries[*i].1.at_mut(rest),
            _ => unreachable!("paths come from `objects`"),
        }
    }
}

fn digest() -> impl Strategy<Value = String> {
    // Repeated-digit digests collide often, which exercises deduplication.
    prop_oneof![
        "[0-9a-f]".prop_map(|c| format!("sha256:{}", c.repeat(64))),
        "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}")),
        "[0-9a-f]{128}".prop_map(|h| format!("sha512:{h}")),
    ]
}

fn annotations() -> impl Strategy<Value = J> {
    prop::collection::btree_map("[a-zA-Z0-9.]{1,12}", "[ -~]{0,12}", 1..4).prop_map(|m| {
        J::O(
            m.into_iter().map(|(k, v)| (k, J::S(v))).collect(),
            Shape::Map,
        )
    })
}

fn platform() -> impl Strategy<Value = J> {
    (
        prop::sample::select(vec!["amd64", "arm64", "ppc64le"]),
        prop::option::of("v[0-9]"),
        prop::option::of(prop::collection::vec("[a-z0-9]{1,6}", 0..3)),
    )
        .prop_map(|(arch, variant, features)| {
            let mut e = vec![
                ("architecture", J::S(arch.into())),
                ("os", J::S("linux".into())),
            ];
            if let Some(v) = variant {
                e.push(("variant", J::S(v)));
            }
            if let Some(f) = features {
                e.push(("os.features", J::A(f.into_iter().map(J::S).collect())));
            }
            J::obj(e)
        })
        .prop_flat_map(shuffled)
}

/// Shuffles an object's keys: document order is part of what the parser must get right.
fn shuffled(j: J) -> BoxedStrategy<J> {
    match j {
        J::O(entries, shape) => Just(entries)
            .prop_shuffle()
            .prop_map(move |e| J::O(e, shape))
            .boxed(),
        other => Just(other).boxed(),
    }
}

fn descriptor(with_platform: bool) -> BoxedStrategy<J> {
    (
        digest(),
        prop::option::of(0u64..1 << 40),
        prop::option::of(prop::sample::select(vec![
            media_type::OCI_LAYER_GZIP,
            media_type::DOCKER_LAYER_GZIP,
        ])),
        prop::option::of(annotations()),
        prop::option::of(platform()),
    )
        .prop_map(move |(digest, size, media, annotations, platform)| {
            let mut e = vec![("digest", J::S(digest))];
            if let Some(s) = size {
                e.push(("size", J::N(s)));
            }
            if let Some(m) = media {
                e.push(("mediaType", J::S(m.into())));
            }
            if let Some(a) = annotations {
                e.push(("annotations", a));
            }
            if let (true, Some(p)) = (with_platform, platform) {
                e.push(("platform", p));
            }
            J::obj(e)
        })
        .prop_flat_map(shuffled)
        .boxed()
}

/// A valid manifest of a random one of the four types, with its media type.
fn manifest() -> impl Strategy<Value = (&'static str, J)> {
    let descriptors =
        |min: usize, platform: bool| prop::collection::vec(descriptor(platform), min..4);
    (
        prop::sample::select(media_type::MANIFEST_ACCEPT.to_vec()),
        any::<bool>(),
        descriptor(false),
        descriptors(0, false),
        descriptors(0, true),
        prop::option::of(descriptor(false)),
        prop::option::of(descriptors(0, false)),
        prop::option::of(annotations()),
    )
        .prop_map(
            |(media, with_media, config, mut layers, manifests, subject, blobs, annotations)| {
                let mut e = vec![("schemaVersion", J::N(2))];
                if with_media {
                    e.push(("mediaType", J::S(media.into())));
                }
                if media == media_type::OCI_MANIFEST || media == media_type::DOCKER_MANIFEST {
                    if media == media_type::DOCKER_MANIFEST && layers.is_empty() {
                        layers.push(config.clone());
                    }
                    e.push(("config", config));
                    e.push(("layers", J::A(layers)));
                } else {
                    e.push(("manifests", J::A(manifests)));
                }
                if let Some(s) = subject {
                    e.push(("subject", s));
                }
                if let Some(b) = blobs {
                    e.push(("blobs", J::A(b)));
                }
                if let Some(a) = annotations {
                    e.push(("annotations", a));
                }
                (media, J::obj(e))
            },
        )
        .prop_flat_map(|(media, j)| shuffled(j).prop_map(move |j| (media, j)))
}

/// The digests the generator put in, in document order, each once; and the index's children.
fn expected_digests(manifest: &J) -> (Vec<String>, Vec<String>) {
    let J::O(entries, _) = manifest else {
        unreachable!()
    };
    let digest_of = |d: &J| match d.field("digest") {
        Some(J::S(s)) => s.clone(),
        _ => unreachable!(),
    };
    let (mut refs, mut children) = (Vec::new(), Vec::new());
    let (mut seen, mut seen_children) = (HashSet::new(), HashSet::new());
    for (key, value) in entries {
        let ds: Vec<String> = match (key.as_str(), value) {
            ("config" | "subject", d) => vec![digest_of(d)],
            ("layers" | "manifests" | "blobs", J::A(items)) => {
                items.iter().map(digest_of).collect()
            }
            _ => vec![],
        };
        for d in ds {
            if key == "manifests" && seen_children.insert(d.clone()) {
                children.push(d.clone());
            }
            if seen.insert(d.clone()) {
                refs.push(d);
            }
        }
    }
    (refs, children)
}

/// A different spelling of `key` that Go folds to the same string: one ASCII letter's case toggled, or an
/// `s`/`k` replaced by U+017F LONG S / U+212A KELVIN SIGN. Struct keys are known field names, so they
/// always have a letter.
fn fold_variant(key: &str, position: Index, exotic: bool) -> String {
    let letters: Vec<usize> = key
        .char_indices()
        .filter(|(_, c)| c.is_ascii_alphabetic())
        .map(|(i, _)| i)
        .collect();
    let at = letters[position.index(letters.len())];
    let c = key[at..].chars().next().unwrap();
    let replacement = match c.to_ascii_lowercase() {
        's' if exotic => '\u{017F}',
        'k' if exotic => '\u{212A}',
        _ if c.is_ascii_lowercase() => c.to_ascii_uppercase(),
        _ => c.to_ascii_lowercase(),
    };
    format!("{}{}{}", &key[..at], replacement, &key[at + c.len_utf8()..])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn manifest_canonical_form_yields_exactly_its_digests((media, manifest) in manifest()) {
        let parsed = parse_manifest(manifest.text().as_bytes(), Some(media))
            .map_err(|e| TestCaseError::fail(format!("{e}: {}", manifest.text())))?;
        let (refs, children) = expected_digests(&manifest);
        prop_assert_eq!(parsed.media_type, media);
        let index = media == media_type::OCI_INDEX || media == media_type::DOCKER_MANIFEST_LIST;
        prop_assert_eq!(parsed.kind, if index { ManifestKind::Index } else { ManifestKind::Image });
        prop_assert_eq!(parsed.references, refs);
        prop_assert_eq!(parsed.children, children);
    }

    #[test]
    fn manifest_key_case_and_fold_variants_are_always_refused(
        (media, manifest) in manifest(),
        object in any::<Index>(),
        entry in any::<Index>(),
        letter in any::<Index>(),
        at in any::<Index>(),
        exotic in any::<bool>(),
        duplicate in any::<bool>(),
        exact in any::<bool>(),
    ) {
        let mut objects = Vec::new();
        manifest.objects(&mut Vec::new(), &mut objects);
        // Map objects (annotations) match keys exactly in Go: only struct keys may be re-cased.
        if !duplicate {
            objects.retain(|(_, shape)| *shape == Shape::Struct);
        }
        let (path, shape) = objects[object.index(objects.len())].clone();
        let mut mutated = manifest.clone();
        let J::O(entries, _) = mutated.at_mut(&path) else { unreachable!() };
        let i = entry.index(entries.len());
        let (key, value) = entries[i].clone();
        if duplicate {
            // A second entry for the same field: exact, or (in a struct) spelled another way.
            let new_key = if exact || shape == Shape::Map {
                key.clone()
            } else {
                fold_variant(&key, letter, exotic)
            };
            entries.insert(at.index(entries.len() + 1), (new_key, value));
        } else {
            entries[i].0 = fold_variant(&key, letter, exotic);
        }
        let text = mutated.text();
        prop_assert_ne!(&text, &manifest.text());
        prop_assert!(
            parse_manifest(text.as_bytes(), Some(media)).is_err(),
            "accepted: {}", text
        );
    }
}
