//! Custom domain bodies (`/tenants/{id}/custom-domain`), shaped as the CLI's `CustomDomain`.

use mgmt_domain::{CustomDomain as Record, DNS_RECORD_TTL, DNS_RECORD_TYPE};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /tenants/{id}/custom-domain` body: the domain as the customer typed it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCustomDomainRequest {
    pub domain: String,
}

/// A tenant's custom domain and the DNS record that verifies it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomDomain {
    pub domain: String,
    /// Fly's word for the certificate (`pending_validation` until the DNS record is seen, `active` once issued).
    pub status: String,
    pub verified: bool,
    /// Where the CNAME must point.
    pub dns_target: String,
    pub dns_instructions: DnsInstructions,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
}

/// The record to create at the customer's DNS provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct DnsInstructions {
    pub record_type: String,
    pub host: String,
    pub value: String,
    pub ttl: u32,
}

impl From<&Record> for CustomDomain {
    fn from(d: &Record) -> Self {
        Self {
            domain: d.domain.clone(),
            status: d.status.clone(),
            verified: d.verified(),
            dns_target: d.dns_target.clone(),
            dns_instructions: DnsInstructions {
                record_type: DNS_RECORD_TYPE.to_owned(),
                host: d.domain.clone(),
                value: d.dns_target.clone(),
                ttl: DNS_RECORD_TTL,
            },
            created_at: Some(d.created_at.to_rfc3339()),
            verified_at: d.verified_at.map(|t| t.to_rfc3339()),
        }
    }
}
