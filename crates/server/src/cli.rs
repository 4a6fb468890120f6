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
