//! The commit log: segmented, checksummed, preallocated, with group commit.
//!
//! Every durability promise of the engine rests here. A record is appended with a strictly
//! increasing sequence number; [`Wal::append`] returns once the record is durable
//! ([`Durability::Immediate`]) or written to the operating system ([`Durability::Buffered`]).
//! Concurrent appenders share one write and one `fdatasync` (group commit: the first waiter becomes
//! the leader and writes everything queued so far). See `docs/format.md` for the bytes and
//! `docs/recovery.md` for what survives a crash.
//!
//! ```
//! use std::sync::Arc;
//! use chainstore_engine::vfs::RealFs;
//! use chainstore_engine::wal::{Durability, Wal, WalOptions};
//! # let dir = tempfile::tempdir().unwrap();
//! let opts = WalOptions { segment_size: 1 << 20, ..WalOptions::default() };
//! let (wal, _) = Wal::open(Arc::new(RealFs), dir.path(), opts, 1, &mut |_| {}).unwrap();
//! let seq = wal.append(1, b"hello", Durability::Immediate).unwrap();
//! drop(wal);
//! let mut seen = Vec::new();
//! let (_wal, report) = Wal::open(Arc::new(RealFs), dir.path(), opts, 1, &mut |r| {
//!     seen.push((r.seq, r.payload.to_vec()))
//! })
//! .unwrap();
//! assert_eq!(seen, vec![(seq, b"hello".to_vec())]);
//! assert_eq!(report.records, 1);
//! ```

mod error;
pub mod format;
mod recovery;
pub mod scan;
mod writer;

pub use error::{Corruption, Result, WalError};
pub use format::Record;
pub use recovery::{Dropped, RecoveryMode, RecoveryReport};
pub use writer::{Prepared, Ticket, Wal};

/// When [`Wal::append`] returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// After the record is on stable storage (`fdatasync`): survives power loss.
    #[default]
    Immediate,
    /// After the record is written to the operating system: survives a process crash; the
    /// newest records may be lost on power loss, the log is never corrupted.
    Buffered,
}

/// Options of the commit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// Size of each segment file, preallocated with zeros (default 64 MiB). A record must fit in
    /// one segment: at most `segment_size - 77` bytes of payload.
    pub segment_size: u64,
    /// Limit on the bytes of live log data (headers and records of segments not yet truncated);
    /// an append that would exceed it fails with [`WalError::QuotaExceeded`].
    pub max_bytes: Option<u64>,
    /// What to do with damage found on open.
    pub recovery: RecoveryMode,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self { segment_size: 64 << 20, max_bytes: None, recovery: RecoveryMode::default() }
    }
}

/// Scans the log in `dir` without changing anything, as `open` would in `mode`: for inspection.
pub fn inspect(
    vfs: &dyn crate::vfs::Vfs,
    dir: &std::path::Path,
    mode: RecoveryMode,
    on_record: &mut dyn FnMut(Record<'_>),
) -> Result<RecoveryReport> {
    Ok(recovery::recover(vfs, dir, mode, 0, false, on_record)?.report)
}
