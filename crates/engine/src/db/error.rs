//! Errors of the database.

use std::io;
use std::path::PathBuf;

use crate::backend::BackendError;
use crate::wal::WalError;

/// An error from the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another process (or another `Database` in this one) has the directory open.
    #[error("{}", locked_message(path, owner.as_deref()))]
    Locked {
        /// The data directory.
        path: PathBuf,
        /// What the lock file says of its holder (`pid <n>`), if readable.
        owner: Option<String>,
    },
    /// A transaction that committed after this one began wrote the same key (first committer
    /// wins). Nothing was written; retry the transaction.
    #[error(
        "write-write conflict on table {table:?}: another transaction committed a write to the same key since this one began; nothing was written, retry"
    )]
    Conflict {
        /// The table of the first conflicting key.
        table: String,
        /// The first conflicting key.
        key: Vec<u8>,
    },
    /// The commit would take the store past its byte quota. Nothing was written; reads and
    /// deletes still work.
    #[error(
        "store quota exceeded: {used} bytes used, {needed} more needed, limit {limit}; nothing was written (deletes are still accepted)"
    )]
    QuotaExceeded {
        /// Bytes in use.
        used: u64,
        /// Bytes the commit needs.
        needed: u64,
        /// The quota.
        limit: u64,
    },
    /// A table name that cannot be used.
    #[error("invalid table name {name:?}: {reason}")]
    InvalidTable {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The directory was created for a different backend, or by a newer format.
    #[error("{}: {detail}", path.display())]
    Incompatible {
        /// The data directory.
        path: PathBuf,
        /// What does not match.
        detail: String,
    },
    /// A commit-log record passed its checksum but does not decode: a bug or tampering.
    #[error("commit log record {seq} does not decode: {detail}")]
    CorruptRecord {
        /// The record's sequence number.
        seq: u64,
        /// What is wrong.
        detail: String,
    },
    /// A stored value does not decode as its table's type.
    #[error("table {table}: stored bytes do not decode: {detail}")]
    Decode {
        /// The table.
        table: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The database was opened with [`crate::db::Database::open_read_only`]: it cannot commit,
    /// index or compact.
    #[error(
        "{} is open read-only (for queries): commits, flush and compact need a writable open",
        path.display()
    )]
    ReadOnly {
        /// The data directory.
        path: PathBuf,
    },
    /// The background indexer failed; its error.
    #[error("background indexer failed: {0}")]
    Indexer(String),
    /// The commit log failed.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A file operation failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

impl Error {
    /// Whether the disk (or a quota) is full: nothing acknowledged was lost, and the operation
    /// can succeed once space is freed, without reopening the store: retry a commit; the
    /// indexer retries by itself (on redb by reopening its file, which redb requires after a
    /// failed write), so a later `flush` succeeds.
    pub fn is_out_of_space(&self) -> bool {
        matches!(
            self,
            Self::Wal(WalError::OutOfSpace { .. }) | Self::Backend(BackendError::OutOfSpace(_))
        )
    }
}

/// Shorthand for results of database operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The message of [`Error::Locked`]: the holder is this process or another one.
fn locked_message(path: &std::path::Path, owner: Option<&str>) -> String {
    let own = format!("pid {}", std::process::id());
    match owner {
        Some(o) if o == own => format!(
            "{} is already open in this process ({o}): a Database or ChainStore on it, or a \
             transaction of one, is still alive; drop it first",
            path.display()
        ),
        Some(o) => format!("{} is in use by another process ({o}); close it first", path.display()),
        None => format!("{} is in use by another process; close it first", path.display()),
    }
}
