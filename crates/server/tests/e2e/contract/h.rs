//! Revision H of the CLI (current): no signup, restart, domain or cancel commands; the tenant exists
//! server-side and arrives through `/auth/me`; `profile create` reads `secrets_url`; `cloud deploy` PUTs the
//! secrets (with `SIGNING_KEY_PEM` and `OAUTH_AT_REST_PEPPER`) *before* the deploy call and re-sends the
//! deploy once after a 401; then rotate-credentials and delete. Every tenant-scoped call carries the token
//! of the RFC 8693 exchange (§7), `/auth/me` and `/tenants` the login JWT; a 401 on a tenant call makes the
//! CLI exchange again and resend once.

use std::collections::BTreeMap;

use anyhow::{Context as _, ensure};
use base64::Engine as _;
use serde_json::json;

use super::client::CliClient;
use super::types::*;
use super::*;
use crate::stack::Stack;

/// A PEM of a few KB, as `SIGNING_KEY_PEM` carries it (standard base64 with padding).
fn signing_key_pem() -> String {
    let body: String = (0..80).map(|_| random_hex()).collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        body.as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    );
    base64::engine::general_purpose::STANDARD.encode(pem)
}

pub async fn run(stack: &Stack) -> anyhow::Result<()> {
    stack.step("token mint (the login's JWT)");
    let jwt = stack.mint_token().await?;
    let cli = CliClient::new(&stack.api_url, &jwt)?;
    let me = auth_me(&cli).await?;

    let tenant = create_tenant(stack, &cli, "h shop").await?;

    stack.step("token exchange (§7): without client_id (v0.11–v0.22), then with client_id=sp_web");
    let (_, old_lifetime) = cli.exchange(None).await?;
    let (token, lifetime) = cli.exchange(Some("sp_web")).await?;
    ensure!(
        old_lifetime > 30 && lifetime > 30,
        "a lifetime of 30 s or less makes the CLI exchange before every call"
    );
    ensure!(token != jwt, "the exchange handed back the subject token");
    let xch = cli.with_token(&token);

    stack.step("a 401 on a tenant call: the CLI exchanges again and resends once");
    let stale = cli.with_token("eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjF9.c3RhbGU");
    match stale
        .get::<Data<TenantStatus>>(&format!("{}/status", tenant.path))
        .await
    {
        Err(super::client::CliError::Auth) => {}
        other => anyhow::bail!("a stale token was not a 401: {other:?}"),
    }
    let (fresh, _) = cli.exchange(Some("sp_web")).await?;
    cli.with_token(&fresh)
        .get::<Data<TenantStatus>>(&format!("{}/status", tenant.path))
        .await?;

    stack.step("the tenant becomes ready server-side (H does not wait; `status` shows it)");
    eventually(SETTLE_TIMEOUT, || async {
        match xch
            .get::<Data<TenantStatus>>(&format!("{}/status", tenant.path))
            .await
        {
            Ok(s) if s.data.status == "ready" => Check::Done(()),
            Ok(s) if s.data.status == "failed" => {
                Check::Fail(anyhow::anyhow!("failed: {:?}", s.data.message))
            }
            Ok(s) => Check::not_yet(format!("{} {:?}", s.data.status, s.data.message)),
            Err(e) => Check::not_yet(e.text()),
        }
    })
    .await?;

    stack.step("cloud tenant list / cloud status: /auth/me, GET /tenants, GET status");
    let info = listed_in_me(&cli, &tenant).await?;
    let list: Data<Vec<TenantListItem>> = cli.get("/api/v1/tenants").await?;
    ensure!(list.data.iter().any(|t| t.id == tenant.id));
    let status: Data<TenantStatus> = xch.get(&format!("{}/status", tenant.path)).await?;
    println!(
        "    {}: {}",
        status.data.status,
        status.data.message.as_deref().unwrap_or("")
    );

    stack.step("cloud profile create: the masked URL makes it fetch secrets_url");
    ensure!(is_masked(&info.database_url));
    let secrets_url = status
        .data
        .secrets_url
        .context("profile create needs secrets_url")?;
    let secrets: TenantSecretsH = xch.get_secrets_url(&secrets_url).await?;
    let internal_url = secrets.internal_database_url.clone();
    let db_password = password_of(&internal_url)?;

    stack.step("cloud deploy: registry-token, push");
    let (cred, digest) = registry_token_and_push(stack, &xch, &tenant).await?;
    let image = format!("{}/{}:{}", cred.registry, cred.repository, cred.tag);

    stack.step("the secrets PUTs, before the deploy (the tenant has no machine yet)");
    let pepper = cli_generated_secret();
    let pem = signing_key_pem();
    ensure!(pem.len() > 2048, "the PEM should be several KB");
    let secrets_path = format!("{}/secrets", tenant.path);
    xch.put_no_content(
        &secrets_path,
        &json!({"secrets": {
            "DATABASE_URL": internal_url,
            "OAUTH_AT_REST_PEPPER": pepper,
            "ANTHROPIC_API_KEY": "anthropic-e2e-key",
            "SIGNING_KEY_PEM": pem,
        }}),
    )
    .await?;
    xch.put_no_content(
        &secrets_path,
        &json!({"secrets": {
            "SYSTEMPROMPT_API_TOKEN": jwt,
            "SYSTEMPROMPT_USER_EMAIL": me.user.email,
            "SYSTEMPROMPT_CLI_REMOTE": "true",
        }}),
    )
    .await?;
    let profile = "/app/services/profiles/cloud/profile.yaml";
    xch.put_no_content(
        &secrets_path,
        &json!({"secrets": {"SYSTEMPROMPT_PROFILE": profile}}),
    )
    .await?;

    stack.step("POST deploy, then the same POST again (the CLI's resend after a 401)");
    let body = json!({"image": image});
    let first: Data<DeployResponse> = xch.post(&format!("{}/deploy", tenant.path), &body).await?;
    let second: Data<DeployResponse> = xch.post(&format!("{}/deploy", tenant.path), &body).await?;
    println!("    {} then {}", first.data.status, second.data.status);

    stack.step("the first boot already has every value");
    let mut expected: BTreeMap<String, String> = [
        ("DATABASE_URL", internal_url.as_str()),
        ("OAUTH_AT_REST_PEPPER", pepper.as_str()),
        ("ANTHROPIC_API_KEY", "anthropic-e2e-key"),
        ("SIGNING_KEY_PEM", pem.as_str()),
        ("SYSTEMPROMPT_API_TOKEN", jwt.as_str()),
        ("SYSTEMPROMPT_CLI_REMOTE", "true"),
        ("SYSTEMPROMPT_PROFILE", profile),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    machine_runs_with(stack, &tenant, &digest, &expected).await?;
    let deployments = stack.deployment_count(&tenant.id).await?;
    ensure!(
        deployments == 1,
        "the re-sent deploy made {deployments} deployments, not one"
    );

    stack.step("tenant rotate-credentials");
    let rotated: RotateCredentials = xch
        .post_empty(&format!("{}/rotate-credentials", tenant.path))
        .await?;
    let new_password = password_of(&rotated.internal_database_url)?;
    ensure!(new_password != db_password, "the password did not change");
    expected.insert("DATABASE_URL".into(), rotated.internal_database_url.clone());
    machine_runs_with(stack, &tenant, &digest, &expected).await?;

    stack.step("tenant delete, then gone from /auth/me");
    xch.delete_no_content(&tenant.path).await?;
    gone_from_me(&cli, &tenant).await?;

    nothing_left_and_no_secret_logged(
        stack,
        &xch,
        &tenant,
        &cred.repository,
        &[
            &cred.token,
            &db_password,
            &new_password,
            &pepper,
            &pem,
            &token,
        ],
    )
    .await
}
