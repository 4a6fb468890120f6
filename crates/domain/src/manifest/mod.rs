//! A strict reader of image manifests: one reading that no registry can read differently.
//!
//! The registry gateway checks that every digest a pushed manifest references belongs to the tenant, then
//! forwards the bytes to Go's `distribution` registry. Go's `encoding/json` matches object keys to struct
//! fields case-insensitively (with Unicode simple folding, so `Layers`, `LAYERS` and `layerſ` all fill
//! `layers`) and lets the last of duplicate keys win; serde reads only the exact key. A document such as
//! `{"layers":[own], "Layers":[foreign]}` would be checked on one list and stored with the other. So this
//! parser refuses every document that could be read two ways instead of trying to read it as Go does:
//! duplicate keys anywhere, keys that fold onto a known field name without being spelled exactly like it,
//! two keys that fold to the same string in an object Go decodes into a struct, and any value whose type
//! is not the one Go's structs expect. It also refuses what `distribution` would silently reinterpret
//! (a missing or unknown Content-Type falls back to schema 1) and foreign layers (`urls`).

mod strict_json;

use std::collections::HashSet;

use crate::image_ref::Digest;
use strict_json::{Json, Number, quote_key};

/// Every image media type the workspace names: the four manifest types the platform accepts (and sends
/// in `Accept`), the config and layer types they reference, and the schema 1 types it refuses.
pub mod media_type {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// All four, for `Accept` (index types first).
    pub const MANIFEST_ACCEPT: [&str; 4] = [
        OCI_INDEX,
        OCI_MANIFEST,
        DOCKER_MANIFEST_LIST,
        DOCKER_MANIFEST,
    ];

    /// An OCI image configuration (`config` of an OCI manifest).
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// An OCI layer, a gzip-compressed tar.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// An OCI layer, a zstd-compressed tar.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// A Docker image configuration (`config` of a Docker v2 manifest).
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// A Docker layer, a gzip-compressed tar.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    /// Docker schema 1, unsigned: refused (distribution would read it differently).
    pub const DOCKER_SCHEMA1_MANIFEST: &str =
        "application/vnd.docker.distribution.manifest.v1+json";
    /// Docker schema 1, signed: refused.
    pub const DOCKER_SCHEMA1_SIGNED_MANIFEST: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";
}

/// Whether a manifest describes one image or lists other manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// An OCI image manifest or a Docker v2 schema 2 manifest (`config` + `layers`).
    Image,
    /// An OCI image index or a Docker manifest list (`manifests`).
    Index,
}

/// What the gateway needs from an accepted manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedManifest {
    /// One of the four `media_type` constants (from the Content-Type).
    pub media_type: &'static str,
    pub kind: ManifestKind,
    /// Every digest referenced (config, layers, manifests, subject, blobs), canonical `algo:hex`, each once,
    /// in document order. Dedup must be linear (HashSet), never quadratic.
    pub references: Vec<String>,
    /// For an index: the digests of its child manifests (`manifests[].digest`), in order (also in
    /// `references`), each once. Empty for an image manifest.
    pub children: Vec<String>,
}

/// Why a manifest is refused: a human message naming what is wrong (never the whole body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ManifestError(pub String);

/// Every field name of the structs Go decodes a manifest into (schema 2 and OCI manifests, lists and
/// indexes, descriptors, platforms, and schema 1 so that its markers cannot be smuggled in by folding).
/// One union list for every struct object: a key that folds onto any of these must be spelled exactly.
const KNOWN_FIELDS: [&str; 25] = [
    "schemaVersion",
    "mediaType",
    "artifactType",
    "config",
    "layers",
    "manifests",
    "subject",
    "blobs",
    "annotations",
    "digest",
    "size",
    "urls",
    "data",
    "platform",
    "architecture",
    "os",
    "os.version",
    "os.features",
    "variant",
    "features",
    "fsLayers",
    "history",
    "signatures",
    "name",
    "tag",
];

