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
mod position;
mod reader;
mod recovery;
pub mod scan;
mod writer;

pub use error::{Corruption, Result, WalError};
pub use format::Record;
pub use position::LogPosition;
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
    /// Size of a full segment file, preallocated with zeros (default 64 MiB). A record must fit
    /// in one segment: at most `segment_size - 77` bytes of payload.
    pub segment_size: u64,
    /// Size of the first segment a log creates when it opens (default 1 MiB); each later
    /// segment doubles the one before, up to `segment_size`, and is at least large enough for
    /// the record that starts it. A small store costs a small log, and a busy one reaches full
    /// segments after a few rollovers. Every segment is still preallocated whole when it is
    /// created, so appends never change a file's size.
    pub initial_segment_size: u64,
    /// Limit on the bytes of live log data (headers and records of segments not yet truncated);
    /// an append that would exceed it fails with [`WalError::QuotaExceeded`].
    pub max_bytes: Option<u64>,
    /// What to do with damage found on open.
    pub recovery: RecoveryMode,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            segment_size: 64 << 20,
            initial_segment_size: 1 << 20,
            max_bytes: None,
            recovery: RecoveryMode::default(),
        }
    }
}

/// Reads the log in `dir` for a read-only open: hands every good record from `from_seq` on to
/// `on_record`, in order, with the checks and damage rules `open` applies in `mode`, but changes
/// nothing (a torn tail is reported, not zeroed; `RepairToLastGood` reports what it would move
/// aside).
///
/// With a `hint` ([`Wal::position_at_or_before`] of a sequence number below `from_seq`, stored
/// by the owner of the log) reading starts there, if a record with the hint's sequence number
/// passes its header check at the hint's offset, and nothing before it is read; the report then
/// counts only the records from there on. Otherwise the whole log is read.
///
/// If records were handed over, the segment holding the newest is synced before this returns:
/// records a killed writer left written but not synced are durable before a reader is shown
/// them (the file is only synced, never changed). A missing directory is an empty log.
pub fn read_from(
    vfs: &dyn crate::vfs::Vfs,
    dir: &std::path::Path,
    mode: RecoveryMode,
    from_seq: u64,
    hint: Option<LogPosition>,
    on_record: &mut dyn FnMut(Record<'_>),
) -> Result<RecoveryReport> {
    if let Err(e) = vfs.list(dir)
        && e.kind() == std::io::ErrorKind::NotFound
    {
        return Ok(RecoveryReport::default());
    }
    let rec = recovery::recover(vfs, dir, mode, from_seq, false, hint, on_record)?;
    if let Some(last) = rec.segments.last().filter(|_| rec.report.replayed > 0) {
        let path = recovery::segment_path(dir, last.number);
        let file = vfs.open(&path, crate::vfs::OpenMode::Read).map_err(WalError::io(&path))?;
        file.sync_data().map_err(WalError::io(&path))?;
    }
    Ok(rec.report)
}

/// Scans the log in `dir` without changing anything, as `open` would in `mode`: for inspection.
pub fn inspect(
    vfs: &dyn crate::vfs::Vfs,
    dir: &std::path::Path,
    mode: RecoveryMode,
    on_record: &mut dyn FnMut(Record<'_>),
) -> Result<RecoveryReport> {
    Ok(recovery::recover(vfs, dir, mode, 0, false, None, on_record)?.report)
}
