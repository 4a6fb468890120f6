//! The workers report every settled job attempt to the configured [`JobObserver`]: successes of
//! provision, deploy and cleanup, and the retries of a cleanup step that keeps failing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{Harness, images};
use mgmt_domain::{JobKind, TenantState};
use mgmt_provisioner::{JobObserver, JobOutcome, TenantService};
use mgmt_test_support::wait::{Check, eventually};

const T: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Recorder(Mutex<Vec<(JobKind, JobOutcome)>>);

impl JobObserver for Recorder {
    fn on_job_outcome(&self, kind: JobKind, outcome: JobOutcome, _elapsed: Duration) {
        self.0.lock().unwrap().push((kind, outcome));
    }
}

impl Recorder {
    fn count(&self, kind: JobKind, outcome: JobOutcome) -> usize {
        let seen = self.0.lock().unwrap();
        seen.iter().filter(|e| **e == (kind, outcome)).count()
    }

    async fn wait_for(&self, kind: JobKind, outcome: JobOutcome) {
        eventually(T, || async {
            if self.count(kind, outcome) > 0 {
                Check::Done(())
            } else {
                Check::not_yet(format!("{:?}", self.0.lock().unwrap()))
            }
        })
        .await
        .unwrap_or_else(|e| panic!("waiting for a {kind:?} {outcome:?} report: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_report_successes_and_retries_to_the_observer() {
    let mut h = Harness::start().await;
    let recorder = Arc::new(Recorder::default());
    h.service = Arc::new(
        TenantService::new(
            h.repos.clone(),
            h.fly.clone(),
            h.registry.clone(),
            h.admin.clone(),
            h.service.config().clone(),
        )
        .with_job_observer(recorder.clone()),
    );
    h.start_workers();

    let t = h.provisioned("observed", "basic").await;
    recorder
        .wait_for(JobKind::Provision, JobOutcome::Succeeded)
        .await;
    images::push(&h, &t.id, "observed-image").await;
    h.service
        .deploy(h.customer.id, t.id, &h.image(&t.id))
        .await
        .unwrap();
    h.wait_state(t.id, TenantState::Running, T).await;
    recorder
        .wait_for(JobKind::Deploy, JobOutcome::Succeeded)
        .await;

    h.mock.faults().fail_next("delete_app", 10_000, 500);
    h.service.delete_tenant(h.customer.id, t.id).await.unwrap();
    recorder
        .wait_for(JobKind::Cleanup, JobOutcome::Retried)
        .await;
    assert_eq!(recorder.count(JobKind::Cleanup, JobOutcome::Succeeded), 0);
    h.mock.faults().clear();
    h.wait_state(t.id, TenantState::Deleted, T).await;
    recorder
        .wait_for(JobKind::Cleanup, JobOutcome::Succeeded)
        .await;
    assert_eq!(recorder.count(JobKind::Provision, JobOutcome::Failed), 0);
    h.stop_workers().await;
}
