//! Errors of the commit log.

use std::io;
use std::path::PathBuf;

/// Damage found in the log: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset in the segment where the good data ends.
    pub offset: u64,
    /// The sequence number the damaged record should have had, if known.
    pub seq: Option<u64>,
    /// What is wrong.
    pub detail: String,
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "log segment {}: {} at offset {}",
            self.segment.display(),
            self.detail,
            self.offset
        )?;
        if let Some(seq) = self.seq {
            write!(f, " (record {seq})")?;
        }
        write!(
            f,
            "; inspect with `chainstore wal inspect`; `chainstore wal repair` keeps the good \
             prefix and moves the rest aside"
        )
    }
}

/// An error from the commit log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// The log is damaged (not a torn tail): see [`Corruption`].
    #[error("{0}")]
    Corruption(Box<Corruption>),
    /// An earlier fsync failed, so what is on disk is unknown: nothing more is appended until the
    /// log is reopened (and recovered).
    #[error("the commit log is poisoned by an earlier failure ({cause}); reopen to recover")]
    Poisoned {
        /// The failure that poisoned the log.
        cause: String,
    },
    /// Appending would take the log past its byte quota; nothing was written.
    #[error(
        "log quota exceeded: {used} bytes used, {needed} more needed, limit {limit}; \
         nothing was written"
    )]
    QuotaExceeded {
        /// Bytes the record needs.
        needed: u64,
        /// Bytes in use.
        used: u64,
        /// The quota.
        limit: u64,
    },
    /// A record does not fit in one segment (records are never split across segments).
    #[error(
        "record of {len} bytes is larger than the largest record a segment holds ({max} bytes); \
         raise the segment size"
    )]
    RecordTooLarge {
        /// The record's encoded size.
        len: u64,
        /// The largest record size.
        max: u64,
    },
    /// Record type 0 is reserved.
    #[error("record type 0 is reserved")]
    ZeroType,
    /// The options cannot work (e.g. a segment too small to hold a record).
    #[error("invalid log options: {0}")]
    InvalidOptions(String),
    /// The disk is full: the record was not written (and any partial bytes were rolled back);
    /// the log works again once space is freed.
    #[error("disk full writing the commit log in {dir}: {source}; nothing was written")]
    OutOfSpace {
        /// The log directory.
        dir: PathBuf,
        /// The error from the file system.
        source: io::Error,
    },
    /// This record was rolled back because an earlier record in the same group commit failed.
    #[error("the record was not written because the group commit it was part of failed: {cause}")]
    GroupFailed {
        /// The failure.
        cause: String,
    },
    /// An I/O error on a file of the log.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

impl WalError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> WalError {
        let path = path.into();
        move |source| WalError::Io { path, source }
    }

    pub(crate) fn corruption(
        segment: PathBuf,
        offset: u64,
        seq: Option<u64>,
        detail: String,
    ) -> Self {
        WalError::Corruption(Box::new(Corruption { segment, offset, seq, detail }))
    }
}

/// Shorthand for results of log operations.
pub type Result<T, E = WalError> = std::result::Result<T, E>;
