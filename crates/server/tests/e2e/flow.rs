//! The steps, in the order the CLI takes them, then the checks that nothing is left.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use mgmt_test_support::oci::{build_image, skopeo_push};
use mgmt_test_support::pg_catalog::{database_exists, role_exists};
use mgmt_test_support::wait::{Check, eventually};
use reqwest::Method;
use serde_json::json;

use crate::cli::{Cli, truncate};
use crate::stack::{Stack, Upstream, random_hex};
use crate::upstream::{
    Holdings, holdings, machine_image, mock_state, secret_names, upstream_digest,
};

/// How long provisioning, a deploy or a restart may take.
const STATUS_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the cleanup may take.
const DELETE_TIMEOUT: Duration = Duration::from_secs(90);
/// A tag of another tenant (any id but ours).
const OTHER_TENANTS_TAG: &str = "tenant-00000000-0000-4000-8000-000000000000";

/// Starts the stack, runs the flow; on failure prints the step, the error and the end of every log,
/// then panics. Everything is torn down either way.
pub async fn run(upstream: Upstream) {
    let started = Instant::now();
    let stack = Stack::start(upstream).await;
    if let Err(e) = cli_flow(&stack).await {
        stack.fail(e);
    }
    println!(
        "e2e passed ({}) in {:.1}s",
        upstream.name(),
        started.elapsed().as_secs_f64()
    );
}

