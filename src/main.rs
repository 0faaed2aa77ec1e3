//! `matrix-accounts`: run the account server, or one of its subcommands.

use std::process::ExitCode;

use clap::Parser;
use matrix_accounts::config::{Cli, Command, Config};
use matrix_accounts::server::Server;
use matrix_accounts::{cli, import, logging};

fn main() -> anyhow::Result<ExitCode> {
    let args = Cli::parse();
    let config = Config::load(&args)?;
    match &args.command {
        // Synchronous, and its report is stdout: no runtime, no log lines.
        Some(Command::Import(command)) => import::run(&config, command).map(|()| ExitCode::SUCCESS),
        // Their reports are stdout, their errors one line on stderr.
        Some(Command::User(command)) => Ok(cli::users::run(&config, command)),
        Some(Command::Token(command)) => Ok(cli::tokens::run(&config, command)),
        Some(Command::Migrate(args)) => Ok(cli::migrate::run(args)),
        None => serve(config).map(|()| ExitCode::SUCCESS),
    }
}

#[tokio::main]
async fn serve(config: Config) -> anyhow::Result<()> {
    return_large_buffers_to_the_system();
    logging::init(&config.log);

    let server_name = config.server_name.clone();
    let server = Server::start(config).await?;
    tracing::info!(address = %server.local_addr(), %server_name, "listening");

    shutdown_signal().await;
    tracing::info!("shutting down");
    server.stop().await
}

/// Makes glibc map every allocation of 4 MiB or more on its own and unmap
/// it when freed. By default glibc raises that threshold after the first
/// such free, and the 19 MiB argon2 buffers the password hashing threads
/// give back when idle would then stay resident: measured here, a server
/// at 13 MiB grew by ~39 MiB with every burst of logins.
fn return_large_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters, under glibc's own
    // locks; no memory is touched.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
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
