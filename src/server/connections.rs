//! The connection cap, and the open-file limit it must fit in.
//!
//! Without a cap, a client that opens connections and sends nothing holds
//! one file descriptor each until the process has none left, and then no
//! one is served: 1,100 idle sockets were enough at the usual soft limit of
//! 1,024. With it, the server never has more than `max_connections` open.
//! At the cap an idle connection (one with no request in flight: a flood's
//! sockets, or a keep-alive between requests) makes room for the newcomer,
//! the oldest first, so a flood of idle sockets cannot lock honest clients
//! out; it only makes its own sockets close sooner. When every connection
//! is busy, the newcomer is closed instead.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

/// File descriptors kept for everything but connections: the database and
/// its journal, log output, identity-server calls.
const RESERVED_FILES: usize = 64;

/// The open connections.
pub struct Connections {
    cap: usize,
    open: Mutex<Table>,
    /// When the cap was last logged (seconds since the epoch): once a
    /// second at most, however hard a flood pushes.
    last_warning: AtomicU64,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    /// By admission order: the first idle one is the oldest.
    by_id: BTreeMap<u64, Arc<State>>,
}

/// What the table knows of one connection.
#[derive(Default)]
pub struct State {
    in_flight: AtomicUsize,
    shed: Notify,
    shedding: AtomicBool,
}

/// A connection's place in the table; leaving it (drop) frees the place.
pub struct Entry {
    id: u64,
    state: Arc<State>,
    connections: Arc<Connections>,
}

/// A request in flight on a connection: while it lives, the connection is
/// not idle and will not be shed.
pub struct Busy(Arc<State>);

impl Connections {
    pub fn new(cap: usize) -> Arc<Self> {
        tracing::debug!(max_connections = cap, "connection cap");
        Arc::new(Connections { cap, open: Mutex::new(Table::default()), last_warning: AtomicU64::new(0) })
    }

    /// A place for a new connection: at the cap, the oldest idle connection
    /// is told to close; `None` (close the newcomer) when none is idle.
    pub fn admit(self: &Arc<Self>) -> Option<Entry> {
        let mut table = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if table.by_id.len() >= self.cap {
            let idle = table.by_id.values().find(|state| {
                state.in_flight.load(Ordering::Acquire) == 0 && !state.shedding.swap(true, Ordering::AcqRel)
            });
            self.warn_at_cap(table.by_id.len(), idle.is_some());
            match idle {
                Some(state) => state.shed.notify_one(),
                None => return None,
            }
        }
        let id = table.next_id;
        table.next_id += 1;
        let state = Arc::new(State::default());
        table.by_id.insert(id, Arc::clone(&state));
        Some(Entry { id, state, connections: Arc::clone(self) })
    }

    fn warn_at_cap(&self, open: usize, shed_idle: bool) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if self.last_warning.swap(now, Ordering::Relaxed) != now {
            let action = if shed_idle { "closing the oldest idle one" } else { "refusing the new one" };
            tracing::warn!(event = "connections.cap", open, cap = self.cap, "connection cap reached: {action}");
        }
    }

    fn leave(&self, id: u64) {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).by_id.remove(&id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.lock().unwrap().by_id.len()
    }
}

impl Entry {
    pub fn state(&self) -> Arc<State> {
        Arc::clone(&self.state)
    }

    /// Completes when the connection should close to make room.
    pub async fn shed(&self) {
        self.state.shed.notified().await
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.connections.leave(self.id);
    }
}

impl State {
    /// Marks a request in flight until the returned guard is dropped.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(self))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Raises the soft open-file limit to the hard one (the soft one is often
/// 1,024, far below what a server needs) and returns the limit in force.
pub fn raise_open_file_limit() -> Option<usize> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit and setrlimit only read and write the struct
        // passed by pointer, which lives on this stack frame.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        Some(usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX))
    }
    #[cfg(not(unix))]
    None
}

/// The cap in force: the configured one, within what the open-file limit
/// leaves for connections.
pub fn cap(configured: usize, open_files: Option<usize>) -> usize {
    let cap = match open_files {
        Some(files) => configured.min(files.saturating_sub(RESERVED_FILES)),
        None => configured,
    };
    if cap < configured {
        tracing::warn!(configured, cap, "max_connections lowered to fit the open-file limit");
    }
    cap.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let connections = Connections::new(2);
        let first = connections.admit().unwrap();
        let second = connections.admit().unwrap();
        let _busy = first.state().busy();
        // The first is busy: the second, idle, is the one told to close.
        let third = connections.admit().expect("an idle connection makes room");
        assert!(second.state.shedding.load(Ordering::Acquire));
        assert!(!first.state.shedding.load(Ordering::Acquire));
        assert_eq!(connections.len(), 3, "the shed one counts until it has closed");
        drop(second);
        drop(third);
        assert_eq!(connections.len(), 1);
    }

    #[test]
    fn when_every_connection_is_busy_the_newcomer_is_refused() {
        let connections = Connections::new(1);
        let only = connections.admit().unwrap();
        let _busy = only.state().busy();
        assert!(connections.admit().is_none());
    }

    #[test]
    fn the_cap_fits_the_open_file_limit() {
        assert_eq!(cap(8192, Some(1024)), 1024 - RESERVED_FILES);
        assert_eq!(cap(100, Some(1_000_000)), 100);
        assert_eq!(cap(100, None), 100);
    }
}
