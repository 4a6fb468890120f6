//! Signup as CLI revision E does it (contract §6.3), against the real binaries with mock-fly and
//! mock-paddle delivering signed webhooks: plans → checkout → a real browser (headless Chromium) on
//! `checkout_url` → the redirect reaching a local callback server → the checkout stream until
//! `infrastructure_ready` (within the CLI's 30 s of connecting) → the tenant stream / status `ready` →
//! `secrets_url` → the secrets → `/auth/me` lists the tenant → push and deploy → status shows the deploy
//! → delete → nothing left. The free plan's page is ours; the paid plan goes through Paddle's payment
//! page, with its webhooks delivered out of order, twice, forged (refused, nothing changes) and late.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use mgmt_mock_paddle::WebhookFault;
use mgmt_test_support::wait::{Check, eventually};
use serde_json::json;

use crate::browser::{Browser, CallbackServer};
use crate::contract::client::{CliClient, CliError, WaitOutcome};
use crate::contract::types::{
    CheckoutEvent, CheckoutResponse, Data, DeployResponse, EventType, Plan, TenantListItem,
    TenantSecretsE, TenantStatus,
};
use crate::contract::{
    SETTLE_TIMEOUT, Tenant, listed_in_me, machine_runs_with, nothing_left_and_no_secret_logged,
    password_of, registry_token_and_push,
};
use crate::stack::Stack;

/// The CLI waits 300 s for the callback; nothing here should take a tenth of that.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a webhook's effect may take to show (deliveries are sequential, with backoff).
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// Steps 2–3: the plans, then `POST /checkout` for the plan `pick` chooses.
async fn plans_and_checkout(
    stack: &Stack,
    cli: &CliClient,
    callback: &CallbackServer,
    pick: impl Fn(&Plan) -> bool,
) -> anyhow::Result<(Plan, CheckoutResponse)> {
    stack.step("GET /api/v1/checkout/plans (a bare array)");
    let plans: Vec<Plan> = cli.get("/api/v1/checkout/plans").await?;
    ensure!(!plans.is_empty(), "No plans available");
    for p in &plans {
        println!(
            "    plan {} ({}): {} MB, {} GB, price {}, max {:?}",
            p.id, p.name, p.memory_mb_default, p.volume_gb, p.paddle_price_id, p.max_tenants
        );
    }
    let plan = plans
        .into_iter()
        .find(|p| pick(p))
        .context("the plan under test is not offered")?;
    stack.step(&format!(
        "POST /api/v1/checkout {{price_id: {}, region: fra, redirect_uri: {}}}",
        plan.paddle_price_id, callback.redirect_uri
    ));
    let started: CheckoutResponse = cli
        .post(
            "/api/v1/checkout",
            &json!({
                "price_id": plan.paddle_price_id,
                "region": "fra",
                "redirect_uri": callback.redirect_uri,
            }),
        )
        .await?;
    ensure!(
        !started.transaction_id.is_empty() && !started.checkout_session_id.is_empty(),
        "{started:?}"
    );
    println!("    checkout_url {}", started.checkout_url);
    Ok((plan, started))
}

/// Step 4's decision, as the CLI makes it: `error` fails, `status=pending` with a session id goes on
/// to the checkout stream. Returns that session id.
fn pending_session(query: &[(String, String)]) -> anyhow::Result<String> {
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(e) = get("error") {
        bail!("the checkout failed: {e}");
    }
    match (get("status").as_deref(), get("checkout_session_id")) {
        (Some("pending"), Some(id)) => Ok(id),
        _ => bail!("a callback the CLI cannot use: {query:?}"),
    }
}