/// Reads a manifest body the way the gateway must before forwarding it: refuses anything ambiguous
/// (see the module documentation) and returns every digest the manifest references.
///
/// `content_type` is the request/response Content-Type header value.
pub fn parse_manifest(
    body: &[u8],
    content_type: Option<&str>,
) -> Result<ParsedManifest, ManifestError> {
    let media_type = parse_content_type(content_type)?;
    let kind = match media_type {
        media_type::OCI_INDEX | media_type::DOCKER_MANIFEST_LIST => ManifestKind::Index,
        _ => ManifestKind::Image,
    };

    // Go's decoder refuses a BOM, but say so plainly rather than as a syntax error at column 1.
    if body.starts_with(b"\xEF\xBB\xBF") {
        return Err(refuse("the manifest starts with a byte order mark"));
    }
    // Go would replace invalid UTF-8 with U+FFFD inside strings; refusing keeps one reading.
    let text = std::str::from_utf8(body)
        .map_err(|e| refuse(format!("the manifest is not valid UTF-8 ({e})")))?;
    let root = strict_json::parse(text)
        .map_err(|e| refuse(format!("the manifest is not strict JSON: {e}")))?;
    let Json::Object(top) = &root else {
        return Err(refuse(format!(
            "the manifest must be a JSON object, not {}",
            root.type_name()
        )));
    };
    check_struct_keys(top, "the manifest")?;

    let mut found = Found::default();
    let mut schema_version_seen = false;
    let mut config_seen = false;
    let mut layers_seen: Option<usize> = None;
    let mut manifests_seen = false;
    // Walk the keys in document order so `references` is in document order.
    for (key, value) in top {
        match key.as_str() {
            "schemaVersion" => {
                match value {
                    Json::Number(Number::U64(2)) => {}
                    Json::Number(Number::U64(1)) => {
                        return Err(refuse("schema 1 manifests are not accepted"));
                    }
                    _ => return Err(refuse("`schemaVersion` must be the number 2")),
                }
                schema_version_seen = true;
            }
            "mediaType" => {
                let body_type = as_str(value, "mediaType")?;
                if body_type != media_type {
                    return Err(refuse(format!(
                        "`mediaType` {} does not match the Content-Type `{media_type}`",
                        quote_key(body_type)
                    )));
                }
            }
            "fsLayers" | "signatures" => {
                return Err(refuse(format!(
                    "schema 1 manifests are not accepted (field `{key}`)"
                )));
            }
            "config" => {
                if kind == ManifestKind::Index {
                    return Err(refuse(format!(
                        "`config` is not allowed in an index ({media_type})"
                    )));
                }
                let digest = descriptor(value, "config")?;
                found.reference(digest);
                config_seen = true;
            }
            "layers" => {
                if kind == ManifestKind::Index {
                    return Err(refuse(format!(
                        "`layers` is not allowed in an index ({media_type})"
                    )));
                }
                let items = as_array(value, "layers")?;
                for (i, item) in items.iter().enumerate() {
                    let digest = descriptor(item, &format!("layers[{i}]"))?;
                    found.reference(digest);
                }
                layers_seen = Some(items.len());
            }
            "manifests" => {
                if kind == ManifestKind::Image {
                    return Err(refuse(format!(
                        "`manifests` is not allowed in an image manifest ({media_type})"
                    )));
                }
                for (i, item) in as_array(value, "manifests")?.iter().enumerate() {
                    let digest = descriptor(item, &format!("manifests[{i}]"))?;
                    found.child(digest);
                }
                manifests_seen = true;
            }
            "subject" => {
                let digest = descriptor(value, "subject")?;
                found.reference(digest);
            }
            "blobs" => {
                for (i, item) in as_array(value, "blobs")?.iter().enumerate() {
                    let digest = descriptor(item, &format!("blobs[{i}]"))?;
                    found.reference(digest);
                }
            }
            "annotations" => string_map(value, "annotations")?,
            "artifactType" => {
                as_str(value, "artifactType")?;
            }
            // Any other key is not a field of the manifest structs (the folding check above made sure it
            // cannot reach one under another spelling), so Go ignores it and so may we.
            _ => {}
        }
    }

    if !schema_version_seen {
        return Err(refuse("`schemaVersion` is missing (it must be 2)"));
    }
    match kind {
        ManifestKind::Image => {
            if !config_seen {
                return Err(refuse("`config` is missing"));
            }
            // Empty is fine for both kinds (distribution accepts it; `docker build` of `FROM scratch`
            // with metadata only pushes one); missing is refused: every client writes the field.
            if layers_seen.is_none() {
                return Err(refuse("`layers` is missing"));
            }
        }
        ManifestKind::Index => {
            if !manifests_seen {
                return Err(refuse("`manifests` is missing"));
            }
        }
    }

    Ok(ParsedManifest {
        media_type,
        kind,
        references: found.references,
        children: found.children,
    })
}

fn refuse(message: impl Into<String>) -> ManifestError {
    ManifestError(message.into())
}

/// Digests collected while walking the document; the sets make "each once" linear.
#[derive(Default)]
struct Found {
    references: Vec<String>,
    seen_references: HashSet<String>,
    children: Vec<String>,
    seen_children: HashSet<String>,
}

impl Found {
    fn reference(&mut self, digest: String) {
        if !self.seen_references.contains(&digest) {
            self.seen_references.insert(digest.clone());
            self.references.push(digest);
        }
    }

    fn child(&mut self, digest: String) {
        if !self.seen_children.contains(&digest) {
            self.seen_children.insert(digest.clone());
            self.children.push(digest.clone());
        }
        self.reference(digest);
    }
}

