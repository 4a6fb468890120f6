//! The CLI contract, played against the real binaries: one flow per CLI revision (`e`: plain bearer, the
//! full command set, deploy then secrets; `h`: the current CLI, secrets then deploy), each call made and
//! decoded as `cli-contract-full.md` says the CLI makes and decodes it. This module holds what both
//! flows share: the tenant's names, the push, what the machine runs and sees, and the final checks that
//! nothing of the tenant is left and no secret reached the log.

pub mod client;
pub mod e;
pub mod h;
pub mod types;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use mgmt_test_support::oci::{build_image, skopeo_push};
use mgmt_test_support::pg_catalog::{database_exists, role_exists};
use mgmt_test_support::wait::{Check, eventually};
use serde_json::{Value, json};

use crate::stack::{Stack, random_hex};
use crate::upstream::{Holdings, holdings, machine_image, mock_state, upstream_digest};
use client::{CliClient, CliError};
use types::{Data, RegistryToken, UserMe, email_is_valid, is_masked};

/// How long provisioning, a rollout or a restart may take on a loaded CI machine.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the cleanup may take.
pub const DELETE_TIMEOUT: Duration = Duration::from_secs(90);
/// A tag of another tenant (any id but ours).
const OTHER_TENANTS_TAG: &str = "tenant-00000000-0000-4000-8000-000000000000";

/// A tenant under test and the names derived from it.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub app: String,
    pub database: String,
    pub role: String,
    /// `/api/v1/tenants/{id}`.
    pub path: String,
}

/// `POST /api/v1/tenants`: how a tenant comes to exist without the signup flow (the signup issue's).
/// Not a CLI call, so decoded loosely.
pub async fn create_tenant(stack: &Stack, cli: &CliClient, name: &str) -> anyhow::Result<Tenant> {
    stack.step("POST /api/v1/tenants (the server side of signup)");
    let created: Value = cli
        .post("/api/v1/tenants", &json!({"name": name, "region": "iad"}))
        .await?;
    let id = created["data"]["id"]
        .as_str()
        .context("no data.id")?
        .to_owned();
    let app = created["data"]["fly_app_name"]
        .as_str()
        .context("no data.fly_app_name")?
        .to_owned();
    let hex = app
        .strip_prefix("sp-")
        .with_context(|| format!("app name {app} is not sp-{{12 hex}}"))?;
    println!("    tenant {id}, app {app}");
    Ok(Tenant {
        path: format!("/api/v1/tenants/{id}"),
        database: format!("site_{hex}"),
        role: format!("tenant_{hex}"),
        name: name.to_owned(),
        id,
        app,
    })
}

/// `GET /api/v1/auth/me`, with the checks the CLI's credential save makes (a valid email; every tenant
/// with a non-empty id, name and database URL).
pub async fn auth_me(cli: &CliClient) -> anyhow::Result<UserMe> {
    let me: UserMe = cli.get("/api/v1/auth/me").await?;
    ensure!(
        email_is_valid(&me.user.email),
        "the CLI refuses (H: panics on) the email {:?}",
        me.user.email
    );
    for t in &me.tenants {
        ensure!(
            !t.id.is_empty() && !t.name.is_empty() && !t.database_url.is_empty(),
            "a tenant the CLI cannot store: {t:?}"
        );
    }
    Ok(me)
}

/// `/auth/me` lists the tenant, active, its database URL masked the way the CLI recognises.
pub async fn listed_in_me(cli: &CliClient, tenant: &Tenant) -> anyhow::Result<types::TenantInfo> {
    let me = auth_me(cli).await?;
    let info = me
        .tenants
        .into_iter()
        .find(|t| t.id == tenant.id)
        .context("New tenant not found after checkout: /auth/me does not list it")?;
    ensure!(info.name == tenant.name, "name {:?}", info.name);
    ensure!(
        info.status == Some(types::TenantInfoStatus::Active),
        "status {:?}",
        info.status
    );
    ensure!(
        is_masked(&info.database_url),
        "database_url {:?} is not masked as …:********@… (the CLI would push it as a real URL)",
        info.database_url
    );
    ensure!(info.hostname.as_deref().is_some_and(|h| !h.contains("://")));
    Ok(info)
}

/// The tenant is gone from `/auth/me` (the CLI would re-add it at the next `tenant list` otherwise).
pub async fn gone_from_me(cli: &CliClient, tenant: &Tenant) -> anyhow::Result<()> {
    let me = auth_me(cli).await?;
    ensure!(
        me.tenants.iter().all(|t| t.id != tenant.id),
        "/auth/me still lists the deleted tenant"
    );
    Ok(())
}

