//! `management-api`: `serve`, `migrate`, `token mint`.

use anyhow::Context;
use clap::Parser;
use mgmt_server::cli::{Cli, Command, TokenCommand};
use mgmt_server::settings::{MigrateSettings, Settings, TokenSettings};
use mgmt_server::{Application, startup, telemetry, token};

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
    }
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