/// The media type of a Content-Type value, read like Go's `mime.ParseMediaType` (what `distribution`
/// uses): parameters after `;` ignored, surrounding whitespace trimmed, lower-cased. Only the four manifest
/// types are accepted: for anything else `distribution` falls back to schema 1 or refuses.
fn parse_content_type(content_type: Option<&str>) -> Result<&'static str, ManifestError> {
    let raw = content_type.unwrap_or("");
    let base = raw.split_once(';').map_or(raw, |(base, _)| base);
    // Go's `strings.TrimSpace` ASCII set (it includes vertical tab, which `str::trim_ascii` does not).
    let base = base.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\x0B' | '\x0C' | '\r'));
    if base.is_empty() {
        return Err(refuse(format!(
            "the Content-Type is missing: a manifest must be sent as one of {}",
            media_type::MANIFEST_ACCEPT.join(", ")
        )));
    }
    // Go lower-cases with Unicode rules (`İ` becomes `i`, the Kelvin sign `k`), so a non-ASCII spelling
    // could name a manifest type there; refusing non-ASCII keeps one reading.
    let lower = base.is_ascii().then(|| base.to_ascii_lowercase());
    if let Some(found) = lower
        .as_deref()
        .and_then(|l| media_type::MANIFEST_ACCEPT.iter().find(|t| **t == l))
    {
        return Ok(found);
    }
    let shown = quote_key(base);
    let why = match lower.as_deref() {
        Some(media_type::DOCKER_SCHEMA1_MANIFEST | media_type::DOCKER_SCHEMA1_SIGNED_MANIFEST) => {
            "schema 1 manifests are not accepted".to_owned()
        }
        _ => format!("expected one of {}", media_type::MANIFEST_ACCEPT.join(", ")),
    };
    Err(refuse(format!(
        "the manifest Content-Type {shown} is not accepted: {why}"
    )))
}

/// Go's case folding of a key, as far as matching it to a field name goes: the two non-ASCII letters whose
/// simple-fold orbit holds an ASCII letter (U+017F long s, U+212A Kelvin sign) map to it, and everything is
/// lower-cased. Where Rust's lowercase differs from Go's fold the result is only stricter (more refusals).
fn go_fold(key: &str) -> String {
    let mut folded = String::with_capacity(key.len());
    for c in key.chars() {
        match c {
            '\u{017F}' => folded.push('s'),
            '\u{212A}' => folded.push('k'),
            c => folded.extend(c.to_lowercase()),
        }
    }
    folded
}

/// The rule for objects Go decodes into structs: no key may fold onto a known field name without being
/// exactly that name, and no two keys may fold to the same string (Go would fill one field from both,
/// the last one winning).
fn check_struct_keys(object: &[(String, Json)], path: &str) -> Result<(), ManifestError> {
    let mut folded_seen: HashSet<String> = HashSet::with_capacity(object.len());
    for (key, _) in object {
        let folded = go_fold(key);
        // Known names are ASCII and `folded` is lower case, so an ASCII-insensitive compare is exact.
        if let Some(known) = KNOWN_FIELDS
            .iter()
            .find(|known| known.eq_ignore_ascii_case(&folded))
            && key != known
        {
            return Err(refuse(format!(
                "{path} has the key {}, which Go reads as `{known}`: field names must be spelled exactly",
                quote_key(key)
            )));
        }
        if !folded_seen.insert(folded) {
            return Err(refuse(format!(
                "{path} has the key {} and another key that differs from it only in case",
                quote_key(key)
            )));
        }
    }
    Ok(())
}

/// Checks one descriptor (an object Go decodes into `Descriptor`) and returns its canonical digest.
fn descriptor(value: &Json, path: &str) -> Result<String, ManifestError> {
    let object = as_object(value, path)?;
    check_struct_keys(object, &format!("`{path}`"))?;
    let mut digest = None;
    for (key, value) in object {
        let field = |name: &str| format!("{path}.{name}");
        match key.as_str() {
            "digest" => {
                let raw = as_str(value, &field("digest"))?;
                let parsed = Digest::parse(raw)
                    .map_err(|e| refuse(format!("`{}`: {e}", field("digest"))))?;
                digest = Some(parsed.to_string());
            }
            "size" => match value {
                // Go decodes `size` into an int64.
                Json::Number(Number::U64(n)) if i64::try_from(*n).is_ok() => {}
                _ => {
                    return Err(refuse(format!(
                        "`{}` must be a non-negative integer",
                        field("size")
                    )));
                }
            },
            "mediaType" | "artifactType" | "data" => {
                as_str(value, &field(key))?;
            }
            "urls" => {
                let urls = as_array(value, &field("urls"))?;
                if !urls.is_empty() {
                    // A foreign layer is fetched from an arbitrary URL, outside the tenant's repository.
                    return Err(refuse(format!(
                        "`{}`: foreign layers are not accepted",
                        field("urls")
                    )));
                }
            }
            "annotations" => string_map(value, &field("annotations"))?,
            "platform" => platform(value, &field("platform"))?,
            _ => {}
        }
    }
    digest.ok_or_else(|| refuse(format!("`{path}` has no `digest`")))
}