/// `GET registry-token`, then docker's push done by skopeo (after showing a push to another tenant's
/// tag is refused). Returns the credential and the pushed digest.
pub async fn registry_token_and_push(
    stack: &Stack,
    cli: &CliClient,
    tenant: &Tenant,
) -> anyhow::Result<(RegistryToken, String)> {
    stack.step("GET registry-token");
    let cred: Data<RegistryToken> = cli.get(&format!("{}/registry-token", tenant.path)).await?;
    let cred = cred.data;
    ensure!(
        !cred.registry.contains('/') && !cred.registry.contains("://"),
        "registry {:?} is not a bare host",
        cred.registry
    );
    ensure!(
        cred.tag == format!("tenant-{}", tenant.id),
        "tag {}",
        cred.tag
    );

    ensure!(
        cred.token != stack.fly_token,
        "registry-token handed out the Fly token"
    );

    let dir = tempfile::tempdir()?;
    let layer = format!("hello from tenant {} ({})", tenant.id, random_hex());
    let image = build_image(dir.path(), "e2e", &[layer.as_bytes()], false)?;
    let creds = Some((cred.username.as_str(), cred.token.as_str()));

    stack.step("push to another tenant's tag is refused");
    let other = format!("{}/{}:{OTHER_TENANTS_TAG}", cred.registry, cred.repository);
    match skopeo_push(&image, &other, creds, &["--retry-times", "0"]).await {
        Ok(()) => bail!("the gateway let a tenant credential push another tenant's tag"),
        Err(e) => ensure!(
            format!("{e:#}").contains("denied"),
            "the push failed, but not as denied: {e:#}"
        ),
    }
    if let Some(digest) = upstream_digest(stack, &cred.repository, OTHER_TENANTS_TAG).await? {
        bail!("another tenant's tag exists upstream after a refused push: {digest}");
    }

    let reference = format!("{}/{}:{}", cred.registry, cred.repository, cred.tag);
    stack.step(&format!("docker push {reference} (skopeo)"));
    skopeo_push(&image, &reference, creds, &[])
        .await
        .context("skopeo push through the gateway")?;
    let digest = upstream_digest(stack, &cred.repository, &cred.tag)
        .await?
        .context("the pushed tag is not upstream")?;
    ensure!(
        digest == image.top_digest(),
        "upstream has {digest}, the image pushed is {}",
        image.top_digest()
    );
    println!("    pushed {digest}");
    Ok((cred, digest))
}

/// Waits until the tenant's machine runs `digest` and booted with every `expected` secret value (as Fly
/// gives app secrets to a machine: fixed at its start).
pub async fn machine_runs_with(
    stack: &Stack,
    tenant: &Tenant,
    digest: &str,
    expected: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    eventually(SETTLE_TIMEOUT, || async {
        let state = match mock_state(stack).await {
            Ok(s) => s,
            Err(e) => return Check::not_yet(format!("{e:#}")),
        };
        let Some(image) = machine_image(&state, &tenant.app) else {
            return Check::not_yet("no machine yet".to_owned());
        };
        if !image.ends_with(&format!("@{digest}")) {
            return Check::not_yet(format!("the machine runs {image}, not {digest}"));
        }
        let env = crate::upstream::machine_env(&state, &tenant.app);
        let missing: Vec<&String> = expected
            .iter()
            .filter(|(k, v)| env.get(*k) != Some(&crate::upstream::value_digest(v)))
            .map(|(k, _)| k)
            .collect();
        if missing.is_empty() {
            Check::Done(())
        } else {
            Check::not_yet(format!(
                "the machine booted without the current value of {missing:?}"
            ))
        }
    })
    .await
    .context("the machine never ran the pushed digest with the tenant's secrets")
}

/// After the delete: `/status` 404 (or `deleted`), nothing left at Fly, upstream or on the database
/// server; then the server is stopped and its log searched for every secret the flow handled.
pub async fn nothing_left_and_no_secret_logged(
    stack: &Stack,
    cli: &CliClient,
    tenant: &Tenant,
    repository: &str,
    secrets: &[&str],
) -> anyhow::Result<()> {
    stack.step("status until gone");
    eventually(DELETE_TIMEOUT, || async {
        match cli
            .get::<Data<types::TenantStatus>>(&format!("{}/status", tenant.path))
            .await
        {
            Err(CliError::Api { code, .. }) if code.contains("not_found") => Check::Done(()),
            Ok(s) if s.data.status == "deleted" => Check::Done(()),
            Ok(s) => Check::not_yet(format!("status {}", s.data.status)),
            Err(e) => Check::not_yet(e.text()),
        }
    })
    .await
    .context("the tenant never went away")?;

    stack.step("nothing of the tenant is left (Fly, registry, database server)");
    let tag = format!("tenant-{}", tenant.id);
    let held = holdings(&mock_state(stack).await?, &tenant.app, &tag);
    println!("    mock-fly holds {held}");
    ensure!(
        held == Holdings::NOTHING,
        "mock-fly still holds something of {}: {held}",
        tenant.app
    );
    if let Some(left) = upstream_digest(stack, repository, &tag).await? {
        bail!("the upstream registry still has {repository}:{tag} -> {left}");
    }
    ensure!(
        !database_exists(&stack.admin_url(), &tenant.database).await?,
        "the tenant database {} still exists",
        tenant.database
    );
    ensure!(
        !role_exists(&stack.admin_url(), &tenant.role).await?,
        "the tenant role {} still exists",
        tenant.role
    );

    stack.step("stop management-api; no secret in its log");
    stack.stop_api()?;
    let log = stack.api_log();
    ensure!(
        log.contains("management-api started") && log.contains(&tenant.id),
        "the management-api log does not cover the flow"
    );
    ensure!(
        !log.contains(&stack.fly_token),
        "the Fly token appears in the management-api log"
    );
    for (i, secret) in secrets.iter().enumerate() {
        ensure!(
            secret.len() >= 8 && !log.contains(secret),
            "secret #{i} of the flow appears in the management-api log"
        );
    }
    Ok(())
}

/// The password part of a `postgres://user:password@host/db` URL.
pub fn password_of(url: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url).with_context(|| format!("not a URL: {url}"))?;
    parsed
        .password()
        .map(str::to_owned)
        .context("the database URL has no password")
}

/// 64 random alphanumerics, as the CLI generates `JWT_SECRET` and `OAUTH_AT_REST_PEPPER`.
pub fn cli_generated_secret() -> String {
    format!("{}{}", random_hex(), random_hex())
}
