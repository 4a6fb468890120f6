//! Container image references, parsed by the grammar of distribution's `reference` package.
//!
//! ```text
//! reference       := name [ ":" tag ] [ "@" digest ]
//! name            := [domain "/"] path-component ["/" path-component]*
//! domain          := domain-component ["." domain-component]* [":" port-number]
//! domain-component:= /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! path-component  := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric   := /[a-z0-9]+/
//! separator       := /[_.]|__|[-]+/
//! tag             := /[\w][\w.-]{0,127}/
//! digest          := algorithm ":" hex        (algorithm components /[A-Za-z][A-Za-z0-9]*/ joined by [+._-])
//! ```
//! The first component is a registry host when it contains `.` or `:` or is `localhost`; the whole name
//! is at most 255 characters. Written by hand rather than with a regex crate so that the domain crate
//! stays dependency-free and each failure can say precisely what was expected.

use std::fmt;

/// Longest accepted name (registry host plus path), as in distribution.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// Longest accepted tag.
pub const TAG_LENGTH_MAX: usize = 128;

/// Why an image reference is malformed. Messages say what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageRefError {
    #[error("image reference is empty: expected `registry/repository:tag`")]
    Empty,
    #[error("image reference contains whitespace or control characters")]
    InvalidCharacter,
    #[error("image name is longer than {NAME_TOTAL_LENGTH_MAX} characters")]
    NameTooLong,
    #[error(
        "registry host `{0}` is invalid: expected letters, digits, `-` and `.`, with an optional `:port`"
    )]
    InvalidRegistry(String),
    #[error(
        "repository path component `{0}` is invalid: expected lowercase letters and digits separated by `.`, `_`, `__` or `-`"
    )]
    InvalidPathComponent(String),
    #[error(
        "tag `{0}` is invalid: expected up to 128 of `A-Z a-z 0-9 _ . -`, not starting with `.` or `-`"
    )]
    InvalidTag(String),
    #[error(
        "digest `{0}` is invalid: expected `algorithm:hex` such as `sha256:` followed by 64 lowercase hex digits"
    )]
    InvalidDigest(String),
}

/// A content digest such as `sha256:0123…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: String,
    hex: String,
}

impl Digest {
    /// Parses `algorithm:hex`. `sha256` must carry exactly 64 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self, ImageRefError> {
        let err = || ImageRefError::InvalidDigest(truncate(s));
        let (algorithm, hex) = s.split_once(':').ok_or_else(err)?;
        let algorithm_ok = !algorithm.is_empty()
            && algorithm.split(['+', '.', '_', '-']).all(|c| {
                c.chars().next().is_some_and(|f| f.is_ascii_alphabetic())
                    && c.chars().all(|ch| ch.is_ascii_alphanumeric())
            });
        let hex_ok = hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit());
        if !algorithm_ok || !hex_ok {
            return Err(err());
        }
        if algorithm == "sha256" && (hex.len() != 64 || hex.chars().any(|c| c.is_ascii_uppercase()))
        {
            return Err(err());
        }
        Ok(Self {
            algorithm: algorithm.to_owned(),
            hex: hex.to_owned(),
        })
    }

    /// The `sha256` digest of some bytes' hex form: builds a digest from an already computed hex string.
    pub fn sha256_from_hex(hex: &str) -> Result<Self, ImageRefError> {
        Self::parse(&format!("sha256:{hex}"))
    }

    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    registry: Option<String>,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Parses a reference; any input (including arbitrary bytes decoded lossily) yields a value or an error,
    /// never a panic.
    pub fn parse(input: &str) -> Result<Self, ImageRefError> {
        if input.is_empty() {
            return Err(ImageRefError::Empty);
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ImageRefError::InvalidCharacter);
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => (rest, Some(Digest::parse(d)?)),
            None => (input, None),
        };
        // A tag is after the last ':' that comes after the last '/' (a ':' before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(&rest[at + 1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag {
            validate_tag(tag)?;
        }
        if name.is_empty() {
            return Err(ImageRefError::Empty);
        }
        if name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ImageRefError::NameTooLong);
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                validate_registry(first)?;
                (Some(first.to_owned()), path)
            }
            _ => (None, name),
        };
        validate_repository(path)?;
        Ok(Self {
            registry,
            repository: path.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// Registry host (with port), when the reference names one.
    pub fn registry(&self) -> Option<&str> {
        self.registry.as_deref()
    }

    /// Repository path without the registry.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository` (or just the repository when no registry is named).
    pub fn name(&self) -> String {
        match &self.registry {
            Some(r) => format!("{r}/{}", self.repository),
            None => self.repository.clone(),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ImageRef {
    type Err = ImageRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// A manifest reference, as after `/manifests/` in a registry path: a digest when it holds a `:`, else a
/// tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ManifestReference {
    Tag(String),
    Digest(Digest),
}

impl ManifestReference {
    /// A digest by [`Digest::parse`] when `s` holds a `:` (a tag never does), else a tag by
    /// [`validate_tag`].
    pub fn parse(s: &str) -> Result<Self, ImageRefError> {
        if s.contains(':') {
            Digest::parse(s).map(Self::Digest)
        } else {
            validate_tag(s).map(|()| Self::Tag(s.to_owned()))
        }
    }
}

impl fmt::Display for ManifestReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(t) => f.write_str(t),
            Self::Digest(d) => d.fmt(f),
        }
    }
}

/// Checks a tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), ImageRefError> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    let ok = tag.len() <= TAG_LENGTH_MAX
        && chars.next().is_some_and(word)
        && chars.all(|c| word(c) || c == '.' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ImageRefError::InvalidTag(truncate(tag)))
    }
}

