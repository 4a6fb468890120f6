//! The `mock-idp` binary for `just demo`: serves the mock GitHub and Google until Ctrl-C, after printing
//! its URL and the settings `management-api` needs (one `NAME=value` per line on stdout).

use std::net::SocketAddr;

use mgmt_mock_idp::{MockIdp, MockUser, Provider};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let addr: SocketAddr = std::env::var("MOCK_IDP_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:0".to_owned())
        .parse()
        .map_err(|e| std::io::Error::other(format!("MOCK_IDP_ADDR: {e}")))?;
    let idp = MockIdp::start_on(addr).await?;
    // A signed-in user per provider, so a demo login works without any control call.
    idp.set_user(
        Provider::Github,
        MockUser::verified("1001", "demo-user", "demo@example.com"),
    );
    idp.set_user(
        Provider::Google,
        MockUser::verified("110000000000000000001", "demo-user", "demo@example.com"),
    );
    println!("MOCK_IDP_URL={}", idp.url());
    for (name, value) in idp.settings() {
        println!("{name}={value}");
    }
    tokio::signal::ctrl_c().await?;
    idp.stop().await;
    Ok(())
}