async fn cli_flow(stack: &Stack) -> anyhow::Result<()> {
    stack.step("token mint");
    let cli = Cli::new(&stack.api_url, stack.mint_token().await?)?;

    stack.step("GET auth/me");
    cli.get("/api/v1/auth/me").await?.success()?;

    stack.step("POST /api/v1/tenants");
    let body = json!({"name": format!("e2e {}", stack.upstream.name()), "region": "iad"});
    let created = cli
        .call(Method::POST, "/api/v1/tenants", Some(body))
        .await?
        .success()?;
    let id = created.data_str("id")?.to_owned();
    let app = created.data_str("fly_app_name")?.to_owned();
    let hex = app
        .strip_prefix("sp-")
        .with_context(|| format!("app name {app} is not sp-{{12 hex}}"))?;
    let (database, role) = (format!("site_{hex}"), format!("tenant_{hex}"));
    println!("    tenant {id}, app {app}");
    let tenant = format!("/api/v1/tenants/{id}");

    stack.step("status until awaiting_deploy");
    cli.wait_status(&id, "awaiting_deploy", STATUS_TIMEOUT)
        .await?;
    let held = holdings(&mock_state(stack).await?, &app, &format!("tenant-{id}"));
    println!("    mock-fly holds {held}");
    ensure!(
        held.apps == 1
            && held.machines == 0
            && held.volumes == 1
            && held.ips >= 2
            && held.certificates == 1,
        "after provisioning expected 1 app, 0 machines, 1 volume, 2 IPs, 1 certificate; got {held}"
    );
    ensure!(
        database_exists(&stack.admin_url(), &database).await?,
        "the tenant database {database} was not created"
    );

    stack.step("GET registry-token");
    let credential = cli
        .get(&format!("{tenant}/registry-token"))
        .await?
        .success()?;
    let registry = credential.data_str("registry")?;
    let username = credential.data_str("username")?;
    let reg_token = credential.data_str("token")?;
    let repository = credential.data_str("repository")?;
    let tag = credential.data_str("tag")?;
    ensure!(
        reg_token != stack.fly_token,
        "registry-token handed out the Fly token"
    );
    ensure!(
        !credential.text.contains(&stack.fly_token),
        "the Fly token appears in the registry-token response"
    );
    println!("    push to {registry}/{repository}:{tag} as {username}");

    stack.step("skopeo push to another tenant's tag is refused");
    let image_dir = tempfile::tempdir()?;
    let layer = format!(
        "hello from the {} e2e run {}",
        stack.upstream.name(),
        random_hex()
    );
    let image = build_image(image_dir.path(), "e2e", &[layer.as_bytes()], false)?;
    let creds = Some((username, reg_token));
    let refused = skopeo_push(
        &image,
        &format!("{registry}/{repository}:{OTHER_TENANTS_TAG}"),
        creds,
        &["--retry-times", "0"],
    )
    .await;
    match refused {
        Ok(()) => bail!("the gateway let a tenant credential push another tenant's tag"),
        Err(e) => ensure!(
            format!("{e:#}").contains("denied"),
            "the push failed, but not as denied: {e:#}"
        ),
    }
    if let Some(digest) = upstream_digest(stack, repository, OTHER_TENANTS_TAG).await? {
        bail!("another tenant's tag exists upstream after a refused push: {digest}");
    }

    stack.step(&format!("skopeo push {registry}/{repository}:{tag}"));
    skopeo_push(
        &image,
        &format!("{registry}/{repository}:{tag}"),
        creds,
        &[],
    )
    .await
    .context("skopeo push through the gateway")?;
    let pushed = upstream_digest(stack, repository, tag)
        .await?
        .with_context(|| format!("upstream has no {repository}:{tag} after the push"))?;
    ensure!(
        pushed == image.top_digest(),
        "upstream {repository}:{tag} is {pushed}, the image pushed is {}",
        image.top_digest()
    );
    println!("    upstream {repository}:{tag} -> {pushed}");

    stack.step("POST deploy");
    let asked = Instant::now();
    let image_ref = format!("{registry}/{repository}:{tag}");
    let deploy = cli
        .call(
            Method::POST,
            &format!("{tenant}/deploy"),
            Some(json!({ "image": image_ref })),
        )
        .await?
        .success()?;
    println!(
        "    answered {} in {:.1}s: {}",
        deploy.status,
        asked.elapsed().as_secs_f64(),
        truncate(&deploy.text)
    );

    stack.step("status until ready");
    cli.wait_status(&id, "ready", STATUS_TIMEOUT).await?;
    let running = machine_image(&mock_state(stack).await?, &app)
        .with_context(|| format!("no machine of {app} after the deploy"))?;
    ensure!(
        running.ends_with(&format!("/{repository}@{pushed}")),
        "the machine runs {running}, not the pushed digest {pushed}"
    );
    println!("    machine runs {running}");

    stack.step("PUT secrets");
    let secrets = format!("{tenant}/secrets");
    let body = json!({"secrets": {"E2E_GREETING": "hello-e2e"}});
    cli.call(Method::PUT, &secrets, Some(body))
        .await?
        .success()?;

    stack.step("GET secrets lists the key, not the value; the value reaches the Fly app");
    let listed = cli.get(&secrets).await?.success()?;
    ensure!(
        listed.text.contains("\"E2E_GREETING\""),
        "E2E_GREETING not listed: {}",
        listed.text
    );
    ensure!(
        !listed.text.contains("hello-e2e"),
        "a secret value returned by GET secrets"
    );
    eventually(STATUS_TIMEOUT, || async {
        match mock_state(stack).await {
            Ok(state) => {
                let names = secret_names(&state, &app);
                if names.iter().any(|n| n == "E2E_GREETING") {
                    Check::Done(())
                } else {
                    Check::not_yet(format!("secrets of {app}: {names:?}"))
                }
            }
            Err(e) => Check::not_yet(format!("{e:#}")),
        }
    })
    .await
    .context("E2E_GREETING never reached the Fly app's secrets")?;

    stack.step("POST restart");
    let restart = cli
        .call(Method::POST, &format!("{tenant}/restart"), None)
        .await?
        .success()?;
    println!("    {}", truncate(&restart.text));
    cli.wait_status(&id, "ready", STATUS_TIMEOUT).await?;

    stack.step("GET events (replay)");
    let events = cli
        .events_until(&id, Duration::from_secs(15), |text| {
            text.lines().any(|l| l.starts_with("event: provisioning"))
                && text.contains(r#""event_type":"tenant_ready""#)
        })
        .await
        .context("the event stream has no tenant_ready event")?;
    println!(
        "    {} events",
        events
            .lines()
            .filter(|l| l.starts_with("event: provisioning"))
            .count()
    );

    stack.step("DELETE tenant");
    cli.call(Method::DELETE, &tenant, None).await?.success()?;

    stack.step("status until deleted");
    cli.wait_status(&id, "deleted", DELETE_TIMEOUT).await?;

    stack.step("nothing of the tenant is left (Fly, registry, database server)");
    let held = holdings(&mock_state(stack).await?, &app, tag);
    println!("    mock-fly holds {held}");
    ensure!(
        held == Holdings::NOTHING,
        "mock-fly still holds something of {app}: {held}"
    );
    if let Some(left) = upstream_digest(stack, repository, tag).await? {
        bail!("the upstream registry still has {repository}:{tag} -> {left}");
    }
    ensure!(
        !database_exists(&stack.admin_url(), &database).await?,
        "the tenant database {database} still exists"
    );
    ensure!(
        !role_exists(&stack.admin_url(), &role).await?,
        "the tenant role {role} still exists"
    );

    stack.step("stop management-api; no secret in its log");
    stack.stop_api()?;
    let log = stack.api_log();
    // The log covers the whole flow (else the check below proves nothing).
    ensure!(
        log.contains("management-api started") && log.contains(&id),
        "the management-api log does not cover the flow"
    );
    ensure!(
        !log.contains(&stack.fly_token),
        "the Fly token appears in the management-api log"
    );
    ensure!(
        !log.contains(reg_token),
        "the registry credential appears in the management-api log"
    );
    Ok(())
}
