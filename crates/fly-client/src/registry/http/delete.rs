//! Safe tag deletion. Deleting a manifest by digest removes every tag that points at it, and two
//! tenants who push byte-identical images share one digest. So: delete by tag where the registry
//! supports it; otherwise move the tag onto a tiny unique placeholder manifest and delete the
//! placeholder's digest. The tag's original digest is never deleted.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use mgmt_domain::media_type::{OCI_CONFIG, OCI_MANIFEST};
use serde_json::json;

use super::HttpRegistry;
use super::ops::sha256_digest;
use super::transport::{error_code, map_status, read};
use crate::error::{FlyError, FlyResult};
use crate::registry::Registry;
use crate::registry::models::TagDeletion;
use crate::resilience::guard::RetryMode::Idempotent;

/// Annotation/label prefix marking placeholders, so operators can recognise them.
const PLACEHOLDER_KEY: &str = "io.fly-client.placeholder";

const TAG_DELETE_WORKS: u8 = 1;
const TAG_DELETE_MISSING: u8 = 2;

impl HttpRegistry {
    pub(super) async fn do_delete_tag_safely(
        &self,
        repo: &str,
        tag: &str,
    ) -> FlyResult<TagDeletion> {
        if tag.contains(':') {
            return Err(FlyError::InvalidArgument(format!(
                "{tag:?} is a digest, not a tag"
            )));
        }
        if self.tag_delete.load(Ordering::Relaxed) != TAG_DELETE_MISSING {
            let (status, code) = self.delete_manifest("delete_tag", repo, tag).await?;
            match status.as_u16() {
                200..=299 => {
                    self.tag_delete.store(TAG_DELETE_WORKS, Ordering::Relaxed);
                    return Ok(TagDeletion::DeletedTag);
                }
                // Unknown tag, or no such route: the resolve below tells which.
                404 => {}
                // 400 DIGEST_INVALID (distribution 2.x), 405 UNSUPPORTED (deletion disabled).
                _ => {
                    tracing::debug!(repo, status = %status, ?code, "registry has no delete-by-tag");
                    self.tag_delete.store(TAG_DELETE_MISSING, Ordering::Relaxed);
                }
            }
        }
        let Some(original) = self.resolve(repo, tag).await? else {
            return Ok(TagDeletion::AlreadyGone);
        };
        let placeholder_digest = self.push_placeholder(repo, tag).await?;
        if placeholder_digest == original.digest {
            // Cannot happen with a random nonce; if it ever did, deleting would hit the original.
            return Err(FlyError::Decode(
                "placeholder digest equals the tag's image digest".into(),
            ));
        }
        let (status, code) = self
            .delete_manifest("delete_placeholder", repo, &placeholder_digest)
            .await?;
        match status.as_u16() {
            200..=299 | 404 => Ok(TagDeletion::ReplacedWithPlaceholder { placeholder_digest }),
            _ => {
                tracing::warn!(repo, tag, status = %status, ?code, "registry refuses manifest deletion; placeholder left");
                Ok(TagDeletion::PlaceholderLeft { placeholder_digest })
            }
        }
    }

    /// `DELETE /manifests/<reference>`: the status and error code for the answers deletion logic
    /// distinguishes (2xx, 400, 404, 405, 501), an error for everything else.
    async fn delete_manifest(
        &self,
        op: &str,
        repo: &str,
        reference: &str,
    ) -> FlyResult<(StatusCode, Option<String>)> {
        let req = self.manifest_req(Method::DELETE, repo, reference, "delete")?;
        self.guard()
            .run(op, Idempotent, || async {
                let (status, headers, body) = read(self.t.send(&req).await?).await?;
                match status.as_u16() {
                    200..=299 | 400 | 404 | 405 | 501 => Ok((status, error_code(&body))),
                    _ => Err(map_status(status, &headers, &body)),
                }
            })
            .await
    }

    /// Puts a unique, image-less OCI manifest (a small labelled config, no layers) onto `tag`.
    async fn push_placeholder(&self, repo: &str, tag: &str) -> FlyResult<String> {
        let nonce = uuid::Uuid::new_v4().to_string();
        let labels = json!({
            PLACEHOLDER_KEY: "true",
            format!("{PLACEHOLDER_KEY}.tag"): tag,
            format!("{PLACEHOLDER_KEY}.nonce"): nonce,
        });
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": { "type": "layers", "diff_ids": [] },
            "config": { "Labels": labels },
        })
        .to_string()
        .into_bytes();
        let config_digest = sha256_digest(&config);
        let config_len = config.len();
        self.upload_blob(repo, &config_digest, Bytes::from(config))
            .await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": OCI_CONFIG, "digest": config_digest, "size": config_len },
            "layers": [],
            "annotations": labels,
        })
        .to_string();
        self.put_manifest(repo, tag, OCI_MANIFEST, Bytes::from(manifest))
            .await
    }

    /// Monolithic upload of a small in-memory blob: `POST uploads/`, then `PUT <location>?digest=`.
    async fn upload_blob(&self, repo: &str, digest: &str, data: Bytes) -> FlyResult<()> {
        if self.blob_exists(repo, digest).await? {
            return Ok(());
        }
        let mut start = self.url(repo, "blobs/uploads", None)?;
        start.set_path(&format!("{}/", start.path()));
        self.guard()
            .run("upload_blob", Idempotent, || async {
                let post = self.req(Method::POST, start.clone(), repo, "pull,push");
                let (status, headers, body) = read(self.t.send(&post).await?).await?;
                if !status.is_success() {
                    return Err(map_status(status, &headers, &body));
                }
                let location = headers
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| FlyError::Decode("upload started without a Location".into()))?;
                // Location may be relative or absolute and carries upload state in its query: keep it.
                let mut put_url = start
                    .join(location)
                    .map_err(|e| FlyError::Decode(format!("bad Location: {e}")))?;
                put_url.query_pairs_mut().append_pair("digest", digest);
                let mut put = self.req(Method::PUT, put_url, repo, "pull,push");
                put.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                put.body = Some(data.clone());
                let (status, headers, body) = read(self.t.send(&put).await?).await?;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(map_status(status, &headers, &body))
                }
            })
            .await
    }
}
