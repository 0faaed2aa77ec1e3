//! Turns per key: requests that must not interleave (completions of one
//! UIA session) wait for each other, everything else runs freely.
//!
//! One async mutex per key that someone holds or waits for, and nothing for
//! the others: the table holds weak references, and dead ones are swept as
//! it grows, so its size follows the number of keys in use at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Sweep dead entries once the table holds this many.
const SWEEP_AT: usize = 256;

#[derive(Default)]
pub(crate) struct Turns {
    keys: Mutex<HashMap<String, Weak<AsyncMutex<()>>>>,
}

/// Holding one is having the turn for its key; dropping it passes it on.
pub(crate) struct Turn {
    _guard: OwnedMutexGuard<()>,
}

impl Turns {
    /// Waits for the turn of `key`. Cancel-safe: a dropped wait gives up
    /// its place and holds nothing.
    pub(crate) async fn take(&self, key: &str) -> Turn {
        let lock = {
            let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
            match keys.get(key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    if keys.len() >= SWEEP_AT {
                        keys.retain(|_, lock| lock.strong_count() > 0);
                    }
                    let lock = Arc::new(AsyncMutex::new(()));
                    keys.insert(key.to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        Turn { _guard: lock.lock_owned().await }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_turn_per_key_at_a_time() {
        let turns = Turns::default();
        let first = turns.take("a").await;
        // Another key is free.
        let _other = turns.take("b").await;
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), turns.take("a")).await;
        assert!(waiting.is_err(), "two turns for one key");
        drop(first);
        let _second = turns.take("a").await;
    }

    #[tokio::test]
    async fn the_table_follows_the_keys_in_use() {
        let turns = Turns::default();
        for i in 0..10 * SWEEP_AT {
            drop(turns.take(&i.to_string()).await);
        }
        assert!(turns.keys.lock().unwrap().len() <= SWEEP_AT);
    }
}
