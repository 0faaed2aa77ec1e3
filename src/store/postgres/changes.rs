//! How one instance learns that another changed what it caches.
//!
//! Every instance keeps access tokens and 3pid lists in memory, so that an
//! authenticated request costs no database round trip. A write that
//! invalidates such entries (a logout, a password change, a deactivation, a
//! rotation, a 3pid change) sends `NOTIFY` on [`CHANNEL`] in its transaction,
//! with the writing instance's ID as payload; PostgreSQL delivers it to
//! every listener when the transaction commits. Each instance keeps one
//! connection that `LISTEN`s and counts the notifications of *other*
//! instances; the counter is [`crate::store::Store::outside_writes`], which
//! the server polls and answers by dropping its caches.
//!
//! While the listening connection is down, notifications are lost, so the
//! counter moves on every read: the caches are dropped at every poll and
//! the instance serves from the database until it listens again (then once
//! more, for what it missed).

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use tokio_postgres::{AsyncMessage, NoTls};

/// The channel cache-invalidating writes notify.
pub(super) const CHANNEL: &str = "matrix_accounts_changes";

/// How long the listener waits before connecting again.
const RECONNECT: Duration = Duration::from_secs(1);

/// Notifications seen from other instances, and whether they can be seen.
#[derive(Debug, Default)]
pub(super) struct Changes {
    counter: AtomicI64,
    listening: AtomicBool,
}

impl Changes {
    /// The counter; while not listening, a new value at every call.
    pub(super) fn current(&self) -> i64 {
        if self.listening.load(Ordering::SeqCst) {
            self.counter.load(Ordering::SeqCst)
        } else {
            self.counter.fetch_add(1, Ordering::SeqCst) + 1
        }
    }

    fn bump(&self) {
        self.counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// Listens on [`CHANNEL`] until the runtime stops, reconnecting after a
/// failure; counts the notifications whose payload is not `instance`.
pub(super) async fn listen(config: tokio_postgres::Config, instance: String, changes: Arc<Changes>) {
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                // The LISTEN runs beside the loop below, which reads the
                // connection (without it, no query gets an answer).
                let (ready, mut listening) = tokio::sync::oneshot::channel::<bool>();
                let subscribing = tokio::spawn(async move {
                    let subscribed = client.batch_execute(&format!("LISTEN {CHANNEL}")).await.is_ok();
                    let _ = ready.send(subscribed);
                    // The connection closes when its client is dropped.
                    std::future::pending::<()>().await;
                    drop(client);
                });
                let mut subscribed = false;
                loop {
                    tokio::select! {
                        outcome = &mut listening, if !subscribed => {
                            if outcome != Ok(true) {
                                tracing::warn!(event = "store.listen_failed", "LISTEN was refused");
                                break;
                            }
                            subscribed = true;
                            changes.listening.store(true, Ordering::SeqCst);
                            // What happened while nobody listened.
                            changes.bump();
                        }
                        message = poll_fn(|cx| connection.poll_message(cx)) => match message {
                            Some(Ok(AsyncMessage::Notification(notification))) => {
                                if notification.payload() != instance {
                                    changes.bump();
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(error)) => {
                                tracing::warn!(event = "store.listen_failed", %error, "the cache-invalidation channel dropped");
                                break;
                            }
                            None => break,
                        },
                    }
                }
                subscribing.abort();
            }
            Err(error) => {
                tracing::warn!(event = "store.listen_failed", %error, "cannot listen for other instances' writes");
            }
        }
        changes.listening.store(false, Ordering::SeqCst);
        tokio::time::sleep(RECONNECT).await;
    }
}
