//! CLI login storage: a login `state` is consumed at most once (also under concurrency), expired ones
//! are handed back for the caller to refuse and purged later, and a provider identity always logs in
//! as the same customer.

use chrono::{Duration, Utc};
use mgmt_domain::{LoginProvider, NewLoginIdentity, NewLoginState};
use mgmt_persistence::testing::test_database;
use secrecy::{ExposeSecret, SecretString};

/// A stand-in for the SHA-256 (lowercase hex) the server stores: `label` hex-encoded, zero-padded.
fn h(label: &str) -> String {
    let hex: String = label.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex:0<64}")
}

fn new_state(label: &str, expires_in: Duration) -> NewLoginState {
    NewLoginState {
        state_hash: h(label),
        provider: LoginProvider::Github,
        redirect_uri: "http://127.0.0.1:8765/callback".to_owned(),
        pkce_verifier: SecretString::from(format!("verifier-of-{label}-0123456789012345678901234")),
        nonce: format!("nonce-{label}"),
        expires_at: Utc::now() + expires_in,
    }
}

fn identity(provider: LoginProvider, id: &str, email: &str) -> NewLoginIdentity {
    NewLoginIdentity {
        provider,
        provider_user_id: id.to_owned(),
        email: email.to_owned(),
        name: Some("Ada".to_owned()),
    }
}

#[tokio::test]
async fn a_state_is_consumed_exactly_once_with_what_was_stored() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().login_states;
    repo.insert(new_state("a1", Duration::minutes(10)))
        .await
        .unwrap();
    let mut google = new_state("b2", Duration::minutes(10));
    google.provider = LoginProvider::Google;
    repo.insert(google).await.unwrap();

    let got = repo.consume(&h("a1")).await.unwrap().expect("stored state");
    assert_eq!(got.provider, LoginProvider::Github);
    assert_eq!(got.redirect_uri, "http://127.0.0.1:8765/callback");
    assert_eq!(
        got.pkce_verifier.expose_secret(),
        "verifier-of-a1-0123456789012345678901234"
    );
    assert_eq!(got.nonce, "nonce-a1");
    assert!(got.expires_at > Utc::now());
    // Replayed: gone.
    assert!(repo.consume(&h("a1")).await.unwrap().is_none());
    // Unknown: nothing.
    assert!(repo.consume(&h("never-issued")).await.unwrap().is_none());
    // The other login in flight is untouched and keeps its provider.
    let other = repo.consume(&h("b2")).await.unwrap().expect("other state");
    assert_eq!(other.provider, LoginProvider::Google);
    // The verifier never reaches Debug output.
    let debug = format!("{other:?}");
    assert!(!debug.contains("verifier-of"), "{debug}");
}

#[tokio::test]
async fn inserting_the_same_state_twice_is_refused() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().login_states;
    repo.insert(new_state("dup", Duration::minutes(10)))
        .await
        .unwrap();
    assert!(
        repo.insert(new_state("dup", Duration::minutes(10)))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_consumers_exactly_one_wins() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().login_states;
    for round in 0..5 {
        let hash = format!("race-{round}");
        repo.insert(new_state(&hash, Duration::minutes(10)))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let repo = repo.clone();
                let hash = hash.clone();
                tokio::spawn(async move { repo.consume(&h(&hash)).await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            if task.await.unwrap().is_some() {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

#[tokio::test]
async fn an_expired_state_is_handed_back_once_for_refusal_and_old_ones_are_purged() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().login_states;
    // Just expired: the callback still gets it (to redirect "expired" to its redirect_uri), once.
    repo.insert(new_state("just-expired", -Duration::minutes(1)))
        .await
        .unwrap();
    let got = repo
        .consume(&h("just-expired"))
        .await
        .unwrap()
        .expect("a just-expired state is returned");
    assert!(
        got.expires_at < Utc::now(),
        "the caller must see it expired"
    );
    assert!(repo.consume(&h("just-expired")).await.unwrap().is_none());

    // Long expired: purged by the next insert, so it is no longer consumable at all.
    repo.insert(new_state("long-expired", -Duration::hours(2)))
        .await
        .unwrap();
    repo.insert(new_state("fresh", Duration::minutes(10)))
        .await
        .unwrap();
    assert!(repo.consume(&h("long-expired")).await.unwrap().is_none());
    assert!(repo.consume(&h("fresh")).await.unwrap().is_some());
}

#[tokio::test]
async fn an_identity_logs_in_as_the_same_customer_whatever_its_email() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().login_identities;
    let first = repo
        .login(identity(LoginProvider::Github, "12345", "ada@example.test"))
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(first.customer.subject, "github:12345");
    assert_eq!(first.customer.email, "ada@example.test");
    assert_eq!(first.customer.name.as_deref(), Some("Ada"));

    // The address changed at the provider: same identity, same customer, not a new one.
    let again = repo
        .login(identity(
            LoginProvider::Github,
            "12345",
            "ada@new.example.test",
        ))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.customer.id, first.customer.id);

    // The same email under another provider, or another user id, is another identity.
    let google = repo
        .login(identity(LoginProvider::Google, "12345", "ada@example.test"))
        .await
        .unwrap();
    assert!(google.created);
    assert_ne!(google.customer.id, first.customer.id);
    assert_eq!(google.customer.subject, "google:12345");
    let other = repo
        .login(identity(LoginProvider::Github, "67890", "ada@example.test"))
        .await
        .unwrap();
    assert!(other.created);
    assert_ne!(other.customer.id, first.customer.id);

    // The customer is the one the customers repository knows under that subject.
    let by_subject = t
        .repositories()
        .customers
        .find_by_subject("github:12345")
        .await
        .unwrap()
        .expect("customer by subject");
    assert_eq!(by_subject.id, first.customer.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_logins_of_one_identity_make_one_customer() {
    let t = test_database().await.unwrap();
    let repo = t.repositories().login_identities;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let repo = repo.clone();
            tokio::spawn(async move {
                repo.login(identity(LoginProvider::Google, "sub-1", "g@example.test"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut created = 0;
    for task in tasks {
        let got = task.await.unwrap();
        created += usize::from(got.created);
        ids.push(got.customer.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(created, 1, "exactly one login created the customer");
}
