//! Logs: `tracing`, filtered before anything is formatted.

use tracing_subscriber::EnvFilter;

/// Installs the `tracing` subscriber: `RUST_LOG` if set, else `filter`
/// (the configuration's `log`).
pub fn init(filter: &str) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(filter));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}
