//! `mock-fly --listen 127.0.0.1:4280 --token ... [--registry-listen 127.0.0.1:4281]`: the mock as a
//! process for the local demo; runs until Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use mgmt_mock_fly::{MockFly, MockFlyConfig, TagDeleteSupport};

#[derive(Parser, Debug)]
#[command(
    name = "mock-fly",
    about = "In-memory Fly.io (Machines API + registry v2) for tests and the local demo"
)]
struct Args {
    /// Address of the Machines API (and of the registry, unless --registry-listen is given).
    #[arg(long, default_value = "127.0.0.1:4280", env = "MOCK_FLY_LISTEN")]
    listen: SocketAddr,
    /// Separate address for the registry v2.
    #[arg(long, env = "MOCK_FLY_REGISTRY_LISTEN")]
    registry_listen: Option<SocketAddr>,
    /// The only accepted API token (and registry password).
    #[arg(long, env = "MOCK_FLY_TOKEN", default_value = "mock-fly-token")]
    token: String,
    /// Milliseconds a new app stays invisible.
    #[arg(long, default_value_t = 0)]
    app_visibility_delay_ms: u64,
    /// Milliseconds a machine spends in `starting`.
    #[arg(long, default_value_t = 500)]
    machine_start_delay_ms: u64,
    /// Milliseconds a deleted app, volume or machine lingers (`suspended`, `pending_destroy`,
    /// `destroying`) before it is gone, as Fly's deletes are asynchronous.
    #[arg(long, default_value_t = 1000)]
    destroy_delay_ms: u64,
    /// Enforce Fly-like rate limits.
    #[arg(long)]
    rate_limits: bool,
    /// Tag deletion: supported, 400 (distribution 2.8) or 405 (deletion disabled: every DELETE refused).
    #[arg(long, default_value = "supported")]
    tag_delete: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr so that stdout carries only the URLs a script may read.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let tag_delete = match args.tag_delete.as_str() {
        "supported" => TagDeleteSupport::Supported,
        "400" => TagDeleteSupport::BadRequest400,
        "405" => TagDeleteSupport::MethodNotAllowed405,
        other => anyhow::bail!("--tag-delete must be supported, 400 or 405, not {other:?}"),
    };
    let config = MockFlyConfig {
        token: args.token,
        app_visibility_delay: Duration::from_millis(args.app_visibility_delay_ms),
        machine_start_delay: Duration::from_millis(args.machine_start_delay_ms),
        rate_limits: args.rate_limits,
        destroy_delay: Duration::from_millis(args.destroy_delay_ms),
        tag_delete,
        ..MockFlyConfig::default()
    };
    let mock = MockFly::start_with(config, args.listen, args.registry_listen).await?;
    println!("mock-fly machines API: {}/v1", mock.machines_url());
    println!(
        "mock-fly registry:     {}/v2/  (host {}, Basic auth x:<token>)",
        mock.registry_url(),
        mock.registry_host()
    );
    println!(
        "inspect state:         GET {}/__mock/state",
        mock.machines_url()
    );
    println!(
        "inspect requests:      GET {}/__mock/requests",
        mock.machines_url()
    );
    // Ctrl-C or SIGTERM (how the demo and the tests stop it): stop cleanly so its files are removed.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    println!("mock-fly: stopping");
    mock.stop().await;
    Ok(())
}
