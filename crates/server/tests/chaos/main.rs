//! Chaos harness (issue 16's proof): the real `management-api` (two replicas on one database, two
//! workers each) and the real `mock-fly` binary, many tenant lifecycles (create → deploy → redeploy
//! → secrets → delete) through the HTTP API while random faults are injected through
//! `/__mock/faults` and a random replica is `kill -9`ed (and restarted) at random moments. At the
//! end, after the reconciler has run: every tenant is `deleted`, no job is stuck, and mock-fly, the
//! registry and the tenant cluster hold nothing of any tenant. Seeded (`CHAOS_SEED`, printed), so a
//! failure can be replayed; `CHAOS_TENANTS` sets the number of lifecycles (default 6).

mod stack;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use stack::{ChaosStack, REPOSITORY};

/// Faults the driver injects (selectors are mock-fly operation names).
const CREATE_OPS: &[&str] = &[
    "create_app",
    "create_volume",
    "assign_ip",
    "create_certificate",
    "set_secrets",
    "create_machine",
    "update_machine",
    "acquire_lease",
    "delete_app",
    "delete_machine",
    "delete_volume",
];

/// How long one step of a lifecycle may take (faults and kills included).
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long all lifecycles together may take: the run is bounded (nextest stops a test at 180 s).
const LIFECYCLE_BUDGET: Duration = Duration::from_secs(90);
/// How long the system has to converge once the faults stop: Fly's circuit breaker opened by the
/// last faults stays open for its 30 s cool-down before cleanup can reach Fly again, then the
/// cleanup's backoff runs; 30 s could not be met by construction.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Tally {
    faults: BTreeMap<&'static str, u64>,
    kills: u64,
    /// `tenant: what went wrong` for every lifecycle step that did not reach its goal.
    symptoms: Vec<String>,
}

async fn inject(stack: &ChaosStack, rng: &mut StdRng, tally: &mut Tally) -> anyhow::Result<()> {
    let op = CREATE_OPS[rng.gen_range(0..CREATE_OPS.len())];
    let status = [500, 502, 503][rng.gen_range(0..3)];
    let (kind, body) = match rng.gen_range(0..6) {
        0 => (
            "fail_next",
            json!({"kind": "fail_next", "op": op, "count": rng.gen_range(1..4), "status": status}),
        ),
        1 => (
            "drop_connection",
            json!({"kind": "drop_connection", "op": op, "n": 1}),
        ),
        2 => (
            "latency",
            json!({"kind": "latency", "op": op, "ms": rng.gen_range(200..1500)}),
        ),
        3 => (
            "rate_limit",
            json!({"kind": "rate_limit", "op": "*", "count": rng.gen_range(3..12), "retry_after": 1}),
        ),
        4 => (
            "fly_down",
            json!({"kind": "down", "status": 503, "for_ms": rng.gen_range(1000..5000)}),
        ),
        _ => (
            "linger",
            json!({"kind": "linger", "ms": rng.gen_range(500..4000)}),
        ),
    };
    stack.fault(&body).await?;
    *tally.faults.entry(kind).or_default() += 1;
    Ok(())
}