/// Checks a repository name without a registry host (what follows `/v2/` in a registry path, or the host
/// in a reference): path components joined by `/`, at most [`NAME_TOTAL_LENGTH_MAX`] characters.
pub fn validate_repository(name: &str) -> Result<(), ImageRefError> {
    if name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ImageRefError::NameTooLong);
    }
    name.split('/').try_for_each(validate_path_component)
}

fn validate_registry(host: &str) -> Result<(), ImageRefError> {
    let err = || ImageRefError::InvalidRegistry(truncate(host));
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    if let Some(port) = port
        && (port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) || port.len() > 5)
    {
        return Err(err());
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
            && !c.starts_with('-')
            && !c.ends_with('-')
    };
    if name.split('.').all(component_ok) {
        Ok(())
    } else {
        Err(err())
    }
}

fn validate_path_component(component: &str) -> Result<(), ImageRefError> {
    let err = || ImageRefError::InvalidPathComponent(truncate(component));
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes = component.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(err());
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or one or more `-`.
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok =
            matches!(sep, "." | "_" | "__") || (!sep.is_empty() && sep.bytes().all(|b| b == b'-'));
        if !ok {
            return Err(err());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_the_usual_shapes() {
        let r = ImageRef::parse("registry.fly.io/systemprompt-images:tenant-1").unwrap();
        assert_eq!(r.registry(), Some("registry.fly.io"));
        assert_eq!(r.repository(), "systemprompt-images");
        assert_eq!(r.tag(), Some("tenant-1"));
        assert!(r.digest().is_none());

        let r = ImageRef::parse(&format!("localhost:5000/a/b__c.d-e:v1.0@{D}")).unwrap();
        assert_eq!(r.registry(), Some("localhost:5000"));
        assert_eq!(r.repository(), "a/b__c.d-e");
        assert_eq!(r.digest().unwrap().to_string(), D);

        let r = ImageRef::parse("library/ubuntu").unwrap();
        assert_eq!(r.registry(), None);
        assert_eq!(r.repository(), "library/ubuntu");
        assert_eq!(r.to_string(), "library/ubuntu");

        let r = ImageRef::parse("127.0.0.1:5000/repo@sha256:".to_owned().as_str());
        assert!(matches!(r, Err(ImageRefError::InvalidDigest(_))));
    }

    #[test]
    fn refuses_what_the_grammar_refuses() {
        for bad in [
            "",
            "Upper/Case",
            "reg.io/Upper",
            "reg.io/a//b",
            "reg.io/a___b",
            "reg.io/-a",
            "reg.io/a-",
            "reg.io/a:.tag",
            "reg.io/a:-tag",
            "reg.io/a:tag with space",
            "reg.io/a:",
            "reg.io:/a",
            "reg.io:99999x/a",
            "-reg.io/a",
            "reg.io/a@sha256:xyz",
            "reg.io/a@sha256:0123",
            "reg.io/a\n",
            " reg.io/a",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "accepted {bad:?}");
        }
        let long_tag = format!("reg.io/a:{}", "t".repeat(129));
        assert!(matches!(
            ImageRef::parse(&long_tag),
            Err(ImageRefError::InvalidTag(_))
        ));
        let long_name = format!("reg.io/{}", "a".repeat(260));
        assert_eq!(ImageRef::parse(&long_name), Err(ImageRefError::NameTooLong));
    }

    #[test]
    fn repositories_tags_and_references_alone() {
        for ok in [
            "a",
            "shared",
            "a/b__c.d-e",
            "sp-shared/images",
            "localhost/x",
            "a.b/c",
        ] {
            assert_eq!(validate_repository(ok), Ok(()), "{ok}");
        }
        for bad in [
            "", "Upper", "a//b", "a___b", "a..b", "-a", "a-", "../etc", "a/", "a b",
        ] {
            assert!(validate_repository(bad).is_err(), "accepted {bad:?}");
        }
        assert_eq!(
            validate_repository(&"a".repeat(NAME_TOTAL_LENGTH_MAX + 1)),
            Err(ImageRefError::NameTooLong)
        );

        for ok in [
            "t",
            "_",
            "tenant-0123",
            "v1.0_RC-2",
            &"t".repeat(TAG_LENGTH_MAX),
        ] {
            assert_eq!(validate_tag(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            ".t",
            "-t",
            "a/b",
            "a:b",
            "a b",
            "é",
            &"t".repeat(TAG_LENGTH_MAX + 1),
        ] {
            assert!(
                matches!(validate_tag(bad), Err(ImageRefError::InvalidTag(_))),
                "{bad:?}"
            );
        }

        assert_eq!(
            ManifestReference::parse("tenant-1"),
            Ok(ManifestReference::Tag("tenant-1".into()))
        );
        let by_digest = ManifestReference::parse(D).unwrap();
        assert_eq!(
            by_digest,
            ManifestReference::Digest(Digest::parse(D).unwrap())
        );
        assert_eq!(by_digest.to_string(), D);
        for bad in ["sha256:abc", "-x", "a/b", ""] {
            assert!(ManifestReference::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn messages_say_what_was_expected() {
        let msg = ImageRef::parse("reg.io/Bad").unwrap_err().to_string();
        assert!(msg.contains("lowercase letters and digits"), "{msg}");
        let msg = ImageRef::parse("reg.io/a@md5").unwrap_err().to_string();
        assert!(msg.contains("algorithm:hex"), "{msg}");
    }
}
