//! Resolving `config.image` the way Fly does before it launches anything: an image on this mock's
//! registry host must exist there (by tag or digest), or the machine is refused.

use actix_web::HttpResponse;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::ctx::Shared;
use crate::errors;
use crate::state::World;

/// `host/repo[:tag][@sha256:...]` split into parts; Docker Hub defaults as Fly applies them.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ImageName {
    pub host: String,
    pub repo: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

pub(crate) fn parse(image: &str) -> Option<ImageName> {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d.to_owned())),
        None => (image, None),
    };
    let (host, path) = match rest.split_once('/') {
        Some((h, p)) if h.contains('.') || h.contains(':') || h == "localhost" => {
            (h.to_owned(), p.to_owned())
        }
        _ if rest.contains('/') => ("registry-1.docker.io".to_owned(), rest.to_owned()),
        _ => ("registry-1.docker.io".to_owned(), format!("library/{rest}")),
    };
    let (repo, tag) = match path.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_owned(), Some(t.to_owned())),
        _ => (path, None),
    };
    if repo.is_empty() || tag.as_deref() == Some("") || digest.as_deref() == Some("") {
        return None;
    }
    let tag = if tag.is_none() && digest.is_none() {
        Some("latest".to_owned())
    } else {
        tag
    };
    Some(ImageName {
        host,
        repo,
        tag,
        digest,
    })
}

/// The machine's `image_ref`, or a 4xx response when Fly could not resolve the image.
pub(crate) fn resolve(ctx: &Shared, world: &World, image: &str) -> Result<Value, HttpResponse> {
    let Some(name) = parse(image) else {
        return Err(errors::fly(
            400,
            format!("invalid image reference {image:?}"),
        ));
    };
    let own = name.host == ctx.registry_host();
    let digest = if own && ctx.config.require_registry_images {
        let repo = world.registry.repos.get(&name.repo);
        let found = match (&name.digest, &name.tag) {
            (Some(d), _) => repo
                .filter(|r| r.manifests.contains_key(d))
                .map(|_| d.clone()),
            (None, Some(t)) => repo.and_then(|r| r.tags.get(t).cloned()),
            (None, None) => None,
        };
        match found {
            Some(d) => d,
            None => {
                return Err(errors::fly_status(
                    422,
                    format!(
                        "failed to resolve image {image}: failed to get manifest: manifest unknown"
                    ),
                    "unknown",
                ));
            }
        }
    } else {
        // A stable stand-in digest for images the mock cannot see.
        name.digest
            .clone()
            .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(image))))
    };
    let mut r =
        json!({ "registry": name.host, "repository": name.repo, "digest": digest, "labels": {} });
    if let Some(t) = name.tag {
        r["tag"] = json!(t);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_tags_and_digests() {
        let p = parse("127.0.0.1:5000/a/b:tenant-1").unwrap();
        assert_eq!(
            (p.host.as_str(), p.repo.as_str(), p.tag.as_deref()),
            ("127.0.0.1:5000", "a/b", Some("tenant-1"))
        );
        let p = parse("registry.fly.io/x@sha256:ab").unwrap();
        assert_eq!((p.tag, p.digest.as_deref()), (None, Some("sha256:ab")));
        let p = parse("ubuntu").unwrap();
        assert_eq!(
            (p.repo.as_str(), p.tag.as_deref()),
            ("library/ubuntu", Some("latest"))
        );
        assert!(parse("host.io/x:").is_none());
    }
}