/// Waits until the tenant's `/status` satisfies `done`; a `failed` tenant is retried as its owner
/// would (`retry-provision`), and counted as a symptom.
async fn wait_status(
    stack: &ChaosStack,
    token: &str,
    id: &str,
    what: &str,
    symptoms: &tokio::sync::Mutex<Vec<String>>,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let start = Instant::now();
    let mut retried = 0;
    loop {
        if let Ok((200, body)) = stack
            .api(token, "GET", &format!("/api/v1/tenants/{id}/status"), None)
            .await
        {
            let data = &body["data"];
            if done(data) {
                return Ok(data.clone());
            }
            if data["state"] == "failed" && what == "ready" && retried < 3 {
                symptoms.lock().await.push(format!(
                    "{id}: provisioning failed ({}); retry-provision",
                    data["message"]
                ));
                retried += 1;
                let _ = stack
                    .api(
                        token,
                        "POST",
                        &format!("/api/v1/tenants/{id}/retry-provision"),
                        None,
                    )
                    .await;
            }
        } else if let Ok((404, _)) = stack
            .api(token, "GET", &format!("/api/v1/tenants/{id}/status"), None)
            .await
            && what == "deleted"
        {
            return Ok(Value::Null);
        }
        if start.elapsed() > STEP_TIMEOUT {
            let last = stack
                .api(token, "GET", &format!("/api/v1/tenants/{id}/status"), None)
                .await
                .map(|(_, b)| b)
                .unwrap_or(Value::Null);
            bail!("{id}: not {what} after {STEP_TIMEOUT:?}; last status {last}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// One lifecycle; returns the tenant id (even on a failed step, so the end can check it).
async fn lifecycle(
    stack: &ChaosStack,
    n: usize,
    symptoms: &tokio::sync::Mutex<Vec<String>>,
    ids: &tokio::sync::Mutex<Vec<(String, String)>>,
    stages: &std::sync::Mutex<Vec<String>>,
) -> anyhow::Result<()> {
    // What this lifecycle is waiting for, printed if it is still unfinished when the budget ends.
    let reach = |what: String| {
        if let Ok(mut s) = stages.lock() {
            s[n] = what;
        }
    };
    reach("creating".into());
    let token = stack.mint(n)?;
    let token = token.as_str();
    let (s, body) = stack
        .api_retry(
            token,
            "POST",
            "/api/v1/tenants",
            Some(json!({"name": format!("chaos-{n}")})),
        )
        .await?;
    if s != 202 && s != 201 {
        bail!("create answered {s}: {body}");
    }
    let id = body["data"]["id"].as_str().context("tenant id")?.to_owned();
    ids.lock().await.push((id.clone(), token.to_owned()));
    reach(format!("{id}: waiting for ready"));
    wait_status(stack, token, &id, "ready", symptoms, |d| {
        d["status"] == "ready"
    })
    .await?;
    let image = format!("{}/{REPOSITORY}:tenant-{id}", stack.gateway_host);
    for round in 0..2 {
        reach(format!("{id}: pushing image {round}"));
        let digest = stack
            .push_image(token, &id, &format!("{id}-{round}"))
            .await?;
        let (s, b) = stack
            .api_retry(
                token,
                "POST",
                &format!("/api/v1/tenants/{id}/deploy"),
                Some(json!({"image": image})),
            )
            .await?;
        if s != 202 && s != 200 {
            bail!("{id}: deploy {round} answered {s}: {b}");
        }
        reach(format!("{id}: waiting for deploy {round} to run {digest}"));
        wait_status(stack, token, &id, "running", symptoms, |d| {
            d["state"] == "running" && d["deployed_digest"] == digest.as_str()
        })
        .await
        .with_context(|| format!("deploy {round}"))?;
    }
    reach(format!("{id}: setting secrets"));
    let (s, b) = stack
        .api_retry(
            token,
            "PUT",
            &format!("/api/v1/tenants/{id}/secrets"),
            Some(json!({"secrets": {"CHAOS_KEY": format!("value-{n}")}})),
        )
        .await?;
    if !(200..300).contains(&s) {
        bail!("{id}: secrets answered {s}: {b}");
    }
    reach(format!("{id}: waiting for the secrets rollout"));
    wait_status(stack, token, &id, "running", symptoms, |d| {
        d["state"] == "running"
    })
    .await?;
    reach(format!("{id}: deleting"));
    let (s, b) = stack
        .api_retry(token, "DELETE", &format!("/api/v1/tenants/{id}"), None)
        .await?;
    reach(format!("{id}: done"));
    if !(200..300).contains(&s) {
        bail!("{id}: delete answered {s}: {b}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_lifecycles_converge_with_nothing_leaked() {
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::random::<u32>() as u64);
    let tenants: usize = std::env::var("CHAOS_TENANTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    println!("chaos: CHAOS_SEED={seed} CHAOS_TENANTS={tenants}");
    let stack = ChaosStack::start().await.expect("the stack starts");
    let started = Instant::now();
    let symptoms = tokio::sync::Mutex::new(Vec::new());
    let ids = tokio::sync::Mutex::new(Vec::new());
    let stages = std::sync::Mutex::new(vec![String::from("not started"); tenants]);
    let mut tally = Tally::default();
    let mut rng = StdRng::seed_from_u64(seed);

    // Every lifecycle runs at once while the driver breaks things, within the budget.
    let work = async {
        let runs = (0..tenants).map(|n| {
            let (stack, symptoms, ids, stages) = (&stack, &symptoms, &ids, &stages);
            async move {
                let r = lifecycle(stack, n, symptoms, ids, stages).await;
                if let (Err(e), Ok(mut s)) = (&r, stages.lock()) {
                    s[n] = format!("failed: {e:#}");
                }
                r
            }
        });
        futures::future::join_all(runs).await
    };
    let mut next_fault = Instant::now() + Duration::from_millis(rng.gen_range(500..2000));
    let mut next_kill = Instant::now() + Duration::from_secs(rng.gen_range(4..10));
    let results = {
        tokio::pin!(work);
        loop {
            if started.elapsed() > LIFECYCLE_BUDGET {
                let stages = stages.lock().map(|s| s.clone()).unwrap_or_default();
                break stages
                    .into_iter()
                    .map(|stage| match stage.as_str() {
                        s if s.ends_with(": done") => Ok(()),
                        s if s.starts_with("failed: ") => Err(anyhow::anyhow!("{s}")),
                        s => Err(anyhow::anyhow!(
                            "unfinished within {LIFECYCLE_BUDGET:?}; last reached: {s}"
                        )),
                    })
                    .collect::<Vec<anyhow::Result<()>>>();
            }
            tokio::select! {
                r = &mut work => break r,
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            let now = Instant::now();
            if now >= next_fault {
                if let Err(e) = inject(&stack, &mut rng, &mut tally).await {
                    tally
                        .symptoms
                        .push(format!("fault injection failed: {e:#}"));
                }
                next_fault = now + Duration::from_millis(rng.gen_range(500..2500));
            }
            if now >= next_kill {
                let which = rng.gen_range(0..2);
                stack.kill9(which);
                tally.kills += 1;
                tokio::time::sleep(Duration::from_millis(rng.gen_range(200..1500))).await;
                if let Err(e) = stack.restart(which).await {
                    tally
                        .symptoms
                        .push(format!("restart of replica {which} failed: {e:#}"));
                }
                next_kill = Instant::now() + Duration::from_secs(rng.gen_range(6..15));
            }
        }
    };
    for r in &results {
        if let Err(e) = r {
            tally.symptoms.push(format!("lifecycle: {e:#}"));
        }
    }
    let lifecycle_time = started.elapsed();

    // Faults off; every tenant the run made is deleted (again, if a lifecycle stopped short).
    stack.clear_faults().await.expect("faults cleared");
    stack.ensure_running().await.expect("both replicas run");
    let owned = ids.into_inner();
    let ids: Vec<String> = owned.iter().map(|(id, _)| id.clone()).collect();
    for (id, token) in &owned {
        let _ = stack
            .api_retry(token, "DELETE", &format!("/api/v1/tenants/{id}"), None)
            .await;
    }
    let converge_start = Instant::now();
    let converged = stack.converge(&ids, CONVERGE_TIMEOUT).await;
    let converge_time = converge_start.elapsed();
    let leaks = stack
        .leaks(&ids)
        .await
        .unwrap_or_else(|e| vec![format!("leak check failed: {e:#}")]);
    let stuck = stack
        .stuck(&ids)
        .await
        .unwrap_or_else(|e| vec![format!("stuck check failed: {e:#}")]);
    let injected = stack.fired().await.unwrap_or_default();
    tally.symptoms.extend(symptoms.into_inner());

    println!("\nchaos results (seed {seed})");
    println!(
        "| lifecycles | {tenants} ({} completed) |",
        results.iter().filter(|r| r.is_ok()).count()
    );
    for (k, v) in &tally.faults {
        println!("| faults injected: {k} | {v} |");
    }
    println!("| calls answered by a fault (mock-fly) | {injected} |");
    println!("| kill -9 | {} |", tally.kills);
    println!("| leaks | {} |", leaks.len());
    println!("| stuck tenants | {} |", stuck.len());
    println!(
        "| lifecycles took | {:.1} s |",
        lifecycle_time.as_secs_f64()
    );
    println!(
        "| time to converge | {:.1} s{} |",
        converge_time.as_secs_f64(),
        if converged.is_ok() { "" } else { " (did not)" }
    );
    for s in &tally.symptoms {
        println!("  symptom: {s}");
    }
    for l in &leaks {
        println!("  LEAK: {l}");
    }
    for s in &stuck {
        println!("  STUCK: {s}");
    }
    let ok = leaks.is_empty()
        && stuck.is_empty()
        && converged.is_ok()
        && results.iter().all(Result::is_ok);
    if !ok {
        stack.keep_logs();
        panic!(
            "chaos (seed {seed}) did not converge cleanly: {} leak(s), {} stuck, converge: {:?}, {} failed lifecycle(s); logs kept in {}",
            leaks.len(),
            stuck.len(),
            converged.err(),
            results.iter().filter(|r| r.is_err()).count(),
            stack.log_dir().display()
        );
    }
}