/// Checks a descriptor's `platform` (Go's `Platform` struct).
fn platform(value: &Json, path: &str) -> Result<(), ManifestError> {
    let object = as_object(value, path)?;
    check_struct_keys(object, &format!("`{path}`"))?;
    for (key, value) in object {
        match key.as_str() {
            "architecture" | "os" | "os.version" | "variant" => {
                as_str(value, &format!("{path}.{key}"))?;
            }
            "os.features" | "features" => {
                for item in as_array(value, &format!("{path}.{key}"))? {
                    as_str(item, &format!("{path}.{key}[]"))?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks an `annotations` map (Go's `map[string]string`: exact keys, so only exact duplicates, which the
/// strict reader already refuses, are ambiguous).
fn string_map(value: &Json, path: &str) -> Result<(), ManifestError> {
    for (key, value) in as_object(value, path)? {
        if !matches!(value, Json::String(_)) {
            return Err(refuse(format!(
                "`{path}` {} must be a string, not {}",
                quote_key(key),
                value.type_name()
            )));
        }
    }
    Ok(())
}

fn as_object<'a>(value: &'a Json, path: &str) -> Result<&'a [(String, Json)], ManifestError> {
    match value {
        Json::Object(entries) => Ok(entries),
        other => Err(type_error(path, "an object", other)),
    }
}

fn as_array<'a>(value: &'a Json, path: &str) -> Result<&'a [Json], ManifestError> {
    match value {
        Json::Array(items) => Ok(items),
        other => Err(type_error(path, "an array", other)),
    }
}

fn as_str<'a>(value: &'a Json, path: &str) -> Result<&'a str, ManifestError> {
    match value {
        Json::String(s) => Ok(s),
        other => Err(type_error(path, "a string", other)),
    }
}

fn type_error(path: &str, expected: &str, found: &Json) -> ManifestError {
    refuse(format!(
        "`{path}` must be {expected}, not {}",
        found.type_name()
    ))
}

#[cfg(test)]
mod tests {
    use super::media_type::*;
    use super::*;

    /// A canonical sha256 digest made of one repeated hex digit.
    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    /// Replaces each `@x` (x a hex digit) with `d(x)`, so documents stay readable.
    fn doc(template: &str) -> String {
        let mut out = String::new();
        let mut chars = template.chars();
        while let Some(c) = chars.next() {
            if c == '@' {
                out.push_str(&d(chars.next().unwrap()));
            } else {
                out.push(c);
            }
        }
        out
    }

    fn parse(template: &str, content_type: &str) -> Result<ParsedManifest, ManifestError> {
        parse_manifest(doc(template).as_bytes(), Some(content_type))
    }

