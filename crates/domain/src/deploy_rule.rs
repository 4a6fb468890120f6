//! The deploy rule: a tenant may deploy exactly its own image and nothing else.
//!
//! The CLI builds the image string from the registry-token response (`{registry}/{repository}:{tag}`).
//! We accept that exact string, optionally pinned with `@sha256:<hex>`, and refuse everything else with a
//! message naming the image we expected, so a customer sees at once what to send.

use std::fmt;

use crate::TenantId;
use crate::image_ref::{Digest, ImageRef, ImageRefError};
use crate::naming;

/// Where tenant images live: the registry host customers push to and the shared repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryTarget {
    /// Host (with optional port) as handed out by `registry-token`, e.g. `registry.example.com`.
    pub registry_host: String,
    /// The shared repository, e.g. `systemprompt-images`.
    pub repository: String,
}

impl RegistryTarget {
    pub fn new(registry_host: impl Into<String>, repository: impl Into<String>) -> Self {
        Self {
            registry_host: registry_host.into(),
            repository: repository.into(),
        }
    }

    /// The image this tenant must push and deploy.
    pub fn expected_image(&self, tenant: &TenantId) -> String {
        naming::full_image(&self.registry_host, &self.repository, tenant)
    }

    /// Applies the deploy rule to what the customer sent.
    pub fn validate_deploy_image(
        &self,
        tenant: &TenantId,
        image: &str,
    ) -> Result<DeployImage, DeployImageError> {
        let expected = self.expected_image(tenant);
        let refuse = |reason: Reason| DeployImageError {
            expected: expected.clone(),
            reason,
        };
        let parsed = ImageRef::parse(image).map_err(|e| refuse(Reason::Malformed(e)))?;
        if parsed.registry() != Some(self.registry_host.as_str()) {
            return Err(refuse(Reason::WrongRegistry));
        }
        if parsed.repository() != self.repository {
            return Err(refuse(Reason::WrongRepository));
        }
        let tag = parsed.tag().ok_or_else(|| refuse(Reason::MissingTag))?;
        if tag != naming::image_tag(tenant) {
            return Err(refuse(Reason::WrongTag));
        }
        let digest = match parsed.digest() {
            Some(d) if d.algorithm() == "sha256" => Some(d.clone()),
            Some(_) => return Err(refuse(Reason::UnsupportedDigest)),
            None => None,
        };
        // Belt and braces: the accepted string is, byte for byte, the expected image plus an optional digest.
        let canonical = match &digest {
            Some(d) => format!("{expected}@{d}"),
            None => expected.clone(),
        };
        if canonical != image {
            return Err(refuse(Reason::WrongTag));
        }
        Ok(DeployImage {
            image: expected,
            digest,
        })
    }
}

/// An image that passed the deploy rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployImage {
    /// The tenant's tag reference, `{registry}/{repository}:tenant-{id}`.
    pub image: String,
    /// A digest the customer pinned, if any; deploy then insists the tag still resolves to it.
    pub digest: Option<Digest>,
}

/// Why an image was refused; always names the expected image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployImageError {
    pub expected: String,
    pub reason: Reason,
}

/// The specific reason an image was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    Malformed(ImageRefError),
    WrongRegistry,
    WrongRepository,
    MissingTag,
    WrongTag,
    UnsupportedDigest,
}

impl fmt::Display for DeployImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match &self.reason {
            Reason::Malformed(e) => format!("the image reference is malformed ({e})"),
            Reason::WrongRegistry => "the image is not in this service's registry".to_owned(),
            Reason::WrongRepository => {
                "the image is not in the shared tenant repository".to_owned()
            }
            Reason::MissingTag => {
                "the image has no tag (a digest alone is not accepted)".to_owned()
            }
            Reason::WrongTag => "the image tag is not this tenant's".to_owned(),
            Reason::UnsupportedDigest => "only sha256 digests are accepted".to_owned(),
        };
        write!(
            f,
            "invalid image: {why}; expected `{}` (optionally followed by `@sha256:<digest>`)",
            self.expected
        )
    }
}

impl std::error::Error for DeployImageError {}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3f2b8c1e-9a4d-4e1f-8c2a-0b1d2e3f4a5b";
    const B: &str = "00000000-0000-4000-8000-000000000001";
    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn target() -> RegistryTarget {
        RegistryTarget::new("registry.example.com:5443", "tenant-images")
    }

    fn a() -> TenantId {
        TenantId::parse(A).unwrap()
    }

    #[test]
    fn accepts_exactly_the_tenants_image() {
        let ok = target()
            .validate_deploy_image(
                &a(),
                &format!("registry.example.com:5443/tenant-images:tenant-{A}"),
            )
            .unwrap();
        assert_eq!(
            ok.image,
            format!("registry.example.com:5443/tenant-images:tenant-{A}")
        );
        assert!(ok.digest.is_none());
        let pinned = target()
            .validate_deploy_image(
                &a(),
                &format!("registry.example.com:5443/tenant-images:tenant-{A}@{D}"),
            )
            .unwrap();
        assert_eq!(pinned.digest.unwrap().to_string(), D);
    }

    #[test]
    fn refuses_everything_else_naming_the_expected_image() {
        let upper = A.to_uppercase();
        let cases = [
            format!("registry.example.com:5443/tenant-images:tenant-{B}"),
            format!("registry.example.com:5443/other-images:tenant-{A}"),
            format!("registry.fly.io/tenant-images:tenant-{A}"),
            format!("registry.example.com/tenant-images:tenant-{A}"),
            format!("registry.example.com:5443/tenant-images@{D}"),
            format!("registry.example.com:5443/tenant-images:tenant-{A}x"),
            format!("registry.example.com:5443/tenant-images:tenant-{upper}"),
            format!("registry.example.com:5443/tenant-images/extra:tenant-{A}"),
            format!("registry.example.com:5443/x/tenant-images:tenant-{A}"),
            format!(" registry.example.com:5443/tenant-images:tenant-{A}"),
            format!("registry.example.com:5443/tenant-images:tenant-{A}\n"),
            format!("tenant-images:tenant-{A}"),
            format!(
                "registry.example.com:5443/tenant-images:tenant-{A}@sha512:{}",
                "a".repeat(128)
            ),
            "registry.example.com:5443/tenant-images".to_owned(),
            String::new(),
        ];
        for image in cases {
            let err = target()
                .validate_deploy_image(&a(), &image)
                .expect_err(&image);
            let msg = err.to_string();
            assert!(
                msg.contains(&format!(
                    "registry.example.com:5443/tenant-images:tenant-{A}"
                )),
                "{msg}"
            );
        }
    }
}
