//! Errors of the chain store.

use alloy_primitives::B256;

/// An error from the chain store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The block does not follow the head.
    #[error(
        "block {number}: expected block number {expected} (the head is {head}); nothing was changed"
    )]
    WrongNumber {
        /// The block's number.
        number: u64,
        /// The number that would follow the head.
        expected: u64,
        /// The head, as text (`none` on an empty store).
        head: String,
    },
    /// The parent hash is not the head's hash.
    #[error(
        "block {number}: parentHash {got} is not the hash of the head block {head} ({expected}); nothing was changed"
    )]
    WrongParent {
        /// The block's number.
        number: u64,
        /// The head's number.
        head: u64,
        /// The head's hash.
        expected: B256,
        /// The block's parent hash.
        got: B256,
    },
    /// Receipts do not match the transactions.
    #[error("block {number}: {detail}; nothing was changed")]
    ReceiptMismatch {
        /// The block's number.
        number: u64,
        /// What does not match.
        detail: String,
    },
    /// A transaction hash that is already stored (or repeated in the block).
    #[error("block {number}: transaction {hash} is already in the chain; nothing was changed")]
    DuplicateTransaction {
        /// The block's number.
        number: u64,
        /// The transaction hash.
        hash: B256,
    },
    /// The block hash is already stored.
    #[error("block {number}: block hash {hash} is already in the chain; nothing was changed")]
    DuplicateBlock {
        /// The block's number.
        number: u64,
        /// The hash.
        hash: B256,
    },
    /// The computed state root differs from the expected one.
    #[error(
        "block {number}: state root mismatch: expected {expected}, computed {computed}; nothing was changed"
    )]
    StateRootMismatch {
        /// The block's number.
        number: u64,
        /// The root the block said it produces.
        expected: B256,
        /// The root the state diff produces.
        computed: B256,
    },
    /// A metadata table name that cannot be used.
    #[error("invalid metadata table name {0:?}: use 1 to 64 characters of a-z, 0-9 and _")]
    BadMetadataName(String),
    /// `genesis`, a state import or a snapshot import on a store that already has blocks.
    #[error(
        "the store is not empty (its head is block {head}); genesis and imports need an empty store"
    )]
    NotEmpty {
        /// The head's number.
        head: u64,
    },
    /// The store has no blocks.
    #[error("the store is empty: it has no blocks")]
    Empty,
    /// A state to import is malformed (out of order, a slot without an account, a zero slot,
    /// code that does not match its hash) or another import is in progress.
    #[error("state import: {0}; nothing was committed as the head")]
    BadImport(String),
    /// Unwinding to a block above the head.
    #[error("cannot unwind to block {target}: the head is block {head}")]
    UnwindAboveHead {
        /// The requested block.
        target: u64,
        /// The head's number.
        head: u64,
    },
    /// Unwinding did not restore the state root of the target block (a bug or damage).
    #[error(
        "unwinding to block {target} computed state root {computed}, but the block's root is {expected}; nothing was changed"
    )]
    UnwindRootMismatch {
        /// The target block.
        target: u64,
        /// The stored root of the target block.
        expected: B256,
        /// The root after reverting.
        computed: B256,
    },
    /// What was asked for is below the retained window.
    #[error(
        "{what} for block {requested} was pruned: the oldest available is block {oldest_available}"
    )]
    Pruned {
        /// What was pruned: `state history`, `receipts` or `transaction index`.
        what: &'static str,
        /// The block asked for.
        requested: u64,
        /// The oldest block still available.
        oldest_available: u64,
    },
    /// A block above the head.
    #[error("block {number} is above the head (block {head})")]
    AboveHead {
        /// The block asked for.
        number: u64,
        /// The head's number.
        head: u64,
    },
    /// A stored entry does not decode.
    #[error("corrupt entry in table {table}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong, with the key.
        detail: String,
    },
    /// A snapshot file is malformed or damaged, or cannot be written where asked.
    #[error("snapshot {}: {detail}", path.display())]
    Snapshot {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, naming the chunk where one is at fault.
        detail: String,
    },
    /// Reading or writing a snapshot file failed.
    #[error("snapshot {}: {source}", path.display())]
    SnapshotIo {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A backup directory, manifest or chunk is malformed, damaged or missing, the key does not
    /// fit, or a restore's target cannot be used.
    #[error("backup {}: {detail}", path.display())]
    Backup {
        /// The directory or file at fault.
        path: std::path::PathBuf,
        /// What is wrong, naming the chunk or backup where one is at fault.
        detail: String,
    },
    /// A restore's target directory cannot be used (it is not empty, or not a directory).
    #[error("cannot restore into {}: {detail}", path.display())]
    RestoreTarget {
        /// The target directory.
        path: std::path::PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Reading or writing a backup file failed.
    #[error("backup {}: {source}", path.display())]
    BackupIo {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] chainstore_engine::db::Error),
    /// The trie failed.
    #[error("trie: {0}")]
    Trie(#[from] chainstore_trie::TrieError),
}

/// Shorthand for results of chain operations.
pub type Result<T, E = ChainError> = std::result::Result<T, E>;

/// A stored entry of `table` under `key` that does not decode or does not fit.
pub(crate) fn corrupt(
    table: &'static str,
    key: impl std::fmt::Display,
    detail: impl std::fmt::Display,
) -> ChainError {
    ChainError::Corrupt { table, detail: format!("key {key}: {detail}") }
}
