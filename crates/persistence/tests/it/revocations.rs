//! Token revocations: by `jti` until the token's expiry (then purged), and by subject up to an instant
//! that only moves forward.

use chrono::{Duration, DurationRound, Utc};
use mgmt_domain::Revocation;
use mgmt_persistence::testing::test_database;

#[tokio::test]
async fn a_revoked_jti_is_visible_for_that_token_only() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().revocations;
    assert_eq!(
        repo.check("github:1", Some("jti-1")).await.unwrap(),
        Revocation::default()
    );
    repo.revoke_token("jti-1", Utc::now() + Duration::hours(1))
        .await
        .unwrap();
    // Idempotent.
    repo.revoke_token("jti-1", Utc::now() + Duration::hours(1))
        .await
        .unwrap();
    let r = repo.check("github:1", Some("jti-1")).await.unwrap();
    assert!(r.token_revoked);
    assert_eq!(r.subject_revoked_before, None);
    assert!(r.revokes(Some(Utc::now().timestamp())));
    assert!(
        !repo
            .check("github:1", Some("jti-2"))
            .await
            .unwrap()
            .token_revoked
    );
    // A token without a jti cannot match a revoked id.
    assert!(!repo.check("github:1", None).await.unwrap().token_revoked);
}

#[tokio::test]
async fn a_revoked_subject_is_visible_and_only_moves_forward() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().revocations;
    // Whole microseconds, as PostgreSQL stores them.
    let now = Utc::now()
        .duration_trunc(Duration::microseconds(1))
        .unwrap();
    repo.revoke_subject("google:a", now).await.unwrap();
    let r = repo.check("google:a", Some("any")).await.unwrap();
    assert!(!r.token_revoked);
    assert_eq!(r.subject_revoked_before, Some(now));
    assert!(r.revokes(Some(now.timestamp() - 60)), "issued before");
    assert!(
        r.revokes(Some(now.timestamp())),
        "issued in the same second"
    );
    assert!(!r.revokes(Some(now.timestamp() + 1)), "issued after");
    assert!(r.revokes(None), "no iat cannot prove it is newer");

    // An earlier instant does not undo the later revocation; a later one moves it.
    repo.revoke_subject("google:a", now - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        repo.check("google:a", None)
            .await
            .unwrap()
            .subject_revoked_before,
        Some(now)
    );
    let later = now + Duration::minutes(5);
    repo.revoke_subject("google:a", later).await.unwrap();
    assert_eq!(
        repo.check("google:a", None)
            .await
            .unwrap()
            .subject_revoked_before,
        Some(later)
    );
    // Other subjects are unaffected.
    assert_eq!(
        repo.check("google:b", None).await.unwrap(),
        Revocation::default()
    );
}

#[tokio::test]
async fn revocations_of_expired_tokens_are_purged() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().revocations;
    repo.revoke_token("old", Utc::now() - Duration::minutes(1))
        .await
        .unwrap();
    repo.revoke_token("live", Utc::now() + Duration::hours(1))
        .await
        .unwrap();
    // Revoking another token purged the expired row (the token is refused by its `exp` anyway).
    assert!(!repo.check("s", Some("old")).await.unwrap().token_revoked);
    assert!(repo.check("s", Some("live")).await.unwrap().token_revoked);
}