/// Step 5: the checkout stream; the CLI fails the whole create on anything but a terminal event.
async fn checkout_stream(
    stack: &Stack,
    cli: &CliClient,
    session: &str,
) -> anyhow::Result<CheckoutEvent> {
    stack.step("GET /api/v1/checkout/{session}/events until infrastructure_ready");
    let (event, after) = cli.checkout_stream(session).await?;
    println!(
        "    {:?} after {:.2}s of the CLI connecting",
        event.event_type,
        after.as_secs_f64()
    );
    ensure!(
        after < Duration::from_secs(30),
        "the terminal checkout event came after the CLI's 30 s"
    );
    ensure!(
        event.event_type == EventType::InfrastructureReady,
        "the checkout ended with {event:?} (infrastructure_ready makes the CLI deploy, as this flow does)"
    );
    ensure!(event.checkout_session_id == session, "{event:?}");
    ensure!(
        !event.tenant_id.is_empty() && !event.tenant_name.is_empty(),
        "{event:?}"
    );
    Ok(event)
}

/// The tenant's names, from the listing (`fly_app_name` is `sp-{12 hex}`).
async fn tenant_of(cli: &CliClient, event: &CheckoutEvent) -> anyhow::Result<Tenant> {
    let list: Data<Vec<TenantListItem>> = cli.get("/api/v1/tenants").await?;
    let item = list
        .data
        .into_iter()
        .find(|t| t.id == event.tenant_id)
        .context("GET /api/v1/tenants does not list the checkout's tenant")?;
    ensure!(item.name == event.tenant_name, "{item:?}");
    let app = item.fly_app_name.context("no fly_app_name")?;
    let hex = app
        .strip_prefix("sp-")
        .with_context(|| format!("app name {app} is not sp-{{12 hex}}"))?
        .to_owned();
    Ok(Tenant {
        path: format!("/api/v1/tenants/{}", item.id),
        database: format!("site_{hex}"),
        role: format!("tenant_{hex}"),
        name: item.name,
        id: item.id,
        app,
    })
}

/// Steps 6–11 and the end of the tenant: the provisioning wait, secrets, `/auth/me`, the initial
/// deploy, status showing it, delete, nothing left, no secret logged.
async fn tenant_flow(stack: &Stack, cli: &CliClient, tenant: &Tenant) -> anyhow::Result<()> {
    stack.step("step 6: the tenant stream until tenant_ready (then polling)");
    match cli.wait_provisioned(&tenant.id).await? {
        WaitOutcome::StreamReady(e) => ensure!(e.tenant_id == tenant.id, "{e:?}"),
        WaitOutcome::PolledReady { attempts } => {
            println!("    ready after {attempts} polls")
        }
    }

    stack.step("step 7: GET status → secrets_url → GET <secrets_url>");
    let status: Data<TenantStatus> = cli.get(&format!("{}/status", tenant.path)).await?;
    ensure!(status.data.status == "ready", "{:?}", status.data);
    let secrets_url = status
        .data
        .secrets_url
        .context("Tenant is ready but secrets URL is missing")?;
    let secrets: TenantSecretsE = cli.get_secrets_url(&secrets_url).await?;
    let db_password = password_of(&secrets.database_url)?;

    stack.step("step 9: GET /auth/me lists the new tenant");
    listed_in_me(cli, tenant).await?;

    stack.step("step 11: the initial deploy (registry-token, push, POST deploy)");
    let (cred, digest) = registry_token_and_push(stack, cli, tenant).await?;
    let image = format!("{}/{}:{}", cred.registry, cred.repository, cred.tag);
    let deployed: Data<DeployResponse> = cli
        .post(&format!("{}/deploy", tenant.path), &json!({"image": image}))
        .await?;
    println!("    deploy {}", deployed.data.status);
    machine_runs_with(stack, tenant, &digest, &Default::default()).await?;

    stack.step("status shows the deploy");
    let status: Data<TenantStatus> = cli.get(&format!("{}/status", tenant.path)).await?;
    ensure!(
        status.data.status == "ready" && status.data.app_url.is_some(),
        "{:?}",
        status.data
    );
    ensure!(
        stack.deployment_count(&tenant.id).await? >= 1,
        "no deployment recorded"
    );

    stack.step("tenant delete");
    cli.delete_no_content(&tenant.path).await?;
    nothing_left_and_no_secret_logged(
        stack,
        cli,
        tenant,
        &cred.repository,
        &[&cred.token, &db_password, &secrets.jwt_secret],
    )
    .await
}

