//! `matrix-accounts`: run the account server.

use clap::Parser;
use matrix_accounts::config::{Cli, Config};
use matrix_accounts::logging;
use matrix_accounts::server::Server;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(&cli)?;
    logging::init(&config.log);

    let server_name = config.server_name.clone();
    let server = Server::start(config).await?;
    tracing::info!(address = %server.local_addr(), %server_name, "listening");

    shutdown_signal().await;
    tracing::info!("shutting down");
    server.stop().await
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
