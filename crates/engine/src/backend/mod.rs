//! The storage backends the indexer writes into: one trait, several implementations.
//!
//! A backend stores named tables of byte keys and values, sorted by key bytes, plus the
//! checkpoint: the sequence number of the last commit-log record it contains, and where in the
//! log a record at or before it starts. A batch and its checkpoint are applied atomically and
//! durably, so after a crash the backend holds exactly the records up to its checkpoint and the
//! engine replays the log from there (a read-only open starts reading the log at that place).

mod memory;
#[cfg(feature = "rocksdb")]
mod private_dir;
mod redb;
#[cfg(feature = "rocksdb")]
mod rocksdb;

use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

pub use self::memory::MemoryBackend;
pub use self::redb::{RedbBackend, RedbOptions};
#[cfg(feature = "rocksdb")]
pub use self::rocksdb::{Compression, RocksdbBackend, RocksdbOptions};
use crate::wal::LogPosition;

/// An error from a backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The backend's files are damaged.
    #[error("backend data is corrupt: {0}")]
    Corrupt(String),
    /// The disk is full.
    #[error("disk full in the backend: {0}")]
    OutOfSpace(String),
    /// Any other failure, with the backend's message.
    #[error("backend error: {0}")]
    Other(String),
}

/// What a batch brings the backend up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The sequence number of the last commit-log record the backend contains.
    pub seq: u64,
    /// Where a record at or before `seq` starts in the log ([`crate::wal::Wal`] remembers
    /// some), if known: a read-only open starts reading the log there. Only a hint: it is
    /// checked against the log before it is used.
    pub position: Option<LogPosition>,
}

impl From<u64> for Checkpoint {
    fn from(seq: u64) -> Self {
        Self { seq, position: None }
    }
}

/// One operation of a batch: a put (`Some(value)`) or a delete (`None`).
pub type Op = (Arc<str>, Arc<[u8]>, Option<Arc<[u8]>>);

/// A key range within one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// Lower bound.
    pub start: Bound<Vec<u8>>,
    /// Upper bound.
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key.
    pub fn all() -> Self {
        Self { start: Bound::Unbounded, end: Bound::Unbounded }
    }

    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        let end = match prefix_successor(prefix) {
            Some(s) => Bound::Excluded(s),
            None => Bound::Unbounded,
        };
        Self { start: Bound::Included(prefix.to_vec()), end }
    }

    /// Whether `key` is inside the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        let above = match &self.start {
            Bound::Included(s) => key >= s.as_slice(),
            Bound::Excluded(s) => key > s.as_slice(),
            Bound::Unbounded => true,
        };
        let below = match &self.end {
            Bound::Included(e) => key <= e.as_slice(),
            Bound::Excluded(e) => key < e.as_slice(),
            Bound::Unbounded => true,
        };
        above && below
    }

    /// The bounds as borrowed slices.
    pub fn as_slices(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (self.start.as_ref().map(Vec::as_slice), self.end.as_ref().map(Vec::as_slice))
    }

    /// Whether no key can be inside the range (start after end).
    pub fn is_empty(&self) -> bool {
        match (&self.start, &self.end) {
            (Bound::Included(s), Bound::Included(e)) => s > e,
            (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e))
            | (Bound::Excluded(s), Bound::Included(e)) => s >= e,
            _ => false,
        }
    }
}

/// The smallest byte string greater than every string with this prefix, if there is one.
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xff {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

/// An iterator over (key, value) pairs of a backend snapshot.
pub type BackendIter = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), BackendError>> + Send>;

/// How a backend's file is used, by the backend's own count (redb's statistics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageUsage {
    /// Bytes per page.
    pub page_size: u64,
    /// Pages allocated (in use by some tree, data or system); the rest of the file is free.
    pub allocated_pages: u64,
    /// Leaf pages of the data trees.
    pub leaf_pages: u64,
    /// Branch pages of the data trees.
    pub branch_pages: u64,
    /// Bytes of the keys and values stored.
    pub stored_bytes: u64,
    /// Bytes of keys in branch pages and other metadata.
    pub metadata_bytes: u64,
    /// Bytes lost to fragmentation inside pages.
    pub fragmented_bytes: u64,
}

/// A storage backend.
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// A consistent read snapshot of everything applied so far.
    fn snapshot(&self) -> Result<Arc<dyn BackendSnapshot>, BackendError>;
    /// Applies `ops` and sets the checkpoint to `checkpoint` (its position too: a `None`
    /// position removes the stored one), atomically and durably.
    fn apply(&self, ops: &[Op], checkpoint: Checkpoint) -> Result<(), BackendError>;
    /// Bytes the backend occupies on disk.
    fn disk_bytes(&self) -> u64;
    /// Reclaims free space if the backend can; returns whether anything changed.
    fn compact(&self) -> Result<bool, BackendError>;
    /// A short name for messages and metrics (`redb`, `rocksdb`, `memory`).
    fn name(&self) -> &'static str;
    /// How the backend's file is used, if the backend can tell (waits for a batch in progress).
    fn page_usage(&self) -> Result<Option<PageUsage>, BackendError> {
        Ok(None)
    }
}

/// A read snapshot of a backend.
pub trait BackendSnapshot: Send + Sync + fmt::Debug {
    /// The checkpoint of this snapshot.
    fn checkpoint(&self) -> u64;
    /// The log position stored with the checkpoint of this snapshot, if any (a value this build
    /// cannot decode counts as none).
    fn log_position(&self) -> Result<Option<LogPosition>, BackendError>;
    /// The value of `key` in `table`.
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError>;
    /// The pairs of `table` in `range`, ascending or (with `reverse`) descending.
    fn range(
        &self,
        table: &str,
        range: &KeyRange,
        reverse: bool,
    ) -> Result<BackendIter, BackendError>;
    /// The tables that exist, sorted.
    fn tables(&self) -> Result<Vec<String>, BackendError>;
}

/// An I/O error at `path` as a backend error: a full disk or quota is
/// [`BackendError::OutOfSpace`].
pub(crate) fn io_error(path: &std::path::Path, e: &std::io::Error) -> BackendError {
    let detail = format!("{}: {e}", path.display());
    if crate::vfs::is_out_of_space(e) {
        BackendError::OutOfSpace(detail)
    } else {
        BackendError::Other(detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        let r = KeyRange::prefix(b"a\xff");
        assert!(r.contains(b"a\xff") && r.contains(b"a\xff\xff\x01"));
        assert!(!r.contains(b"b") && !r.contains(b"a"));
        assert!(KeyRange::prefix(b"\xff").contains(b"\xff\xff"));
    }
}
