//! Revision E of the CLI (plain bearer everywhere, the full command set), command by command as §6 of
//! the contract lists its calls: login → (signup's server side) → the provisioning wait → secrets_url →
//! external DB access → `/auth/me` → deploy (push, deploy, then the three secrets PUTs) → the machine
//! sees the values → secrets set/unset/cleanup → restart → rotate-credentials → custom domain →
//! subscription cancel → delete → gone from `/auth/me` → logout.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};

use super::client::{CliClient, CliError, WaitOutcome};
use super::types::*;
use super::*;
use crate::stack::Stack;

fn activity(event: &str, user: &str) -> Value {
    json!({
        "event": event,
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false),
        "data": {"user_id": user},
    })
}

pub async fn run(stack: &Stack) -> anyhow::Result<()> {
    stack.step("token mint (the login's JWT)");
    let jwt = stack.mint_token().await?;
    let cli = CliClient::new(&stack.api_url, &jwt)?;

    stack.step("login: GET /auth/me, POST /activity cloud_login");
    let me = auth_me(&cli).await?;
    cli.post_no_content("/api/v1/activity", &activity("cloud_login", &me.user.id))
        .await?;

    let tenant = create_tenant(stack, &cli, "e shop").await?;

    stack.step("tenant create step 6: the tenant stream until tenant_ready (then polling)");
    let started = Instant::now();
    match cli.wait_provisioned(&tenant.id).await? {
        WaitOutcome::StreamReady(event) => {
            ensure!(event.tenant_id == tenant.id, "{event:?}");
            println!(
                "    tenant_ready on the stream after {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
        WaitOutcome::PolledReady { attempts } => {
            bail!("the stream never said tenant_ready (status said ready after {attempts} polls)")
        }
    }

    stack.step("step 7: GET status → secrets_url → GET <secrets_url>");
    let status: Data<TenantStatus> = cli.get(&format!("{}/status", tenant.path)).await?;
    ensure!(status.data.status == "ready", "{:?}", status.data);
    let secrets_url = status
        .data
        .secrets_url
        .context("Tenant is ready but secrets URL is missing")?;
    ensure!(
        secrets_url.starts_with('/') || secrets_url.starts_with(&stack.api_url),
        "secrets_url {secrets_url} cannot be appended to the API URL"
    );
    ensure!(
        !secrets_url.trim_end_matches('/').ends_with("/secrets"),
        "secrets_url is the secrets listing"
    );
    let secrets: TenantSecretsE = cli.get_secrets_url(&secrets_url).await?;
    let platform_jwt_secret = secrets.jwt_secret.clone();
    ensure!(
        platform_jwt_secret.len() >= 32,
        "jwt_secret shorter than 32"
    );
    let internal_url = secrets.database_url.clone();
    let db_password = password_of(&internal_url)?;
    ensure!(
        secrets.internal_database_url == internal_url,
        "without external access both URLs are the internal one"
    );
    // Another customer cannot read them.
    let stranger = cli.with_token(&stack.mint_token_for("e-stranger").await?);
    match stranger.get_secrets_url::<Value>(&secrets_url).await {
        Err(CliError::Api { code, .. }) if code.contains("not_found") => {}
        other => bail!("another customer read the tenant's secrets: {other:?}"),
    }

    stack.step("step 8: PUT external-db-access {enabled: true} (the CLI only warns on failure)");
    let access: Data<ExternalDbAccess> = cli
        .put(
            &format!("{}/external-db-access", tenant.path),
            &json!({"enabled": true}),
        )
        .await
        .context("this stack configures a public database endpoint")?;
    ensure!(access.data.tenant_id == tenant.id && access.data.external_db_access);
    ensure!(
        access.data.database_url.contains("sslmode=require")
            && password_of(&access.data.database_url)? == db_password,
        "external URL {:?}",
        access.data.database_url.replace(&db_password, "***")
    );

    stack.step("step 9: GET /auth/me lists the new tenant");
    listed_in_me(&cli, &tenant).await?;

    stack.step("cloud deploy: registry-token, push");
    let (cred, digest) = registry_token_and_push(stack, &cli, &tenant).await?;
    let image = format!("{}/{}:{}", cred.registry, cred.repository, cred.tag);

    stack.step("POST deploy (answered within the CLI's 30 s)");
    let asked = Instant::now();
    let deployed: Data<DeployResponse> = cli
        .post(&format!("{}/deploy", tenant.path), &json!({"image": image}))
        .await?;
    println!(
        "    {} in {:.2}s, app_url {:?}",
        deployed.data.status,
        asked.elapsed().as_secs_f64(),
        deployed.data.app_url
    );

    stack.step("the three secrets PUTs, after the deploy");
    let jwt_secret = cli_generated_secret();
    let secrets_path = format!("{}/secrets", tenant.path);
    let mapped = json!({"secrets": {
        "DATABASE_URL": internal_url,
        "EXTERNAL_DATABASE_URL": internal_url,
        "JWT_SECRET": jwt_secret,
        "GEMINI_API_KEY": "gemini-e2e-key",
        "MY_SETTING": "custom value",
        "SYSTEMPROMPT_CUSTOM_SECRETS": "EXTERNAL_DATABASE_URL,MY_SETTING",
    }});
    cli.put_no_content(&secrets_path, &mapped).await?;
    let user_email = me.user.email.clone();
    cli.put_no_content(
        &secrets_path,
        &json!({"secrets": {
            "SYSTEMPROMPT_API_TOKEN": jwt,
            "SYSTEMPROMPT_USER_EMAIL": user_email,
            "SYSTEMPROMPT_CLI_REMOTE": "true",
        }}),
    )
    .await?;
    let profile = "/app/services/profiles/production/profile.yaml";
    cli.put_no_content(
        &secrets_path,
        &json!({"secrets": {"SYSTEMPROMPT_PROFILE": profile}}),
    )
    .await?;

    stack.step("the machine runs the pushed digest and booted with every value (PUTs merged)");
    let mut expected: BTreeMap<String, String> = [
        ("DATABASE_URL", internal_url.as_str()),
        ("JWT_SECRET", jwt_secret.as_str()),
        ("GEMINI_API_KEY", "gemini-e2e-key"),
        ("MY_SETTING", "custom value"),
        ("SYSTEMPROMPT_API_TOKEN", jwt.as_str()),
        ("SYSTEMPROMPT_USER_EMAIL", user_email.as_str()),
        ("SYSTEMPROMPT_CLI_REMOTE", "true"),
        ("SYSTEMPROMPT_PROFILE", profile),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    machine_runs_with(stack, &tenant, &digest, &expected).await?;

    stack.step("cloud secrets set / unset / cleanup");
    cli.put_no_content(&secrets_path, &json!({"secrets": {"FEATURE_FLAG": "on"}}))
        .await?;
    cli.delete_no_content(&format!("{secrets_path}/MY_SETTING"))
        .await?;
    // `secrets cleanup` deletes a key that was never set: a 2xx reads best.
    cli.delete_no_content(&format!("{secrets_path}/SYSTEMPROMPT_API_URL"))
        .await?;
    // Names Fly owns are refused with the error body the CLI shows verbatim.
    match cli
        .put_no_content(&secrets_path, &json!({"secrets": {"FLY_APP_NAME": "x"}}))
        .await
    {
        Err(CliError::Api { message, .. }) if message.contains("FLY_APP_NAME") => {}
        other => bail!("FLY_APP_NAME was not refused by name: {other:?}"),
    }
    expected.remove("MY_SETTING");
    expected.insert("FEATURE_FLAG".into(), "on".into());
    machine_runs_with(stack, &tenant, &digest, &expected).await?;

    stack.step("cloud restart (returns once the new instance runs)");
    let restarted: StatusResponse = cli.post_empty(&format!("{}/restart", tenant.path)).await?;
    println!("    Tenant restart initiated: {}", restarted.status);
    let status: Data<TenantStatus> = cli.get(&format!("{}/status", tenant.path)).await?;
    ensure!(status.data.status == "ready", "{:?}", status.data);

    stack.step("tenant rotate-credentials");
    let rotated: RotateCredentials = cli
        .post_empty(&format!("{}/rotate-credentials", tenant.path))
        .await?;
    let new_password = password_of(&rotated.internal_database_url)?;
    ensure!(new_password != db_password, "the password did not change");
    expected.insert("DATABASE_URL".into(), rotated.internal_database_url.clone());
    machine_runs_with(stack, &tenant, &digest, &expected).await?;
    let again: TenantSecretsE = cli.get_secrets_url(&secrets_url).await?;
    ensure!(again.internal_database_url == rotated.internal_database_url);

    custom_domain(stack, &cli, &tenant).await?;

    stack.step("tenant cancel: POST subscription/cancel answers null");
    let subscription = stack.seed_subscription(&tenant.id).await?;
    // The CLI decodes the answer as a unit: only the literal `null` passes (not 204, not `{}`).
    cli.post_empty::<()>(&format!("{}/subscription/cancel", tenant.path))
        .await?;
    let info = listed_in_me(&cli, &tenant).await?;
    ensure!(
        info.subscription_id.as_deref() == Some(subscription.as_str()),
        "{info:?}"
    );

    stack.step("tenant delete (answered within 30 s), then gone from /auth/me");
    cli.delete_no_content(&tenant.path).await?;
    gone_from_me(&cli, &tenant).await?;

    stack.step("logout: POST /activity cloud_logout (with the stored token)");
    cli.post_no_content(
        "/api/v1/activity",
        &activity("cloud_logout", &me.user.email),
    )
    .await?;

    nothing_left_and_no_secret_logged(
        stack,
        &cli,
        &tenant,
        &cred.repository,
        &[
            &cred.token,
            &db_password,
            &new_password,
            &jwt_secret,
            &platform_jwt_secret,
        ],
    )
    .await
}

/// `domain set` → `domain status` (pending, then verified once Fly issued the certificate) →
/// `domain remove` (status first; 404 with `not_found` afterwards).
async fn custom_domain(stack: &Stack, cli: &CliClient, tenant: &Tenant) -> anyhow::Result<()> {
    let path = format!("{}/custom-domain", tenant.path);
    stack.step("domain status before any: an error containing not_found");
    match cli.get::<Data<CustomDomain>>(&path).await {
        Err(e) if e.text().contains("not_found") || e.text().contains("404") => {}
        other => bail!("expected no custom domain, got {other:?}"),
    }

    stack.step("domain set");
    let domain = format!("www.e2e-{}.example.com", &tenant.id[..8]);
    let set: Data<CustomDomain> = cli.post(&path, &json!({"domain": domain})).await?;
    let d = set.data;
    ensure!(d.domain == domain && !d.verified, "{d:?}");
    println!(
        "    DNS: {} {} → {} (ttl {})",
        d.dns_instructions.record_type,
        d.dns_instructions.host,
        d.dns_instructions.value,
        d.dns_instructions.ttl
    );
    ensure!(!d.dns_target.is_empty() && d.dns_instructions.ttl > 0);

    stack.step("domain status: verified once Fly issued the certificate");
    crate::upstream::issue_certificate(stack, &domain).await?;
    let status: Data<CustomDomain> = cli.get(&path).await?;
    ensure!(
        status.data.verified && status.data.verified_at.is_some(),
        "{:?}",
        status.data
    );

    stack.step("domain remove");
    cli.get::<Data<CustomDomain>>(&path).await?;
    cli.delete_no_content(&path).await?;
    match cli.get::<Data<CustomDomain>>(&path).await {
        Err(e) if e.text().contains("not_found") => Ok(()),
        other => bail!("the custom domain is still there: {other:?}"),
    }
}
