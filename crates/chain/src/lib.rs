//! The chain store: blocks, transactions, receipts, logs and Ethereum state with an
//! incrementally maintained Merkle Patricia Trie, on chainstore's transactional engine.
//!
//! ```
//! use alloy_primitives::{Address, B256, U256};
//! use chainstore_chain::{AccountChange, BlockCommit, ChainStore};
//! # let dir = tempfile::tempdir().unwrap();
//! let store = ChainStore::open(dir.path(), Default::default()).unwrap();
//! let alice = Address::repeat_byte(0xa1);
//! let genesis = BlockCommit {
//!     number: 0,
//!     hash: B256::repeat_byte(1),
//!     state: vec![(alice, Some(AccountChange { balance: Some(U256::from(100)), ..Default::default() }))],
//!     ..Default::default()
//! };
//! let info = store.commit_block(&genesis).unwrap();
//! assert_eq!(store.account(alice).unwrap().unwrap().balance, U256::from(100));
//! let proof = store.proof(alice, &[]).unwrap();
//! let verified = chainstore_trie::verify_account_proof(info.state_root, &proof).unwrap();
//! assert_eq!(verified.account.unwrap().balance, U256::from(100));
//! ```

mod apply;
mod at;
mod backup;
mod cache;
mod cursors;
mod error;
#[cfg(any(test, feature = "fuzz"))]
#[doc(hidden)]
pub mod fuzz;
mod history;
mod import;
mod overlay;
mod prune;
mod query;
pub mod revert;
pub mod schema;
mod snapshot;
mod store;
pub mod synth;
mod types;
mod unwind;
mod verify;

pub use backup::{
    BACKUP_CHUNK_TARGET, BackupCheck, BackupHead, BackupKey, BackupManifest, BackupProgress,
    BackupPruneReport, BackupTotals, ChunkRef, TableManifest, list_backups, prune_backups,
    rekey_backups, restore_backup, verify_backups,
};
pub use cache::CacheStats;
pub use chainstore_trie::{AccountProof, StorageProof};
pub use error::{ChainError, Result};
pub use import::{IMPORT_BATCH_ROWS, ImportBlock, ImportProgress, StateEntry};
pub use prune::{HistorySize, PRUNE_BATCH_OPS, Prunable, PruneProgress, PruneReport, Retention};
pub use query::AccountInfo;
pub use snapshot::{ExportProgress, SNAPSHOT_CHUNK_BYTES, SnapshotSummary, inspect_snapshot};
pub use store::ChainStore;
pub use types::*;
pub use verify::{Problem, VerifyReport};
