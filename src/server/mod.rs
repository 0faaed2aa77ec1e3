//! Accepting connections and serving requests: configuration in, a
//! listening server out.
//!
//! The server runs on hyper directly. The generated layer knows every path
//! the document describes ([`api::route`]), so no framework router stands
//! between a request and its operation, and everything a framework would
//! answer on its own is answered here in the Matrix shape: a preflight on
//! any path, 404 and 405 `M_UNRECOGNIZED`, 413 `M_TOO_LARGE`. What guards
//! the server before any of that runs lives in [`connections`]: the
//! connection cap, and the header and body timeouts.

mod connections;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http::{HeaderValue, Method, StatusCode, header};
use hyper::body::{Body as _, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::accounts::Accounts;
use crate::api;
use crate::api::runtime::{self, Routed};
use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::http::Handlers;
use connections::Connections;

/// How long a stopping server waits for requests in flight.
const GRACE: Duration = Duration::from_secs(10);

/// A running server.
pub struct Server {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    accepting: tokio::task::JoinHandle<()>,
    accounts: Accounts,
    flushing: tokio::task::JoinHandle<()>,
    /// [`watch_outside_writes`].
    watching: tokio::task::JoinHandle<()>,
}

/// What every request needs.
struct App {
    handlers: Handlers,
    max_body_bytes: usize,
    body_timeout: Duration,
}

impl Server {
    /// Opens the database and starts listening.
    pub async fn start(mut config: Config) -> anyhow::Result<Server> {
        let open_files = connections::raise_open_file_limit();
        let listener =
            TcpListener::bind(config.listen).await.with_context(|| format!("listening on {}", config.listen))?;
        let local_addr = listener.local_addr()?;
        // The address really bound (`:0` picks a port): what links fall
        // back to when `public_base_url` is unset.
        config.listen = local_addr;
        let accounts = Accounts::open(&config)?;
        let flushing = tokio::spawn(flush_last_seen(accounts.clone(), config.devices.last_seen_flush_interval));
        let watching = tokio::spawn(watch_outside_writes(accounts.clone()));
        let app = Arc::new(App {
            handlers: Handlers::new(accounts.clone(), config.trusted_proxies.clone()),
            max_body_bytes: config.max_body_bytes,
            body_timeout: config.http.body_timeout,
        });
        let connections = Connections::new(connections::cap(config.http.max_connections, open_files));
        let (stop, stopped) = watch::channel(false);
        let accepting = tokio::spawn(accept(listener, app, connections, config.http.header_timeout, stopped));
        Ok(Server { local_addr, stop, accepting, accounts, flushing, watching })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections and waits (up to 10 s) for requests in
    /// flight; idle connections close at once. Then writes the devices'
    /// last uses noted since the last batch.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let accepted = self.accepting.await.context("the accepting task failed");
        self.flushing.abort();
        self.watching.abort();
        self.accounts.flush_last_seen().await.map_err(|e| anyhow::anyhow!("writing last-seen times: {e}"))?;
        accepted
    }
}

/// Writes the devices' last uses every `interval` (see
/// `accounts::last_seen`), until the server stops.
async fn flush_last_seen(accounts: Accounts, interval: Duration) {
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = accounts.flush_last_seen().await {
            tracing::warn!(%error, "writing last-seen times failed; kept for the next try");
        }
    }
}

/// How soon a change another process makes (the command line resetting a
/// password, another instance logging a device out) reaches the tokens
/// this one holds in memory. A poll reads a counter (SQLite: one pragma;
/// PostgreSQL: an atomic the notification listener moves), so polling
/// often costs nothing measurable.
const OUTSIDE_WRITES_POLL: Duration = Duration::from_millis(250);

/// Looks every [`OUTSIDE_WRITES_POLL`] for writes another process made to
/// the database, and drops the caches when there were some (see
/// [`Accounts::notice_outside_writes`]), until the server stops.
async fn watch_outside_writes(accounts: Accounts) {
    let mut ticks = tokio::time::interval(OUTSIDE_WRITES_POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match accounts.notice_outside_writes().await {
            Ok(true) => tracing::debug!(
                event = "cache.outside_writes",
                "the database was changed by another process; caches dropped"
            ),
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "looking for writes by other processes failed"),
        }
    }
}

/// The accept loop: one task per connection, until told to stop.
async fn accept(
    listener: TcpListener,
    app: Arc<App>,
    connections: Arc<Connections>,
    header_timeout: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let Some(entry) = connections.admit() else { continue };
                    let _ = stream.set_nodelay(true);
                    let app = Arc::clone(&app);
                    let stopped = stopped.clone();
                    tasks.spawn(serve(stream, remote, app, entry, header_timeout, stopped));
                }
                Err(error) => {
                    // Out of file descriptors, most likely: the cap keeps
                    // this rare. Back off instead of spinning on the error.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = stopped.changed() => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(GRACE, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(left = tasks.len(), "requests still in flight after the grace period: dropped");
    }
}

/// Serves one connection until the client closes it, a timeout does, the
/// connection is shed to make room, or the server stops.
async fn serve(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    app: Arc<App>,
    entry: connections::Entry,
    header_timeout: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let state = entry.state();
    let service = service_fn(move |request| {
        let app = Arc::clone(&app);
        let busy = state.busy();
        async move {
            let response = handle(&app, request, remote).await;
            drop(busy);
            Ok::<_, Infallible>(response)
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = &mut connection => break,
            _ = entry.shed(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = stopped.changed(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// One request: routed, its body read within the limits, dispatched.
async fn handle(app: &App, request: hyper::Request<Incoming>, remote: SocketAddr) -> runtime::Response {
    // A CORS preflight may name any path, served or not.
    if request.method() == Method::OPTIONS {
        return runtime::preflight();
    }
    let (operation, path_parameters) = match api::route(request.method(), request.uri().path()) {
        Routed::Operation(operation, parameters) => (operation, parameters),
        Routed::MethodNotAllowed(allow) => return runtime::error_response(runtime::method_not_allowed(allow)),
        Routed::NotFound => return runtime::error_response(runtime::not_found()),
    };
    let (parts, body) = request.into_parts();
    // Most requests (whoami, every GET) have no body: no timer, no read.
    let body = if body.is_end_stream() {
        Ok(bytes::Bytes::new())
    } else {
        let reading = runtime::read_body(&parts.headers, body, app.max_body_bytes);
        match tokio::time::timeout(app.body_timeout, reading).await {
            Ok(body) => body,
            Err(_) => return runtime::error_response(body_timed_out()),
        }
    };
    let request = runtime::Request::new(parts, remote, body, path_parameters);
    api::dispatch(&app.handlers, operation, &request).await
}

/// 408 for a body that did not arrive in time; the connection closes, as
/// the rest of the body may still be on its way.
fn body_timed_out() -> Error {
    Error::new(StatusCode::REQUEST_TIMEOUT, ErrorCode::Unknown, "Timed out reading the request body")
        .with_header(header::CONNECTION, HeaderValue::from_static("close"))
}
