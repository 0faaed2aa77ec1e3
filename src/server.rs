//! Starting and stopping the server: configuration in, a listening
//! dropshot server out.

use std::net::SocketAddr;

use anyhow::{Context, anyhow};
use dropshot::{ConfigDropshot, HandlerTaskMode, HttpServer, ServerBuilder};

use crate::accounts::Accounts;
use crate::api;
use crate::config::Config;
use crate::http::Handlers;
use crate::logging;

/// A running server.
pub struct Server {
    http: HttpServer<Handlers>,
}

impl Server {
    /// Opens the database and starts listening.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let description = api::api_description::<Handlers>()
            .map_err(|e| anyhow!("the generated API description is inconsistent: {e}"))?;
        let dropshot = ConfigDropshot {
            bind_address: config.listen,
            default_request_body_max_bytes: config.max_body_bytes,
            // Handlers run on the connection's task, not a task of their
            // own: a client that goes away cancels its request. Every domain
            // write is one transaction on a blocking thread that finishes
            // regardless, so nothing is left half done.
            default_handler_task_mode: HandlerTaskMode::CancelOnDisconnect,
            ..Default::default()
        };
        let accounts = Accounts::open(&config)?;
        let handlers = Handlers::new(accounts, config.trusted_proxies.clone());
        let http = ServerBuilder::new(description, handlers, logging::dropshot_logger())
            .config(dropshot)
            .start()
            .with_context(|| format!("listening on {}", config.listen))?;
        Ok(Server { http })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.http.local_addr()
    }

    /// Stops accepting connections and waits for requests in flight.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.http.close().await.map_err(|e| anyhow!("shutting down: {e}"))
    }
}
