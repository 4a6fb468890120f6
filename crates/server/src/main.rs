//! `management-api`: `serve`, `migrate`, `token mint`.

use anyhow::Context;
use clap::Parser;
use mgmt_server::cli::{
    BillingCommand, BillingEventsCommand, Cli, Command, JobsCommand, TenantsCommand, TokenCommand,
};
use mgmt_server::settings::{MigrateSettings, Settings, TokenSettings};
use mgmt_server::{Application, billing_ops, ops, startup, telemetry, token};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = cli.config.as_deref();
    match cli.command {
        Command::Serve => {
            let settings = Settings::load(file, None).context("configuration")?;
            telemetry::init(settings.log_format);
            let app = Application::build(settings).await?;
            let stop = app.shutdown_token();
            tokio::spawn(async move {
                wait_for_signal().await;
                stop.cancel();
            });
            app.run_until_stopped().await
        }
        Command::Migrate => {
            // Only the database is needed: a half-configured cloud must not block a migration.
            let (database_url, log_format) = MigrateSettings::load(file, None)
                .and_then(MigrateSettings::checked)
                .context("configuration")?;
            telemetry::init(log_format);
            startup::migrate(&database_url).await
        }
        Command::Token {
            command:
                TokenCommand::Mint {
                    sub,
                    email,
                    name,
                    ttl,
                },
        } => {
            let settings = TokenSettings::load(file, None).context("configuration")?;
            println!("{}", token::mint(&settings, &sub, &email, name, ttl)?);
            Ok(())
        }
        Command::Token {
            command:
                TokenCommand::Revoke {
                    jti,
                    sub,
                    expires_at,
                },
        } => {
            let settings = TokenSettings::load(file, None).context("configuration")?;
            let what = match (jti, sub) {
                (Some(jti), _) => token::Revoke::Token {
                    jti,
                    expires_at: expires_at
                        .unwrap_or_else(|| chrono::Utc::now() + chrono::Duration::days(366)),
                },
                (None, Some(sub)) => token::Revoke::Subject(sub),
                (None, None) => anyhow::bail!("--jti or --sub is required"),
            };
            token::revoke(&settings, what).await?;
            println!("revoked");
            Ok(())
        }
        Command::Jobs { command } => {
            let url = database_url(file)?;
            let out = match command {
                JobsCommand::List {
                    state,
                    tenant,
                    limit,
                } => ops::jobs_list(&url, state, tenant, limit).await?,
                JobsCommand::Show { id } => ops::jobs_show(&url, &id).await?,
                JobsCommand::Retry { id } => ops::jobs_retry(&url, &id).await?,
                JobsCommand::Cancel { id, reason } => ops::jobs_cancel(&url, &id, &reason).await?,
            };
            println!("{out}");
            Ok(())
        }
        Command::Tenants { command } => {
            let out = match command {
                TenantsCommand::Reconcile { id } => {
                    // The reconciler needs Fly, the registry and the tenant cluster: every setting.
                    let settings = Settings::load(file, None).context("configuration")?;
                    telemetry::init(settings.log_format);
                    ops::tenants_reconcile(&settings, &id).await?
                }
                TenantsCommand::Show { id } => ops::tenants_show(&database_url(file)?, &id).await?,
                TenantsCommand::ForceDelete { id, reason } => {
                    ops::tenants_force_delete(&database_url(file)?, &id, &reason).await?
                }
            };
            println!("{out}");
            Ok(())
        }
        Command::Billing {
            command: BillingCommand::Events { command },
        } => {
            let out = match command {
                BillingEventsCommand::List { limit } => {
                    billing_ops::events_list(&database_url(file)?, limit).await?
                }
                BillingEventsCommand::Replay { id } => {
                    let settings = Settings::load(file, None).context("configuration")?;
                    telemetry::init(settings.log_format);
                    billing_ops::events_replay(&settings, &id).await?
                }
            };
            println!("{out}");
            Ok(())
        }
    }
}

/// Only `DATABASE_URL`: the operator commands that touch nothing but the database.
fn database_url(file: Option<&std::path::Path>) -> anyhow::Result<secrecy::SecretString> {
    let (url, _) = MigrateSettings::load(file, None)
        .and_then(MigrateSettings::checked)
        .context("configuration")?;
    Ok(url)
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
