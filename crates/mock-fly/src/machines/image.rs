//! Resolving `config.image` the way Fly does before it launches anything: an image on this mock's
//! registry host must exist there (by tag or digest), or the machine is refused.

use actix_web::HttpResponse;
use mgmt_domain::ImageRef;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::ctx::Shared;
use crate::errors;
use crate::state::World;

/// `host/repo[:tag][@sha256:...]` split into parts by the domain's reference grammar; Docker Hub
/// defaults as Fly applies them.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ImageName {
    pub host: String,
    pub repo: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

pub(crate) fn parse(image: &str) -> Option<ImageName> {
    let r = ImageRef::parse(image).ok()?;
    let path = r.repository();
    let (host, repo) = match r.registry() {
        Some(host) => (host.to_owned(), path.to_owned()),
        None if path.contains('/') => ("registry-1.docker.io".to_owned(), path.to_owned()),
        None => ("registry-1.docker.io".to_owned(), format!("library/{path}")),
    };
    let digest = r.digest().map(ToString::to_string);
    let tag = match (r.tag(), &digest) {
        (Some(t), _) => Some(t.to_owned()),
        (None, None) => Some("latest".to_owned()),
        (None, Some(_)) => None,
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
        let d = format!("sha256:{}", "ab".repeat(32));
        let p = parse(&format!("registry.fly.io/x@{d}")).unwrap();
        assert_eq!((p.tag, p.digest), (None, Some(d)));
        let p = parse("ubuntu").unwrap();
        assert_eq!(
            (p.repo.as_str(), p.tag.as_deref()),
            ("library/ubuntu", Some("latest"))
        );
        for bad in [
            "host.io/x:",
            "host.io/x@sha256:ab",
            "host.io/Upper",
            "",
            "x y",
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }
}