/// The free plan: our confirmation page, in Chromium, to the callback; one tenant.
pub async fn free_plan(stack: &Stack) -> anyhow::Result<()> {
    stack.step("token mint (the login's JWT)");
    let cli = CliClient::new(&stack.api_url, &stack.mint_token().await?)?;
    let mut callback = CallbackServer::start()?;
    let (plan, started) = plans_and_checkout(stack, &cli, &callback, |p| p.id == "free").await?;
    ensure!(
        started
            .checkout_url
            .starts_with(&format!("{}/checkout/", stack.api_url)),
        "the free plan's checkout_url is not our page: {}",
        started.checkout_url
    );
    ensure!(
        (plan.memory_mb_default, plan.volume_gb) == (256, 1),
        "{plan:?}"
    );

    stack.step("Chromium: checkout_url → click → the CLI's callback");
    let browser = Browser::start(&stack.log_file("chromedriver.log")).await?;
    let outcome = async {
        let text = browser.open(&started.checkout_url, "confirm").await?;
        ensure!(text.contains("Create tenant"), "the page says: {text}");
        browser.click("confirm").await?;
        let query = callback.next(CALLBACK_TIMEOUT).await?;
        let landed = browser.landed_on(&callback.redirect_uri).await?;
        println!("    the browser landed on {landed}");
        anyhow::Ok(query)
    }
    .await;
    browser.close().await?;
    let session = pending_session(&outcome?)?;
    ensure!(session == started.checkout_session_id, "{session}");

    stack.step("the page again: the checkout was used (one tenant per checkout)");
    let again = reqwest::get(&started.checkout_url).await?;
    ensure!(
        again.status() == 410,
        "a used checkout page answered {}",
        again.status()
    );

    let event = checkout_stream(stack, &cli, &session).await?;
    let tenant = tenant_of(&cli, &event).await?;

    stack.step("the free plan allows one tenant: another checkout is refused");
    match cli
        .post::<CheckoutResponse>(
            "/api/v1/checkout",
            &json!({"price_id": plan.paddle_price_id, "region": "iad",
                    "redirect_uri": callback.redirect_uri}),
        )
        .await
    {
        Err(CliError::Api { status, .. }) if status == 403 => {}
        other => bail!("a second free checkout was not refused: {other:?}"),
    }

    tenant_flow(stack, &cli, &tenant).await
}

/// Waits until the tenant's subscription is `want` in the API's database.
async fn subscription_becomes(stack: &Stack, tenant: &str, want: &str) -> anyhow::Result<()> {
    eventually(WEBHOOK_TIMEOUT, || async {
        match stack.subscription_status(tenant).await {
            Ok(Some(s)) if s == want => Check::Done(()),
            other => Check::not_yet(format!("{other:?}")),
        }
    })
    .await
    .with_context(|| format!("the subscription never became {want}"))
}

