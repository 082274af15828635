//! Rows kept in memory by a server that is the only one writing its
//! database (SQLite: one server owns the file; several instances share a
//! PostgreSQL database and keep nothing), so that a page view need not read
//! them again: the session, the signed-in user.
//!
//! Coherent with this process's writes: a write replaces or forgets the row
//! once it is committed, and a read that raced with a write is not kept (it
//! takes a version number before reading, which must still hold when the
//! row is kept). A row is kept at most `ttl`, so that even a change made
//! by another process (a command-line tool) shows soon.

use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a row is kept at most: how soon a change made by another
/// process shows.
pub const TTL: Duration = Duration::from_secs(60);

/// Rows by key; see the module.
#[derive(Debug)]
pub struct Kept<K, V> {
    rows: quick_cache::sync::Cache<K, (V, Instant)>,
    /// Bumped by every write; held while a read's row is kept.
    version: Mutex<u64>,
    ttl: Duration,
}

/// Where a read started (see [`Kept::keep`]).
#[derive(Debug, Clone, Copy)]
pub struct Version(u64);

impl<K, V> Kept<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    /// At most `capacity` rows, each for at most `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            rows: quick_cache::sync::Cache::new(capacity),
            version: Mutex::new(0),
            ttl,
        }
    }

    fn version_lock(&self) -> std::sync::MutexGuard<'_, u64> {
        // The counter stays valid whatever a panicking holder did.
        self.version
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The row, if kept and not too old.
    pub fn get(&self, key: &K) -> Option<V> {
        self.rows
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(row, _)| row)
    }

    /// Call before reading a row from the database.
    pub fn version(&self) -> Version {
        Version(*self.version_lock())
    }

    /// Keeps `row`, read since `version`, unless a write came in between.
    pub fn keep(&self, key: K, row: V, version: Version) {
        let current = self.version_lock();
        if *current == version.0 {
            self.rows.insert(key, (row, Instant::now()));
        }
    }

    /// After a committed write: `row` is the new state.
    pub fn put(&self, key: K, row: V) {
        let mut current = self.version_lock();
        *current += 1;
        self.rows.insert(key, (row, Instant::now()));
    }

    /// After a committed write: the row is read again next time.
    pub fn forget(&self, key: &K) {
        let mut current = self.version_lock();
        *current += 1;
        self.rows.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_raced_with_a_write_is_not_kept() {
        let kept = Kept::new(16, Duration::from_secs(60));
        let before = kept.version();
        // A write commits and forgets the row while the read is under way.
        kept.forget(&1);
        kept.keep(1, "old", before);
        assert_eq!(kept.get(&1), None, "the stale read is dropped");

        let fresh = kept.version();
        kept.keep(1, "new", fresh);
        assert_eq!(kept.get(&1), Some("new"));
        kept.put(1, "newer");
        assert_eq!(kept.get(&1), Some("newer"));
        kept.keep(1, "stale", fresh);
        assert_eq!(kept.get(&1), Some("newer"), "a put wins over older reads");
        kept.forget(&1);
        assert_eq!(kept.get(&1), None);
    }

    #[test]
    fn rows_expire() {
        let kept = Kept::new(16, Duration::ZERO);
        kept.put(1, "row");
        assert_eq!(kept.get(&1), None);
    }
}
