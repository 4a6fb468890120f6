//! Custom domains: the strict rule for a hostname a customer may point at their tenant, and the record
//! of one.

use chrono::{DateTime, Utc};

use crate::tenant_id::TenantId;

/// Longest DNS name (RFC 1035, without the trailing dot).
pub const DOMAIN_LENGTH_MAX: usize = 253;
/// Longest DNS label.
pub const LABEL_LENGTH_MAX: usize = 63;

/// Why a domain was refused, in words a customer can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainNameError {
    #[error("the domain is empty")]
    Empty,
    #[error("the domain is longer than {DOMAIN_LENGTH_MAX} characters")]
    TooLong,
    #[error("the domain needs at least two labels, e.g. app.example.com")]
    TooFewLabels,
    #[error("a label of the domain is empty")]
    EmptyLabel,
    #[error("a label of the domain is longer than {LABEL_LENGTH_MAX} characters")]
    LabelTooLong,
    #[error("wildcard domains are not supported")]
    Wildcard,
    #[error(
        "the domain may hold only letters a-z, digits, dashes and dots (use the punycode form of an international name)"
    )]
    InvalidCharacter,
    #[error("a label of the domain may not start or end with a dash")]
    DashAtEdge,
    #[error("an IP address is not a domain")]
    IpAddress,
    #[error("the top-level label of the domain cannot be all digits")]
    NumericTld,
    #[error("domains under {0} are the platform's own")]
    PlatformDomain(String),
}

/// A custom domain as DNS compares it: trimmed, lowercase, without the trailing dot.
///
/// `platform_suffix` is the suffix of tenants' own hostnames (`{12hex}.{suffix}`): neither it nor any name
/// under it may be claimed, or a customer could take over another tenant's hostname.
pub fn normalize_custom_domain(
    input: &str,
    platform_suffix: &str,
) -> Result<String, DomainNameError> {
    let trimmed = input.trim();
    let name = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if name.is_empty() {
        return Err(DomainNameError::Empty);
    }
    if name.len() > DOMAIN_LENGTH_MAX {
        return Err(DomainNameError::TooLong);
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Err(DomainNameError::IpAddress);
    }
    let name = name.to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return Err(DomainNameError::EmptyLabel);
        }
        if label.contains('*') {
            return Err(DomainNameError::Wildcard);
        }
        if label.len() > LABEL_LENGTH_MAX {
            return Err(DomainNameError::LabelTooLong);
        }
        if !label
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        {
            return Err(DomainNameError::InvalidCharacter);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(DomainNameError::DashAtEdge);
        }
    }
    if labels.len() < 2 {
        return Err(DomainNameError::TooFewLabels);
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|c| c.is_ascii_digit()))
    {
        // `10.0.0.1` with a typo, or an IPv4 address in another notation: not a name.
        return Err(DomainNameError::NumericTld);
    }
    let suffix = platform_suffix
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if !suffix.is_empty() && (name == suffix || name.ends_with(&format!(".{suffix}"))) {
        return Err(DomainNameError::PlatformDomain(suffix));
    }
    Ok(name)
}

/// A tenant's custom domain as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomDomain {
    pub tenant_id: TenantId,
    /// Normalised ([`normalize_custom_domain`]).
    pub domain: String,
    /// Where the customer's CNAME must point (what Fly reported).
    pub dns_target: String,
    /// Fly's word for the certificate's state when last asked.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The first time Fly reported the certificate issued.
    pub verified_at: Option<DateTime<Utc>>,
}

/// The DNS record a customer creates: a CNAME from their domain to the target Fly reports.
pub const DNS_RECORD_TYPE: &str = "CNAME";
/// The TTL suggested for that record: short, so a mistake is corrected quickly.
pub const DNS_RECORD_TTL: u32 = 300;

impl CustomDomain {
    pub fn verified(&self) -> bool {
        self.verified_at.is_some()
    }
}

/// A custom domain about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomDomain {
    pub tenant_id: TenantId,
    pub domain: String,
    pub dns_target: String,
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUFFIX: &str = "sites.example.com";

    #[test]
    fn normalises_what_dns_ignores() {
        for (input, want) in [
            ("App.Example.COM", "app.example.com"),
            ("  shop.example.org.  ", "shop.example.org"),
            ("a-b.c-d.io", "a-b.c-d.io"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("example.com", "example.com"),
            ("sites.example.com.evil.io", "sites.example.com.evil.io"),
        ] {
            assert_eq!(
                normalize_custom_domain(input, SUFFIX).unwrap(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_customer_hostname() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = format!("{}.com", vec!["a".repeat(60); 5].join("."));
        for (input, want) in [
            ("", DomainNameError::Empty),
            ("   ", DomainNameError::Empty),
            (".", DomainNameError::Empty),
            ("localhost", DomainNameError::TooFewLabels),
            ("a..b", DomainNameError::EmptyLabel),
            ("example.com..", DomainNameError::EmptyLabel),
            ("*.example.com", DomainNameError::Wildcard),
            (long_label.as_str(), DomainNameError::LabelTooLong),
            (long_name.as_str(), DomainNameError::TooLong),
            ("exa mple.com", DomainNameError::InvalidCharacter),
            ("bücher.de", DomainNameError::InvalidCharacter),
            ("under_score.com", DomainNameError::InvalidCharacter),
            ("example.com/path", DomainNameError::InvalidCharacter),
            ("-a.example.com", DomainNameError::DashAtEdge),
            ("a-.example.com", DomainNameError::DashAtEdge),
            ("10.0.0.1", DomainNameError::IpAddress),
            ("::1", DomainNameError::IpAddress),
            ("1.2.3.999", DomainNameError::NumericTld),
            (
                "sites.example.com",
                DomainNameError::PlatformDomain(SUFFIX.into()),
            ),
            (
                "abc123.sites.example.com",
                DomainNameError::PlatformDomain(SUFFIX.into()),
            ),
            (
                "A.SITES.Example.com.",
                DomainNameError::PlatformDomain(SUFFIX.into()),
            ),
        ] {
            assert_eq!(
                normalize_custom_domain(input, SUFFIX),
                Err(want),
                "{input:?}"
            );
        }
    }
}
