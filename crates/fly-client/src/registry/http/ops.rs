//! `Registry` for [`HttpRegistry`]: resolve (HEAD, GET when the digest header is missing), manifests,
//! blob existence and tag listing. Safe tag deletion is in `delete.rs`.

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use sha2::{Digest as _, Sha256};

use super::HttpRegistry;
use super::transport::{error_code, map_status, read};
use crate::error::{FlyError, FlyResult};
use crate::registry::Registry;
use crate::registry::models::{Manifest, ManifestRef, TagDeletion};
use crate::resilience::BreakerState;
use crate::resilience::guard::RetryMode::Idempotent;

/// Pages of tags followed at most (a runaway `Link` chain must end).
const MAX_TAG_PAGES: usize = 100;

pub(crate) fn sha256_digest(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn media_type(headers: &HeaderMap) -> String {
    header_str(headers, header::CONTENT_TYPE)
        .map(|ct| ct.split(';').next().unwrap_or_default().trim().to_string())
        .unwrap_or_default()
}

/// `Link: </v2/x/tags/list?last=a&n=100>; rel="next"`.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = header_str(headers, header::LINK)?;
    let (target, params) = link.split_once(';')?;
    params.contains("rel=\"next\"").then(|| {
        target
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string()
    })
}

#[derive(serde::Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[async_trait]
impl Registry for HttpRegistry {
    async fn resolve(&self, repository: &str, reference: &str) -> FlyResult<Option<ManifestRef>> {
        let req = self.manifest_req(Method::HEAD, repository, reference, "pull")?;
        let head = self
            .guard()
            .run("resolve", Idempotent, || async {
                let (status, headers, _) = read(self.t.send(&req).await?).await?;
                match status {
                    s if s.is_success() => Ok(Some(headers)),
                    // Only a real 404 means absent; 401/403 and everything else are errors.
                    StatusCode::NOT_FOUND => Ok(None),
                    s => Err(map_status(s, &headers, &[])),
                }
            })
            .await?;
        let Some(headers) = head else { return Ok(None) };
        match header_str(&headers, "docker-content-digest") {
            Some(digest) => Ok(Some(ManifestRef {
                digest,
                media_type: media_type(&headers),
                size: header_str(&headers, header::CONTENT_LENGTH).and_then(|l| l.parse().ok()),
            })),
            // The digest header is optional: hash the manifest itself.
            None => Ok(self
                .get_manifest(repository, reference)
                .await?
                .map(|m| ManifestRef {
                    size: Some(m.body.len() as u64),
                    digest: m.digest,
                    media_type: m.media_type,
                })),
        }
    }

    async fn get_manifest(&self, repository: &str, reference: &str) -> FlyResult<Option<Manifest>> {
        let req = self.manifest_req(Method::GET, repository, reference, "pull")?;
        let found = self
            .guard()
            .run("get_manifest", Idempotent, || async {
                let (status, headers, body) = read(self.t.send(&req).await?).await?;
                match status {
                    s if s.is_success() => Ok(Some((headers, body))),
                    StatusCode::NOT_FOUND => Ok(None),
                    s => Err(map_status(s, &headers, &body)),
                }
            })
            .await?;
        let Some((headers, body)) = found else {
            return Ok(None);
        };
        let computed = sha256_digest(&body);
        if reference.starts_with("sha256:") && reference != computed {
            return Err(FlyError::Decode(format!(
                "manifest {reference} has digest {computed}"
            )));
        }
        let digest = header_str(&headers, "docker-content-digest").unwrap_or(computed);
        Ok(Some(Manifest {
            digest,
            media_type: media_type(&headers),
            body,
        }))
    }

    async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> FlyResult<String> {
        let mut req = self.manifest_req(Method::PUT, repository, reference, "pull,push")?;
        let content_type = HeaderValue::from_str(media_type)
            .map_err(|_| FlyError::InvalidArgument(format!("invalid media type {media_type:?}")))?;
        req.headers.insert(header::CONTENT_TYPE, content_type);
        req.body = Some(body.clone());
        // Putting the same bytes under the same reference twice is the same state.
        let headers = self
            .guard()
            .run("put_manifest", Idempotent, || async {
                let (status, headers, body) = read(self.t.send(&req).await?).await?;
                if status.is_success() {
                    Ok(headers)
                } else {
                    Err(map_status(status, &headers, &body))
                }
            })
            .await?;
        Ok(header_str(&headers, "docker-content-digest").unwrap_or_else(|| sha256_digest(&body)))
    }

    async fn blob_exists(&self, repository: &str, digest: &str) -> FlyResult<bool> {
        let mut req = self.req(
            Method::HEAD,
            self.url(repository, "blobs", Some(digest))?,
            repository,
            "pull",
        );
        req.follow = true;
        self.guard()
            .run("blob_exists", Idempotent, || async {
                let (status, headers, _) = read(self.t.send(&req).await?).await?;
                match status {
                    s if s.is_success() => Ok(true),
                    StatusCode::NOT_FOUND => Ok(false),
                    s => Err(map_status(s, &headers, &[])),
                }
            })
            .await
    }

    async fn list_tags(&self, repository: &str) -> FlyResult<Option<Vec<String>>> {
        let mut url = self.url(repository, "tags/list", None)?;
        let mut tags = Vec::new();
        for _ in 0..MAX_TAG_PAGES {
            let req = self.req(Method::GET, url.clone(), repository, "pull");
            let page = self
                .guard()
                .run("list_tags", Idempotent, || async {
                    let (status, headers, body) = read(self.t.send(&req).await?).await?;
                    match status.as_u16() {
                        200..=299 => Ok(Some((headers, body))),
                        // A repository the registry does not know has no tags.
                        404 if error_code(&body).as_deref() == Some("NAME_UNKNOWN") => {
                            Ok(Some((headers, Bytes::new())))
                        }
                        // Listing is an optional capability (registry.fly.io documents none).
                        404 | 405 | 501 => Ok(None),
                        _ => Err(map_status(status, &headers, &body)),
                    }
                })
                .await?;
            let Some((headers, body)) = page else {
                return Ok(None);
            };
            if !body.is_empty() {
                let list: TagList = serde_json::from_slice(&body)
                    .map_err(|e| FlyError::Decode(format!("tag list: {e}")))?;
                tags.extend(list.tags.unwrap_or_default());
            }
            match next_link(&headers).and_then(|next| url.join(&next).ok()) {
                Some(next) if next.origin() == self.t.base.origin() => url = next,
                _ => return Ok(Some(tags)),
            }
        }
        Ok(Some(tags))
    }

    async fn delete_tag_safely(&self, repository: &str, tag: &str) -> FlyResult<TagDeletion> {
        self.do_delete_tag_safely(repository, tag).await
    }

    fn circuit_state(&self) -> Option<BreakerState> {
        Some(self.breaker_state())
    }
}