/// The paid plan: Paddle's payment page in Chromium, signed webhooks with faults.
pub async fn paid_plan(stack: &Stack) -> anyhow::Result<()> {
    stack.paddle_to_api()?;
    let paddle = stack.paddle()?;
    stack.step("token mint (the login's JWT)");
    let cli = CliClient::new(&stack.api_url, &stack.mint_token().await?)?;
    let mut callback = CallbackServer::start()?;
    let (_, started) = plans_and_checkout(stack, &cli, &callback, |p| p.id == "basic").await?;
    ensure!(
        started.checkout_url.starts_with(&paddle.url())
            && started.transaction_id.starts_with("txn_"),
        "{started:?}"
    );

    // Paying sends subscription.created, then transaction.completed: the first is held back and
    // arrives after the second (which is delivered twice).
    paddle.inject_webhook_fault(WebhookFault::OutOfOrder);
    paddle.inject_webhook_fault(WebhookFault::Duplicate);

    stack.step("Chromium: Paddle's payment page → pay → our return page → the CLI's callback");
    let browser = Browser::start(&stack.log_file("chromedriver.log")).await?;
    let outcome = async {
        browser.open(&started.checkout_url, "pay").await?;
        browser.click("pay").await?;
        let query = callback.next(CALLBACK_TIMEOUT).await?;
        browser.landed_on(&callback.redirect_uri).await?;
        anyhow::Ok(query)
    }
    .await;
    browser.close().await?;
    let session = pending_session(&outcome?)?;
    ensure!(session == started.checkout_session_id, "{session}");

    let event = checkout_stream(stack, &cli, &session).await?;
    let tenant = tenant_of(&cli, &event).await?;
    subscription_becomes(stack, &tenant.id, "active").await?;

    stack.step("every real delivery answered 200; each event stored once; one tenant");
    eventually(WEBHOOK_TIMEOUT, || async {
        paddle
            .deliveries()
            .iter()
            .filter(|d| !d.forged && d.status == Some(200))
            .count()
            >= 3
    })
    .await
    .context("the deliveries never all succeeded")?;
    let stored = stack.billing_event_count().await?;
    ensure!(stored == 2, "{stored} events stored for 2 sent");
    let listed: Data<Vec<TenantListItem>> = cli.get("/api/v1/tenants").await?;
    ensure!(
        listed.data.len() == 1,
        "one payment, {} tenants",
        listed.data.len()
    );
    let info = listed_in_me(&cli, &tenant).await?;
    let sub_id = info
        .subscription_id
        .context("/auth/me shows no subscription for a paid tenant")?;

    stack.step("past_due, a forged copy first: refused, nothing changes; deploys refused");
    paddle.inject_webhook_fault(WebhookFault::BadSignature);
    ensure!(paddle.change_subscription(&sub_id, "past_due"));
    subscription_becomes(stack, &tenant.id, "past_due").await?;
    let deliveries = paddle.deliveries();
    ensure!(
        deliveries.iter().any(|d| d.forged && d.status == Some(401)),
        "the forged delivery was not refused: {deliveries:?}"
    );
    ensure!(
        stack.billing_event_count().await? == stored + 1,
        "the forged delivery was stored"
    );
    let cred: Data<crate::contract::types::RegistryToken> =
        cli.get(&format!("{}/registry-token", tenant.path)).await?;
    let image = format!(
        "{}/{}:{}",
        cred.data.registry, cred.data.repository, cred.data.tag
    );
    match cli
        .post::<Data<DeployResponse>>(&format!("{}/deploy", tenant.path), &json!({"image": image}))
        .await
    {
        Err(CliError::Api { message, .. }) if message.contains("past_due") => {}
        other => bail!("a past-due tenant's deploy was not refused: {other:?}"),
    }

    stack.step("paid again, the webhook late (2 s): applied when it arrives");
    paddle.inject_webhook_fault(WebhookFault::Late { delay_ms: 2000 });
    let sent = Instant::now();
    ensure!(paddle.change_subscription(&sub_id, "active"));
    subscription_becomes(stack, &tenant.id, "active").await?;
    ensure!(
        sent.elapsed() >= Duration::from_secs(2),
        "active before the late delivery"
    );
    println!("    active after {:.1}s", sent.elapsed().as_secs_f64());
    eventually(SETTLE_TIMEOUT, || async {
        stack
            .billing_event_count()
            .await
            .is_ok_and(|n| n == stored + 2)
    })
    .await?;

    tenant_flow(stack, &cli, &tenant).await
}
