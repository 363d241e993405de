//! What a caller of a binding does about an error: the classes the Python exceptions and the C
//! status codes are made from, so that both bindings classify every error the same way.

use chainstore_chain::ChainError;
use chainstore_engine::backend::BackendError;
use chainstore_engine::db::Error as DbError;
use chainstore_engine::wal::WalError;

use crate::input::commit_error_field;

/// The class of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed input, or a block that does not fit the chain; nothing was changed. `field`
    /// names the block field or argument at fault, when one is.
    InvalidInput {
        /// The field at fault.
        field: Option<&'static str>,
    },
    /// The directory is open elsewhere.
    Locked,
    /// The byte quota or the disk is full; nothing was written.
    QuotaExceeded,
    /// A write-write conflict between transactions; retry.
    Conflict,
    /// Below the retained history window.
    Pruned,
    /// Stored data is damaged.
    Corruption,
    /// Anything else (I/O, a read-only store, ...).
    Other,
}

/// The class of a database error (an invalid table name is input at fault in `table`).
pub fn db_error_kind(e: &DbError) -> ErrorKind {
    match e {
        DbError::Locked { .. } => ErrorKind::Locked,
        DbError::QuotaExceeded { .. } | DbError::Wal(WalError::QuotaExceeded { .. }) => {
            ErrorKind::QuotaExceeded
        }
        e if e.is_out_of_space() => ErrorKind::QuotaExceeded,
        DbError::Conflict { .. } => ErrorKind::Conflict,
        DbError::InvalidTable { .. } => ErrorKind::InvalidInput { field: Some("table") },
        DbError::CorruptRecord { .. }
        | DbError::Decode { .. }
        | DbError::Wal(WalError::Corruption(_))
        | DbError::Backend(BackendError::Corrupt(_)) => ErrorKind::Corruption,
        _ => ErrorKind::Other,
    }
}

/// The class of a chain store error. A commit error one block field causes is input at fault
/// in that field ([`commit_error_field`]); a block number above the head is input at fault in
/// the argument `block` (or `to`, for an unwind).
pub fn chain_error_kind(e: &ChainError) -> ErrorKind {
    if let Some(field) = commit_error_field(e) {
        return ErrorKind::InvalidInput { field: Some(field) };
    }
    match e {
        ChainError::Db(e) => db_error_kind(e),
        ChainError::Pruned { .. } => ErrorKind::Pruned,
        ChainError::Corrupt { .. }
        | ChainError::UnwindRootMismatch { .. }
        | ChainError::Trie(chainstore_trie::TrieError::CorruptNode { .. }) => ErrorKind::Corruption,
        ChainError::BadMetadataName(_) => ErrorKind::InvalidInput { field: Some("name") },
        ChainError::UnwindAboveHead { .. } => ErrorKind::InvalidInput { field: Some("to") },
        ChainError::AboveHead { .. } => ErrorKind::InvalidInput { field: Some("block") },
        ChainError::NotEmpty { .. } | ChainError::BadImport(_) => {
            ErrorKind::InvalidInput { field: None }
        }
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use alloy_primitives::B256;

    use super::*;

    #[test]
    fn commit_errors_name_their_field() {
        let e =
            ChainError::WrongParent { number: 2, head: 1, expected: B256::ZERO, got: B256::ZERO };
        assert_eq!(chain_error_kind(&e), ErrorKind::InvalidInput { field: Some("parentHash") });
        let e = ChainError::Pruned { what: "receipts", requested: 1, oldest_available: 5 };
        assert_eq!(chain_error_kind(&e), ErrorKind::Pruned);
        let e = ChainError::Db(DbError::Locked { path: PathBuf::from("/x"), owner: None });
        assert_eq!(chain_error_kind(&e), ErrorKind::Locked);
        let e = DbError::Conflict { table: "t".into(), key: vec![1] };
        assert_eq!(db_error_kind(&e), ErrorKind::Conflict);
        let e = DbError::QuotaExceeded { used: 1, needed: 2, limit: 2 };
        assert_eq!(db_error_kind(&e), ErrorKind::QuotaExceeded);
        assert_eq!(chain_error_kind(&ChainError::Empty), ErrorKind::Other);
    }
}
