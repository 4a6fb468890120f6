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
    /// Print a bearer token signed with the configured HS256 secret (JWT_SECRET), for local use.
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
}