    fn refused(template: &str, content_type: &str, needle: &str) {
        match parse(template, content_type) {
            Ok(m) => panic!("accepted {template}: {m:?}"),
            Err(ManifestError(msg)) => {
                assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}")
            }
        }
    }

    /// An OCI image manifest using every descriptor field the reader knows.
    fn oci_image() -> String {
        format!(
            r#"{{
            "schemaVersion": 2,
            "mediaType": "{OCI_MANIFEST}",
            "config": {{"mediaType": "{OCI_CONFIG}", "digest": "@c", "size": 7023}},
            "layers": [
                {{"mediaType": "{OCI_LAYER_GZIP}", "digest": "@1", "size": 32654}},
                {{"mediaType": "{OCI_LAYER_GZIP}", "digest": "@2", "size": 16724,
                 "annotations": {{"a": "1", "A": "2"}}, "urls": []}},
                {{"mediaType": "{OCI_LAYER_GZIP}", "digest": "@1", "size": 32654}}
            ],
            "subject": {{"mediaType": "{OCI_MANIFEST}", "digest": "@5", "size": 7682}},
            "annotations": {{"com.example.key1": "value1"}},
            "x-unknown": {{"Layers": [{{"digest": 3}}], "nested": [[[1]]]}}
        }}"#
        )
    }

    /// A minimal image manifest with `{}` where extra top-level entries go.
    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion": 2, "config": {{"digest": "@c"}}, "layers": [{{"digest": "@1"}}]{extra}}}"#
        )
    }

    /// A minimal index with `{}` where extra top-level entries go.
    fn index(extra: &str) -> String {
        format!(r#"{{"schemaVersion": 2, "manifests": [{{"digest": "@a"}}]{extra}}}"#)
    }

    #[test]
    fn accepts_oci_manifest_with_references_in_document_order_each_once() {
        let m = parse(&oci_image(), OCI_MANIFEST).unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
        assert_eq!(m.kind, ManifestKind::Image);
        assert_eq!(m.references, vec![d('c'), d('1'), d('2'), d('5')]);
        assert!(m.children.is_empty());
    }

    #[test]
    fn accepts_docker_manifest() {
        let body = format!(
            r#"{{
            "schemaVersion": 2,
            "mediaType": "{DOCKER_MANIFEST}",
            "layers": [{{"mediaType": "{DOCKER_LAYER_GZIP}", "size": 1, "digest": "@2"}}],
            "config": {{"mediaType": "{DOCKER_CONFIG}", "size": 2, "digest": "@c"}}
        }}"#
        );
        let m = parse(&body, DOCKER_MANIFEST).unwrap();
        assert_eq!(m.media_type, DOCKER_MANIFEST);
        assert_eq!(m.kind, ManifestKind::Image);
        // Document order: `layers` comes before `config` here.
        assert_eq!(m.references, vec![d('2'), d('c')]);
        // `FROM scratch` with metadata only: no layers, accepted as distribution accepts it.
        let empty = r#"{"schemaVersion": 2, "config": {"digest": "@c"}, "layers": []}"#;
        assert_eq!(
            parse(empty, DOCKER_MANIFEST).unwrap().references,
            vec![d('c')]
        );
    }

    #[test]
    fn accepts_oci_index_with_children() {
        let body = format!(
            r#"{{
            "schemaVersion": 2,
            "mediaType": "{OCI_INDEX}",
            "manifests": [
                {{"mediaType": "{OCI_MANIFEST}", "digest": "@a", "size": 1,
                 "platform": {{"architecture": "amd64", "os": "linux", "os.features": ["x"], "variant": "v3"}}}},
                {{"mediaType": "{OCI_MANIFEST}", "digest": "@b", "size": 1,
                 "platform": {{"architecture": "unknown", "os": "unknown"}},
                 "annotations": {{"vnd.docker.reference.digest": "@a", "vnd.docker.reference.type": "attestation-manifest"}}}},
                {{"mediaType": "{OCI_MANIFEST}", "digest": "@a", "size": 1}}
            ],
            "subject": {{"digest": "@b"}},
            "blobs": [{{"digest": "@e"}}, {{"digest": "@a"}}],
            "annotations": {{"org.opencontainers.image.ref.name": "latest"}}
        }}"#
        );
        let m = parse(&body, OCI_INDEX).unwrap();
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.children, vec![d('a'), d('b')]);
        assert_eq!(m.references, vec![d('a'), d('b'), d('e')]);
        // OCI indexes may be empty.
        let empty = parse(r#"{"schemaVersion": 2, "manifests": []}"#, OCI_INDEX).unwrap();
        assert!(empty.references.is_empty() && empty.children.is_empty());
    }

    #[test]
    fn accepts_docker_manifest_list() {
        let body = format!(
            r#"{{
            "schemaVersion": 2,
            "mediaType": "{DOCKER_MANIFEST_LIST}",
            "manifests": [
                {{"mediaType": "{DOCKER_MANIFEST}", "size": 7143, "digest": "@e",
                 "platform": {{"architecture": "ppc64le", "os": "linux"}}}},
                {{"mediaType": "{DOCKER_MANIFEST}", "size": 7682, "digest": "@5",
                 "platform": {{"architecture": "amd64", "os": "linux", "features": ["sse4"]}}}}
            ]
        }}"#
        );
        let m = parse(&body, DOCKER_MANIFEST_LIST).unwrap();
        assert_eq!(m.media_type, DOCKER_MANIFEST_LIST);
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.children, vec![d('e'), d('5')]);
        assert_eq!(m.references, m.children);
    }

    #[test]
    fn accepts_other_digest_algorithms_canonically() {
        let sha512 = format!("sha512:{}", "ab".repeat(64));
        let body = image(&format!(r#", "subject": {{"digest": "{sha512}"}}"#));
        let m = parse(&body, OCI_MANIFEST).unwrap();
        assert_eq!(m.references, vec![d('c'), d('1'), sha512]);
    }

    #[test]
    fn content_type_is_read_like_go_mime_parse_media_type() {
        let body = image("");
        for ct in [
            format!("{OCI_MANIFEST}; charset=utf-8"),
            "  Application/VND.OCI.Image.Manifest.v1+JSON  ".to_owned(),
            format!("{OCI_MANIFEST};"),
            format!("\x0B{OCI_MANIFEST}\t;q=1"),
        ] {
            let m = parse(&body, &ct).unwrap_or_else(|e| panic!("{ct:?}: {e}"));
            assert_eq!(m.media_type, OCI_MANIFEST);
        }
    }

    #[test]
    fn refuses_missing_or_unsupported_content_type() {
        let body = doc(&image(""));
        let refused_with = |ct: Option<&str>, needle: &str| {
            let err = parse_manifest(body.as_bytes(), ct).unwrap_err().0;
            assert!(err.contains(needle), "{ct:?}: {err}");
        };
        refused_with(None, "Content-Type is missing");
        refused_with(Some(""), "Content-Type is missing");
        refused_with(Some(" ; charset=utf-8"), "Content-Type is missing");
        refused_with(Some("application/json"), "not accepted");
        refused_with(Some("text/plain"), "not accepted");
        refused_with(Some(DOCKER_SCHEMA1_MANIFEST), "schema 1");
        refused_with(Some(DOCKER_SCHEMA1_SIGNED_MANIFEST), "schema 1");
        refused_with(
            Some("application/vnd.oci.artifact.manifest.v1+json"),
            "not accepted",
        );
        // Go lower-cases `İ` to `i`; a non-ASCII spelling is refused rather than guessed at.
        refused_with(
            Some("application/vnd.oc\u{130}.image.manifest.v1+json"),
            "not accepted",
        );
        refused_with(Some(&format!("{OCI_MANIFEST} x")), "not accepted");
    }

    #[test]
    fn refuses_layers_next_to_a_case_variant() {
        refused(
            &image(r#", "Layers": [{"digest": "@f"}]"#),
            OCI_MANIFEST,
            "\"Layers\", which Go reads as `layers`",
        );
        // Alone, a misspelt known field is refused too (Go would read it as the field).
        refused(
            r#"{"schemaVersion": 2, "config": {"digest": "@c"}, "LAYERS": []}"#,
            OCI_MANIFEST,
            "\"LAYERS\"",
        );
        refused(
            &image(r#", "SchemaVersion": 1"#),
            OCI_MANIFEST,
            "`schemaVersion`",
        );
        refused(&image(r#", "mediatype": "x""#), OCI_MANIFEST, "`mediaType`");
    }

    #[test]
    fn refuses_manifests_next_to_a_case_variant() {
        refused(
            &index(r#", "Manifests": [{"digest": "@f"}]"#),
            OCI_INDEX,
            "\"Manifests\", which Go reads as `manifests`",
        );
        refused(
            &index(r#", "MANIFESTS": []"#),
            DOCKER_MANIFEST_LIST,
            "`manifests`",
        );
    }

    #[test]
    fn refuses_case_variants_inside_descriptors_and_platforms() {
        refused(
            r#"{"schemaVersion": 2, "config": {"digest": "@c"}, "layers": [{"digest": "@1", "Digest": "@f"}]}"#,
            OCI_MANIFEST,
            "`layers[0]` has the key \"Digest\"",
        );
        refused(
            r#"{"schemaVersion": 2, "config": {"DIGEST": "@c", "digest": "@1"}, "layers": []}"#,
            OCI_MANIFEST,
            "`config` has the key \"DIGEST\"",
        );
        refused(
            &image(r#", "subject": {"digest": "@1", "mediatype": "x"}"#),
            OCI_MANIFEST,
            "`subject`",
        );
        refused(
            &image(r#", "blobs": [{"digest": "@1", "Size": 1}]"#),
            OCI_MANIFEST,
            "`blobs[0]`",
        );
        refused(
            r#"{"schemaVersion": 2, "manifests": [{"digest": "@a", "platform": {"os": "linux", "OS": "windows"}}]}"#,
            OCI_INDEX,
            "`manifests[0].platform`",
        );
        refused(
            r#"{"schemaVersion": 2, "manifests": [{"digest": "@a", "Platform": {}}]}"#,
            OCI_INDEX,
            "`manifests[0]`",
        );
    }

    #[test]
    fn refuses_long_s_and_kelvin_sign_fold_variants() {
        // U+017F LATIN SMALL LETTER LONG S folds to `s` in Go.
        refused(
            &image(r#", "layerſ": [{"digest": "@f"}]"#),
            OCI_MANIFEST,
            "which Go reads as `layers`",
        );
        refused(
            &image(r#", "\u017Fubject": {"digest": "@f"}"#),
            OCI_MANIFEST,
            "which Go reads as `subject`",
        );
        refused(
            r#"{"schemaVersion": 2, "config": {"digest": "@c", "ſize": 1}, "layers": []}"#,
            OCI_MANIFEST,
            "which Go reads as `size`",
        );
        // No known field contains `k`, so a key with U+212A KELVIN SIGN is merely unknown, and ignored...
        assert!(parse(&image(r#", "\u212Aey": 1"#), OCI_MANIFEST).is_ok());
        // ...but two keys Go folds together are still refused in a struct object.
        refused(
            &image(r#", "key": 1, "\u212Aey": 2"#),
            OCI_MANIFEST,
            "differs from it only in case",
        );
        refused(
            &image(r#", "x-a": 1, "X-A": 2"#),
            OCI_MANIFEST,
            "differs from it only in case",
        );
    }

    #[test]
    fn refuses_exact_duplicate_keys_in_every_object() {
        refused(
            &image(r#", "layers": [{"digest": "@f"}]"#),
            OCI_MANIFEST,
            "duplicate key \"layers\"",
        );
        refused(
            &image(r#", "annotations": {"a": "1", "a": "2"}"#),
            OCI_MANIFEST,
            "duplicate key \"a\"",
        );
        refused(
            &image(r#", "x-unknown": {"a": 1, "a": 2}"#),
            OCI_MANIFEST,
            "duplicate key",
        );
        refused(
            r#"{"schemaVersion": 2, "manifests": [{"digest": "@a", "digest": "@b"}]}"#,
            OCI_INDEX,
            "duplicate key \"digest\"",
        );
    }

    #[test]
    fn refuses_bom_invalid_utf8_and_trailing_data() {
        let body = doc(&image(""));
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), body.as_bytes()].concat();
        let err = parse_manifest(&with_bom, Some(OCI_MANIFEST)).unwrap_err();
        assert!(err.0.contains("byte order mark"), "{err}");

        let mut invalid = doc(&image(r#", "annotations": {"a": "XX"}"#)).into_bytes();
        let at = invalid.windows(2).position(|w| w == b"XX").unwrap();
        invalid[at] = 0xFF;
        invalid[at + 1] = 0xFE;
        let err = parse_manifest(&invalid, Some(OCI_MANIFEST)).unwrap_err();
        assert!(err.0.contains("not valid UTF-8"), "{err}");

        refused(&format!("{} {{}}", image("")), OCI_MANIFEST, "trailing");
        refused(&format!("{}x", image("")), OCI_MANIFEST, "not strict JSON");
        assert!(parse(&format!("{}\n\r\t ", image("")), OCI_MANIFEST).is_ok());
        refused("", OCI_MANIFEST, "not strict JSON");
        refused("[]", OCI_MANIFEST, "must be a JSON object, not an array");
    }

    #[test]
    fn refuses_lone_surrogate_escapes() {
        // serde_json words it by case ("unexpected end of hex escape", "lone leading surrogate in hex
        // escape"); Go would have decoded each to U+FFFD.
        for lone in [r"\ud800", r"\udfff", r"\ud800\u0041", r"x\udbff"] {
            refused(
                &image(&format!(r#", "annotations": {{"a": "{lone}"}}"#)),
                OCI_MANIFEST,
                "hex escape",
            );
            refused(
                &image(&format!(r#", "{lone}": 1"#)),
                OCI_MANIFEST,
                "hex escape",
            );
        }
        // A proper pair is a character like any other.
        assert!(
            parse(
                &image(r#", "annotations": {"a": "\ud83d\ude00"}"#),
                OCI_MANIFEST
            )
            .is_ok()
        );
    }

    #[test]
    fn refuses_a_depth_bomb() {
        let nest = |n: usize| format!(r#", "x": {}0{}"#, "[".repeat(n), "]".repeat(n));
        // The top-level object is level 1.
        assert!(parse(&image(&nest(strict_json::MAX_DEPTH - 1)), OCI_MANIFEST).is_ok());
        refused(
            &image(&nest(strict_json::MAX_DEPTH)),
            OCI_MANIFEST,
            "deeper than 64",
        );
        refused(&image(&nest(200_000)), OCI_MANIFEST, "not strict JSON");
    }

    #[test]
    fn refuses_media_type_mismatch() {
        refused(
            &image(&format!(r#", "mediaType": "{DOCKER_MANIFEST}""#)),
            OCI_MANIFEST,
            "does not match the Content-Type",
        );
        refused(
            &index(&format!(r#", "mediaType": "{OCI_INDEX}""#)),
            DOCKER_MANIFEST_LIST,
            "does not match",
        );
        refused(
            &image(r#", "mediaType": 1"#),
            OCI_MANIFEST,
            "`mediaType` must be a string",
        );
        // Matching is exact, as distribution compares it.
        refused(
            &image(r#", "mediaType": "Application/vnd.oci.image.manifest.v1+json""#),
            OCI_MANIFEST,
            "does not match",
        );
    }

    #[test]
    fn refuses_foreign_layer_urls() {
        refused(
            r#"{"schemaVersion": 2, "config": {"digest": "@c"},
                "layers": [{"digest": "@1", "urls": ["https://example.com/layer"]}]}"#,
            DOCKER_MANIFEST,
            "`layers[0].urls`: foreign layers are not accepted",
        );
        refused(
            &index(r#", "subject": {"digest": "@1", "urls": {}}"#),
            OCI_INDEX,
            "`subject.urls` must be an array",
        );
    }

    #[test]
    fn refuses_wrong_shapes() {
        let cases: &[(&str, &str, &str)] = &[
            (
                r#"{"schemaVersion": 2, "config": {"digest": "@c"}, "layers": {"digest": "@1"}}"#,
                OCI_MANIFEST,
                "`layers` must be an array, not an object",
            ),
            (
                r#"{"schemaVersion": 2, "config": {"digest": 1}, "layers": []}"#,
                OCI_MANIFEST,
                "`config.digest` must be a string, not a number",
            ),
            (
                r#"{"schemaVersion": 2, "config": {"digest": "sha256:abc"}, "layers": []}"#,
                OCI_MANIFEST,
                "`config.digest`: digest",
            ),
            (
                r#"{"schemaVersion": 2, "config": {"size": 1}, "layers": []}"#,
                OCI_MANIFEST,
                "`config` has no `digest`",
            ),
            (
                r#"{"schemaVersion": 2, "config": null, "layers": []}"#,
                OCI_MANIFEST,
                "`config` must be an object, not null",
            ),
            (
                r#"{"schemaVersion": 2, "layers": []}"#,
                OCI_MANIFEST,
                "`config` is missing",
            ),
            (
                r#"{"schemaVersion": 2, "config": {"digest": "@c"}}"#,
                OCI_MANIFEST,
                "`layers` is missing",
            ),
            (
                r#"{"schemaVersion": 2, "config": {"digest": "@c"}, "layers": [1]}"#,
                OCI_MANIFEST,
                "`layers[0]` must be an object",
            ),
            (
                r#"{"schemaVersion": 2, "config": {"digest": "@c", "size": -1}, "layers": []}"#,
                OCI_MANIFEST,
                "non-negative integer",
            ),
            (
                r#"{"schemaVersion": 2, "config": {"digest": "@c", "size": 1.5}, "layers": []}"#,
                OCI_MANIFEST,
                "non-negative integer",
            ),
            (
                r#"{"schemaVersion": 2, "config": {"digest": "@c", "size": 9223372036854775808}, "layers": []}"#,
                OCI_MANIFEST,
                "non-negative integer",
            ),
            (
                r#"{"schemaVersion": 2, "config": {"digest": "@c", "mediaType": []}, "layers": []}"#,
                OCI_MANIFEST,
                "`config.mediaType` must be a string",
            ),
            (
                r#"{"schemaVersion": "2", "config": {"digest": "@c"}, "layers": []}"#,
                OCI_MANIFEST,
                "`schemaVersion` must be the number 2",
            ),
            (
                r#"{"schemaVersion": 2.0, "config": {"digest": "@c"}, "layers": []}"#,
                OCI_MANIFEST,
                "`schemaVersion` must be the number 2",
            ),
            (
                r#"{"schemaVersion": 3, "config": {"digest": "@c"}, "layers": []}"#,
                OCI_MANIFEST,
                "`schemaVersion` must be the number 2",
            ),
            (
                r#"{"config": {"digest": "@c"}, "layers": []}"#,
                OCI_MANIFEST,
                "`schemaVersion` is missing",
            ),
            (
                r#"{"schemaVersion": 2, "config": {"digest": "@c"}, "layers": [], "manifests": []}"#,
                OCI_MANIFEST,
                "`manifests` is not allowed",
            ),
            (
                r#"{"schemaVersion": 2, "manifests": [], "layers": []}"#,
                OCI_INDEX,
                "`layers` is not allowed",
            ),
            (
                r#"{"schemaVersion": 2, "manifests": [], "config": {"digest": "@c"}}"#,
                DOCKER_MANIFEST_LIST,
                "`config` is not allowed",
            ),
            (
                r#"{"schemaVersion": 2}"#,
                OCI_INDEX,
                "`manifests` is missing",
            ),
            (
                r#"{"schemaVersion": 2, "manifests": [{"digest": "@a", "platform": "linux"}]}"#,
                OCI_INDEX,
                "`manifests[0].platform` must be an object",
            ),
            (
                r#"{"schemaVersion": 2, "manifests": [{"digest": "@a", "platform": {"os.features": "x"}}]}"#,
                OCI_INDEX,
                "`manifests[0].platform.os.features` must be an array",
            ),
            (
                r#"{"schemaVersion": 2, "manifests": [], "annotations": {"a": 1}}"#,
                OCI_INDEX,
                "`annotations` \"a\" must be a string, not a number",
            ),
            (
                r#"{"schemaVersion": 2, "manifests": [], "blobs": {}}"#,
                OCI_INDEX,
                "`blobs` must be an array",
            ),
        ];
        for (template, ct, needle) in cases {
            refused(template, ct, needle);
        }
    }

    #[test]
    fn refuses_schema_1() {
        refused(
            r#"{"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": [{"blobSum": "@1"}]}"#,
            DOCKER_MANIFEST,
            "schema 1",
        );
        refused(&image(r#", "fsLayers": []"#), DOCKER_MANIFEST, "schema 1");
        refused(&image(r#", "signatures": []"#), OCI_MANIFEST, "schema 1");
        refused(&image(r#", "FSLayers": []"#), OCI_MANIFEST, "`fsLayers`");
    }

    #[test]
    fn messages_do_not_echo_the_body() {
        let secret = "s".repeat(500);
        let body = format!(
            r#"{{"schemaVersion": 2, "config": {{"digest": "@c"}}, "layers": [], "annotations": {{"{secret}": 1}}}}"#
        );
        let err = parse(&body, OCI_MANIFEST).unwrap_err().0;
        assert!(err.len() < 200, "{err}");
        let body = format!(r#"{{"{secret}": 1, "{secret}": 2}}"#);
        let err = parse(&body, OCI_MANIFEST).unwrap_err().0;
        assert!(err.len() < 200, "{err}");
    }

    #[test]
    fn go_fold_maps_long_s_and_kelvin_sign() {
        assert_eq!(go_fold("LAYERſ"), "layers");
        assert_eq!(go_fold("\u{212A}EY"), "key");
        assert_eq!(go_fold("OS.Version"), "os.version");
    }

    #[test]
    fn accept_list_puts_index_types_first() {
        assert_eq!(
            MANIFEST_ACCEPT,
            [
                OCI_INDEX,
                OCI_MANIFEST,
                DOCKER_MANIFEST_LIST,
                DOCKER_MANIFEST
            ]
        );
    }
}
