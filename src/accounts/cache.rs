//! A bounded in-memory cache that never serves what the store revoked.
//!
//! Token checks (whoami and every authenticated request) and 3pid lists are
//! the hot path: they must not touch SQLite. They are read through this
//! cache, filled from the store on a miss and invalidated when the store
//! revokes or changes an entry.
//!
//! The subtle part is a fill racing an invalidation: a reader loads a token
//! from the store, a logout commits and evicts it, then the reader inserts
//! what it loaded, resurrecting the token. A global epoch closes that gap:
//! a filler notes the epoch *before* reading the store, inserts, and takes
//! its entry out again if the epoch moved meanwhile; an invalidator bumps
//! the epoch (after its commit) *before* evicting. Whatever the
//! interleaving, either the invalidator's eviction comes after the insert or
//! the filler sees the new epoch. Invalidations are rare (logouts, password
//! changes, rotations), so the fills they spoil cost nothing noticeable.
//!
//! Storage is `quick_cache`: sharded, read-mostly locking (a hit takes a
//! shard read lock and sets an atomic bit, no allocation), S3-FIFO eviction
//! that keeps hot tokens and drops one-off ones, and a hard item bound so
//! memory stays flat with a million accounts in the database.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::Cache;

pub(crate) struct CoherentCache<K, V> {
    entries: Cache<K, V>,
    epoch: AtomicU64,
}

impl<K: Eq + Hash + Clone, V: Clone> CoherentCache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        CoherentCache { entries: Cache::new(capacity.max(1)), epoch: AtomicU64::new(0) }
    }

    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + quick_cache::Equivalent<K> + ?Sized,
    {
        self.entries.get(key)
    }

    /// The epoch to pass to [`CoherentCache::fill`]; read it before reading
    /// the store.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Caches what was read from the store after [`CoherentCache::epoch`]
    /// returned `read_at`, unless an invalidation happened since.
    pub(crate) fn fill(&self, read_at: u64, key: K, value: V) {
        if self.epoch.load(Ordering::SeqCst) != read_at {
            return;
        }
        self.entries.insert(key.clone(), value);
        if self.epoch.load(Ordering::SeqCst) != read_at {
            self.entries.remove(&key);
        }
    }

    /// Evicts everything: the store was changed in ways this process did
    /// not see (another process wrote to it).
    pub(crate) fn invalidate_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries.clear();
    }

    /// Evicts entries the store has just changed or revoked; call it after
    /// the store's transaction committed.
    pub(crate) fn invalidate<'a>(&self, keys: impl IntoIterator<Item = &'a K>)
    where
        K: 'a,
    {
        let mut keys = keys.into_iter().peekable();
        if keys.peek().is_none() {
            return;
        }
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for key in keys {
            self.entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_that_raced_an_invalidation_is_dropped() {
        let cache = CoherentCache::<u32, &str>::new(10);
        let read_at = cache.epoch();
        cache.invalidate(&[7]); // a logout committed while the filler read the store
        cache.fill(read_at, 7, "stale");
        assert_eq!(cache.get(&7), None);

        let read_at = cache.epoch();
        cache.fill(read_at, 7, "fresh");
        assert_eq!(cache.get(&7), Some("fresh"));
        cache.invalidate(&[7]);
        assert_eq!(cache.get(&7), None);
    }

    #[test]
    fn it_stays_within_its_capacity() {
        let cache = CoherentCache::<u32, u32>::new(100);
        for i in 0..10_000 {
            cache.fill(cache.epoch(), i, i);
        }
        assert!(cache.entries.len() <= 110, "{}", cache.entries.len());
    }
}
