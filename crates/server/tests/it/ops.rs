//! The operator commands, run as the binary: `jobs list|show|retry|cancel` and `tenants
//! show|force-delete` against a migrated database (`tenants reconcile` is covered with the cloud
//! settings by the chaos harness and the reconciler's own tests).

use std::process::Command;

use diesel_async::RunQueryDsl;
use mgmt_domain::{JobKind, JobState, NewJob, TenantState};
use mgmt_persistence::testing::test_database;
use secrecy::ExposeSecret;

fn bin(url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_management-api"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url);
    c
}

fn run(url: &str, args: &[&str]) -> (bool, String, String) {
    let out = bin(url).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn jobs_list_show_retry_cancel_and_tenant_force_delete() {
    let db = test_database().await.unwrap();
    let url = db.url().expose_secret().to_owned();
    let repos = db.repositories();
    let customer = db.customer().await.unwrap();
    let t = db.tenant(customer.id, "ops-tenant").await.unwrap();
    let job = repos
        .jobs
        .enqueue(NewJob {
            kind: JobKind::Provision,
            tenant_id: Some(t.id),
            payload: serde_json::json!({}),
            max_attempts: Some(1),
        })
        .await
        .unwrap();
    // Let it die: claimed once, failed, out of attempts.
    let claimed = repos
        .jobs
        .claim(
            "w1",
            &[JobKind::Provision],
            std::time::Duration::from_secs(30),
        )
        .await
        .unwrap()
        .unwrap();
    repos
        .jobs
        .retry_later(claimed.id, "w1", "boom", chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(repos.jobs.get(job.id).await.unwrap().state, JobState::Dead);

    let (ok, out, err) = run(&url, &["jobs", "list", "--state", "dead"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&job.id.to_string()) && out.contains("boom"),
        "{out}"
    );
    assert!(out.contains("1 job(s)"), "{out}");
    let (ok, _, err) = run(&url, &["jobs", "list", "--state", "exploded"]);
    assert!(!ok && err.contains("--state"), "{err}");

    let (ok, out, err) = run(&url, &["jobs", "show", &job.id.to_string()]);
    assert!(ok && out.contains("provision"), "{out}{err}");
    let (ok, _, err) = run(&url, &["jobs", "show", "not-a-uuid"]);
    assert!(!ok && err.contains("not a job id"), "{err}");

    let (ok, out, err) = run(&url, &["jobs", "retry", &job.id.to_string()]);
    assert!(ok && out.contains("retried"), "{out}{err}");
    let j = repos.jobs.get(job.id).await.unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Queued, 0));
    // Only a dead job can be retried.
    let (ok, _, err) = run(&url, &["jobs", "retry", &job.id.to_string()]);
    assert!(!ok && err.contains("not found"), "{err}");

    let (ok, out, err) = run(
        &url,
        &["jobs", "cancel", &job.id.to_string(), "--reason", "test"],
    );
    assert!(ok && out.contains("cancelled"), "{out}{err}");
    let j = repos.jobs.get(job.id).await.unwrap();
    assert_eq!(j.state, JobState::Done);
    assert!(
        j.last_error
            .unwrap()
            .contains("cancelled by an operator: test")
    );

    // force-delete: a provisioning tenant with a queued job → deleting, job cancelled, cleanup queued.
    let mut conn = db.pool.get().await.unwrap();
    diesel::sql_query("UPDATE management.tenants SET state = 'provisioning' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(t.id.as_uuid())
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let again = repos
        .jobs
        .enqueue(NewJob {
            kind: JobKind::Provision,
            tenant_id: Some(t.id),
            payload: serde_json::json!({}),
            max_attempts: Some(3),
        })
        .await
        .unwrap();
    let (ok, out, err) = run(
        &url,
        &[
            "tenants",
            "force-delete",
            &t.id.to_string(),
            "--reason",
            "abuse",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("provisioning -> deleting") && out.contains("1 job(s) cancelled"),
        "{out}"
    );
    assert_eq!(
        repos.tenants.get(t.id).await.unwrap().state,
        TenantState::Deleting
    );
    assert_eq!(
        repos.jobs.get(again.id).await.unwrap().state,
        JobState::Done
    );
    let jobs = repos.jobs.list_for_tenant(t.id).await.unwrap();
    assert!(
        jobs.iter()
            .any(|j| j.kind == JobKind::Cleanup && j.state == JobState::Queued),
        "{jobs:?}"
    );

    let (ok, out, err) = run(&url, &["tenants", "show", &t.id.to_string()]);
    assert!(ok, "{err}");
    assert!(
        out.contains("state=deleting") && out.contains("cleanup_started"),
        "{out}"
    );
    assert!(
        out.contains("deletion forced by an operator: abuse"),
        "{out}"
    );

    // Unknown tenant: an error naming it, nothing written.
    let other = mgmt_domain::TenantId::new_random();
    let (ok, _, err) = run(
        &url,
        &[
            "tenants",
            "force-delete",
            &other.to_string(),
            "--reason",
            "x",
        ],
    );
    assert!(!ok && err.contains("not found"), "{err}");
    let (ok, _, err) = run(&url, &["tenants", "show", "nope"]);
    assert!(!ok && err.contains("not a tenant id"), "{err}");
}
