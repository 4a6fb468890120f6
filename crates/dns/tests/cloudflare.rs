//! The Cloudflare client against the fake Cloudflare: create, adopt, conflict, delete, retries.

use std::time::Duration;

use mgmt_dns::{CloudflareConfig, CloudflareDns};
use mgmt_domain::{DnsDeleted, DnsEnsured, DnsError, DnsRecords};
use mgmt_mock_cloudflare::MockCloudflare;
use secrecy::SecretString;

const NAME: &str = "3f2b8c1e9a4d.sites.example.com";
const TARGET: &str = "sp-3f2b8c1e9a4d.fly.dev";

fn client_with(cf: &MockCloudflare, token: &str, zone: &str) -> CloudflareDns {
    let mut cfg = CloudflareConfig::new(cf.url(), SecretString::from(token.to_owned()), zone);
    cfg.backoff = Duration::from_millis(10);
    cfg.max_retry_after = Duration::from_secs(1);
    CloudflareDns::new(cfg).expect("client")
}

fn client(cf: &MockCloudflare) -> CloudflareDns {
    client_with(cf, cf.api_token(), cf.zone_id())
}

#[tokio::test]
async fn creates_then_adopts_then_deletes() {
    let cf = MockCloudflare::start().await.expect("mock");
    let dns = client(&cf);
    assert_eq!(
        dns.ensure_cname(NAME, TARGET).await,
        Ok(DnsEnsured::Created)
    );
    let recs = cf.records();
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (
            recs[0].kind.as_str(),
            recs[0].name.as_str(),
            recs[0].content.as_str(),
            recs[0].proxied
        ),
        ("CNAME", NAME, TARGET, false)
    );
    assert_eq!(
        dns.ensure_cname(NAME, TARGET).await,
        Ok(DnsEnsured::Adopted)
    );
    assert_eq!(cf.records().len(), 1);
    assert_eq!(
        dns.delete_cname(NAME, TARGET).await,
        Ok(DnsDeleted::Deleted)
    );
    assert!(cf.records().is_empty());
    assert_eq!(dns.delete_cname(NAME, TARGET).await, Ok(DnsDeleted::Absent));
    assert!(cf.unknown_routes().is_empty());
}

#[tokio::test]
async fn adopts_an_identical_record_made_by_someone_else() {
    let cf = MockCloudflare::start().await.expect("mock");
    cf.seed_record("CNAME", &NAME.to_uppercase(), TARGET, false);
    assert_eq!(
        client(&cf).ensure_cname(NAME, TARGET).await,
        Ok(DnsEnsured::Adopted)
    );
    assert_eq!(cf.records().len(), 1);
}

#[tokio::test]
async fn refuses_a_record_that_is_not_ours_and_never_deletes_it() {
    let cf = MockCloudflare::start().await.expect("mock");
    let dns = client(&cf);
    cf.seed_record("A", NAME, "192.0.2.1", false);
    let err = dns.ensure_cname(NAME, TARGET).await.expect_err("conflict");
    assert!(
        matches!(&err, DnsError::Conflict { existing, .. } if existing.contains("192.0.2.1")),
        "{err}"
    );
    assert!(!err.is_transient());
    assert_eq!(
        dns.delete_cname(NAME, TARGET).await,
        Ok(DnsDeleted::NotOurs)
    );
    assert_eq!(cf.records().len(), 1);

    // Another target, or our target but proxied, is not ours either.
    let other = "x.sites.example.com";
    cf.seed_record("CNAME", other, "elsewhere.example.net", false);
    assert!(matches!(
        dns.ensure_cname(other, TARGET).await,
        Err(DnsError::Conflict { .. })
    ));
    let proxied = "y.sites.example.com";
    cf.seed_record("CNAME", proxied, TARGET, true);
    assert!(matches!(
        dns.ensure_cname(proxied, TARGET).await,
        Err(DnsError::Conflict { .. })
    ));
}

#[tokio::test]
async fn a_bad_token_or_zone_is_refused_without_retrying() {
    let cf = MockCloudflare::start().await.expect("mock");
    let err = client_with(&cf, "wrong", cf.zone_id())
        .ensure_cname(NAME, TARGET)
        .await
        .expect_err("bad token");
    assert!(
        matches!(&err, DnsError::Refused(m) if m.contains("10000") && !m.contains("wrong")),
        "{err}"
    );
    let err = client_with(&cf, cf.api_token(), "0000")
        .ensure_cname(NAME, TARGET)
        .await
        .expect_err("bad zone");
    assert!(
        matches!(&err, DnsError::Refused(m) if m.contains("7003")),
        "{err}"
    );
    assert_eq!(cf.requests().len(), 2, "refusals are not retried");
    assert!(cf.records().is_empty());
}

#[tokio::test]
async fn rate_limits_and_outages_are_retried() {
    let cf = MockCloudflare::start().await.expect("mock");
    let dns = client(&cf);
    cf.faults().rate_limit("list_records", 1);
    cf.faults().fail("create_record", 502, 1);
    let started = std::time::Instant::now();
    assert_eq!(
        dns.ensure_cname(NAME, TARGET).await,
        Ok(DnsEnsured::Created)
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    cf.faults().fail("delete_record", 503, 1);
    assert_eq!(
        dns.delete_cname(NAME, TARGET).await,
        Ok(DnsDeleted::Deleted)
    );
    assert!(cf.records().is_empty());

    // A lasting outage ends as a transient error once the attempts run out.
    cf.faults().fail("list_records", 500, 10);
    let err = dns.ensure_cname(NAME, TARGET).await.expect_err("outage");
    assert!(err.is_transient(), "{err}");
}

#[tokio::test]
async fn a_lost_answer_after_cloudflare_acted_converges() {
    let cf = MockCloudflare::start().await.expect("mock");
    let dns = client(&cf);
    cf.faults().drop_after_acting("create_record");
    assert_eq!(
        dns.ensure_cname(NAME, TARGET).await,
        Ok(DnsEnsured::Adopted)
    );
    assert_eq!(cf.records().len(), 1);
    cf.faults().drop_after_acting("delete_record");
    assert_eq!(dns.delete_cname(NAME, TARGET).await, Ok(DnsDeleted::Absent));
    assert!(cf.records().is_empty());
}
