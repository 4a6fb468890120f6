//! Reads a pushed manifest: the digests it references (config, layers, child manifests, subject) and its
//! media type.
//!
//! The gateway records these so the tenant may read them back, and checks them before forwarding a push,
//! so a tenant cannot gain read access to another tenant's blobs by naming their digests in a manifest.

use serde::Deserialize;
use tenant_domain::Digest;

use crate::error::RegistryError;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    digest: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    media_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    subject: Option<Descriptor>,
    /// Docker schema 1 manifests name layers here; they are refused (see [`parse`]).
    #[serde(default)]
    fs_layers: Vec<serde_json::Value>,
}

/// What the gateway needs from a pushed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedManifest {
    pub media_type: Option<String>,
    /// Every referenced digest, without duplicates, in document order.
    pub references: Vec<String>,
}

/// Parses a manifest body. Schema 1 (deprecated, signed, and never produced by current tools) is refused
/// because its layer list could not be checked the same way.
pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<ParsedManifest, RegistryError> {
    let doc: Document = serde_json::from_slice(body)
        .map_err(|e| RegistryError::manifest_invalid(format!("manifest is not valid JSON: {e}")))?;
    if !doc.fs_layers.is_empty() {
        return Err(RegistryError::manifest_invalid(
            "schema 1 manifests are not accepted",
        ));
    }
    let mut references: Vec<String> = Vec::new();
    let all = doc
        .config
        .iter()
        .chain(&doc.layers)
        .chain(&doc.manifests)
        .chain(&doc.subject);
    for descriptor in all {
        let digest = Digest::parse(&descriptor.digest)
            .map_err(|_| RegistryError::manifest_invalid("manifest references an invalid digest"))?
            .to_string();
        if !references.contains(&digest) {
            references.push(digest);
        }
    }
    let media_type = content_type
        .filter(|c| !c.is_empty() && *c != "application/json")
        .map(str::to_owned)
        .or(doc.media_type);
    Ok(ParsedManifest {
        media_type,
        references,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dg(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn image_manifest_references_config_layers_and_subject() {
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "x", "digest": dg('a'), "size": 1},
            "layers": [{"digest": dg('b'), "size": 1}, {"digest": dg('c'), "size": 1}, {"digest": dg('b'), "size": 1}],
            "subject": {"digest": dg('d'), "size": 1}
        });
        let m = parse(body.to_string().as_bytes(), None).unwrap();
        assert_eq!(m.references, vec![dg('a'), dg('b'), dg('c'), dg('d')]);
        assert_eq!(
            m.media_type.as_deref(),
            Some("application/vnd.oci.image.manifest.v1+json")
        );
    }

    #[test]
    fn index_references_children_and_content_type_wins() {
        let body = serde_json::json!({"schemaVersion": 2, "manifests": [{"digest": dg('e')}, {"digest": dg('f')}]});
        let m = parse(
            body.to_string().as_bytes(),
            Some("application/vnd.oci.image.index.v1+json"),
        )
        .unwrap();
        assert_eq!(m.references, vec![dg('e'), dg('f')]);
        assert_eq!(
            m.media_type.as_deref(),
            Some("application/vnd.oci.image.index.v1+json")
        );
    }

    #[test]
    fn junk_bad_digests_and_schema1_are_refused() {
        assert!(parse(b"not json", None).is_err());
        let bad = serde_json::json!({"layers": [{"digest": "sha256:xyz"}]});
        assert!(parse(bad.to_string().as_bytes(), None).is_err());
        let s1 = serde_json::json!({"schemaVersion": 1, "fsLayers": [{"blobSum": dg('a')}]});
        assert_eq!(
            parse(s1.to_string().as_bytes(), None).unwrap_err().code,
            "MANIFEST_INVALID"
        );
    }
}
