//! The health gate of deploys and restarts: a machine counts as up only when the expected version
//! (instance id) is `started` and every health check Fly reports for it is `passing`. A process exit
//! flyd did not ask for (crash, OOM) fails the gate at once; anything else gets until the deadline.

use std::time::Duration;

use mgmt_fly_client::{ExitEvent, FlyMachines, Machine};

/// Why the machine did not come up healthy, in words for the deployment's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unhealthy(pub String);

/// Polls the machine until it is healthy, its process exits, or `within` runs out.
pub(crate) async fn wait_healthy(
    fly: &dyn FlyMachines,
    app: &str,
    machine_id: &str,
    instance_id: Option<&str>,
    within: Duration,
    poll: Duration,
) -> Result<(), Unhealthy> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last = match fly.get_machine(app, machine_id).await {
            Ok(m) => match verdict(&m, instance_id) {
                Verdict::Healthy => return Ok(()),
                Verdict::Failed(reason) => return Err(Unhealthy(reason)),
                Verdict::Pending(why) => why,
            },
            // A hiccup of Fly's API says nothing about the machine: keep looking until the deadline.
            Err(e) => format!("could not read the machine: {e}"),
        };
        if tokio::time::Instant::now() + poll >= deadline {
            return Err(Unhealthy(format!(
                "not healthy within {}s: {last}",
                within.as_secs()
            )));
        }
        tokio::time::sleep(poll).await;
    }
}

enum Verdict {
    Healthy,
    Pending(String),
    Failed(String),
}

fn verdict(m: &Machine, instance_id: Option<&str>) -> Verdict {
    if let Some(want) = instance_id
        && m.instance_id.as_deref() != Some(want)
    {
        return Verdict::Pending(format!(
            "machine still at version {}",
            m.instance_id.as_deref().unwrap_or("?")
        ));
    }
    if let Some(exit) = unrequested_exit(m) {
        return Verdict::Failed(describe_exit(exit));
    }
    match m.state.as_str() {
        "started" => {}
        "stopped" | "failed" | "destroyed" | "destroying" | "suspended" => {
            return Verdict::Failed(format!("the machine is {}", m.state));
        }
        other => return Verdict::Pending(format!("the machine is {other}")),
    }
    let failing: Vec<String> = m
        .checks
        .iter()
        .filter(|c| c.status != "passing")
        .map(|c| {
            format!(
                "health check `{}` {}: {}",
                c.name,
                c.status,
                c.output.as_deref().unwrap_or("no output")
            )
        })
        .collect();
    let configured = m.config.as_ref().map_or(0, |c| c.checks.len());
    if failing.is_empty() && m.checks.len() >= configured {
        Verdict::Healthy
    } else if failing.is_empty() {
        Verdict::Pending("health checks have not run yet".into())
    } else {
        Verdict::Pending(failing.join("; "))
    }
}

/// The newest exit flyd reports since the last request of ours (update, start, restart): events
/// are newest first, and ours carry `source: user`.
fn unrequested_exit(m: &Machine) -> Option<&ExitEvent> {
    m.events
        .iter()
        .take_while(|e| e.source.as_deref() != Some("user"))
        .filter(|e| e.kind == "exit")
        .filter_map(|e| e.request.as_ref()?.exit_event.as_ref())
        .find(|x| !x.requested_stop)
}

fn describe_exit(x: &ExitEvent) -> String {
    let code = x
        .exit_code
        .map_or_else(|| "an unknown code".to_owned(), |c| format!("code {c}"));
    if x.oom_killed {
        format!("the process was killed for running out of memory (exit {code})")
    } else {
        format!("the process exited with {code} after starting")
    }
}

#[cfg(test)]
mod tests {
    use mgmt_fly_client::{CheckStatus, MachineEvent, MachineEventRequest};

    use super::*;

    fn machine(state: &str, checks: &[(&str, &str)], events: Vec<MachineEvent>) -> Machine {
        serde_json::from_value::<Machine>(serde_json::json!({
            "id": "m1", "state": state, "instance_id": "v2",
        }))
        .map(|mut m| {
            m.checks = checks
                .iter()
                .map(|(n, s)| CheckStatus {
                    name: (*n).into(),
                    status: (*s).into(),
                    output: Some("503".into()),
                    updated_at: None,
                })
                .collect();
            m.events = events;
            m
        })
        .unwrap()
    }

    fn ev(kind: &str, source: &str, exit: Option<ExitEvent>) -> MachineEvent {
        MachineEvent {
            kind: kind.into(),
            source: Some(source.into()),
            request: exit.map(|x| MachineEventRequest {
                exit_event: Some(x),
                restart_count: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn started_with_passing_checks_at_the_right_version_is_healthy_and_nothing_less() {
        let ok = machine("started", &[("health", "passing")], vec![]);
        assert!(matches!(verdict(&ok, Some("v2")), Verdict::Healthy));
        assert!(matches!(verdict(&ok, Some("v1")), Verdict::Pending(_)));
        let critical = machine("started", &[("health", "critical")], vec![]);
        assert!(
            matches!(verdict(&critical, Some("v2")), Verdict::Pending(r) if r.contains("critical: 503"))
        );
        let starting = machine("starting", &[("health", "passing")], vec![]);
        assert!(matches!(verdict(&starting, None), Verdict::Pending(_)));
    }

    #[test]
    fn an_exit_after_our_update_fails_with_its_code_but_one_before_it_does_not() {
        let oom = ExitEvent {
            exit_code: Some(137),
            oom_killed: true,
            restarting: true,
            ..Default::default()
        };
        let crashed = machine(
            "starting",
            &[],
            vec![
                ev("exit", "flyd", Some(oom.clone())),
                ev("start", "flyd", None),
                ev("update", "user", None),
            ],
        );
        assert!(
            matches!(verdict(&crashed, Some("v2")), Verdict::Failed(r) if r.contains("out of memory") && r.contains("137"))
        );
        let older = machine(
            "started",
            &[("health", "passing")],
            vec![ev("update", "user", None), ev("exit", "flyd", Some(oom))],
        );
        assert!(matches!(verdict(&older, Some("v2")), Verdict::Healthy));
    }
}
