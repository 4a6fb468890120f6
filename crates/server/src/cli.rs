//! Command line: `serve`, `migrate`, `token mint`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The tenant control plane's management API.
#[derive(Debug, Parser)]
#[command(name = "management-api", version)]
pub struct Cli {
    /// A TOML file of settings (keys are the environment variable names, lowercased); the
    /// environment overrides it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (and the registry gateway when the cloud is enabled) until SIGTERM or Ctrl-C.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Token utilities.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Background jobs: list, show, retry a dead one, cancel one (operators).
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Tenants: show one, run the reconciler's checks on it, force its deletion (operators).
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Billing: Paddle's webhook events as stored (operators).
    Billing {
        #[command(subcommand)]
        command: BillingCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    /// Paddle webhook events.
    Events {
        #[command(subcommand)]
        command: BillingEventsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum BillingEventsCommand {
    /// Stored events, newest first, with what acting on each did.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Act on a stored event again (idempotent: an applied event changes nothing).
    Replay { id: String },
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Jobs, newest first.
    List {
        /// Only jobs in this state (queued, running, done, dead); repeatable.
        #[arg(long)]
        state: Vec<String>,
        /// Only this tenant's jobs.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One job in full.
    Show { id: String },
    /// Run a dead job again now, with a fresh attempt budget.
    Retry { id: String },
    /// Cancel a queued or running job (a worker still running it has its writes refused).
    Cancel {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// The tenant, its jobs, latest events and the reconciler's findings.
    Show { id: String },
    /// Run the reconciler's checks on this tenant now (needs the cloud settings).
    Reconcile { id: String },
    /// Move the tenant to `deleting` whatever its state, cancel its jobs, queue its cleanup.
    ForceDelete {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a bearer token: RS256 like a login when TOKEN_SIGNING_KEYS and PUBLIC_API_URL are set,
    /// else HS256 with JWT_SECRET (local use).
    Mint {
        /// The user id (`sub`).
        #[arg(long)]
        sub: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
    /// Revoke one token (`--jti`, until its expiry `--expires-at`, default 1 year) or every token of a
    /// user issued until now (`--sub`). Takes effect within AUTH_REVOCATION_CACHE_SECS.
    Revoke {
        #[arg(long, conflicts_with = "sub", required_unless_present = "sub")]
        jti: Option<String>,
        #[arg(long)]
        sub: Option<String>,
        /// RFC 3339 expiry of the revoked token (its `exp`); the row is purged after it.
        #[arg(long, requires = "jti")]
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    },
}
