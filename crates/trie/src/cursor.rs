//! Cursor traits through which the trie reads stored nodes and sorted leaves.
//!
//! The storage layer implements them over its ordered tables; [`crate::memory`] has in-memory
//! implementations for tests and benchmarks.

use crate::{Account, TrieError};
use alloy_primitives::{B256, U256};
use alloy_trie::{BranchNodeCompact, Nibbles};

/// A stored branch node together with its nibble path.
pub type StoredNode = (Nibbles, BranchNodeCompact);

/// Ordered access to the stored branch nodes of one trie (the account trie, or the storage
/// trie of one account), keyed by nibble path in trie order (see [`crate::encode_path`]).
pub trait TrieCursor {
    /// Positions at the first node whose path is `>= path` and returns it.
    fn seek(&mut self, path: &Nibbles) -> Result<Option<StoredNode>, TrieError>;

    /// Advances to the node after the current one and returns it.
    fn next(&mut self) -> Result<Option<StoredNode>, TrieError>;
}

/// Ordered access to the leaves of one trie: hashed accounts, or the hashed slots of one
/// account, sorted by their 32-byte hashed key.
pub trait HashedCursor {
    /// The leaf value: [`Account`] or a storage value ([`U256`], never zero).
    type Value;

    /// Positions at the first entry whose key is `>= key` and returns it.
    fn seek(&mut self, key: B256) -> Result<Option<(B256, Self::Value)>, TrieError>;

    /// Advances to the entry after the current one and returns it.
    fn next(&mut self) -> Result<Option<(B256, Self::Value)>, TrieError>;
}

/// Opens [`TrieCursor`]s over the stored nodes, as of the state before the change being
/// computed.
pub trait TrieCursorFactory {
    /// Cursor over the account trie.
    type AccountCursor<'a>: TrieCursor
    where
        Self: 'a;
    /// Cursor over one account's storage trie.
    type StorageCursor<'a>: TrieCursor
    where
        Self: 'a;

    /// Opens a cursor over the account trie's nodes.
    fn account_trie_cursor(&self) -> Result<Self::AccountCursor<'_>, TrieError>;

    /// Opens a cursor over the storage trie of the account `keccak256(address) = hashed_address`.
    fn storage_trie_cursor(
        &self,
        hashed_address: B256,
    ) -> Result<Self::StorageCursor<'_>, TrieError>;
}

/// Opens [`HashedCursor`]s over the flat hashed state, as of the state after the change.
pub trait HashedCursorFactory {
    /// Cursor over hashed accounts.
    type AccountCursor<'a>: HashedCursor<Value = Account>
    where
        Self: 'a;
    /// Cursor over one account's hashed storage.
    type StorageCursor<'a>: HashedCursor<Value = U256>
    where
        Self: 'a;

    /// Opens a cursor over `keccak256(address) -> account`.
    fn hashed_account_cursor(&self) -> Result<Self::AccountCursor<'_>, TrieError>;

    /// Opens a cursor over `keccak256(slot) -> value` of one account.
    fn hashed_storage_cursor(
        &self,
        hashed_address: B256,
    ) -> Result<Self::StorageCursor<'_>, TrieError>;

    /// The storage root of an existing account whose storage the change being computed does not
    /// touch, if this state knows it without computing it (a store that keeps storage roots).
    /// `None` (the default) makes the trie derive it from the account's storage trie.
    fn known_storage_root(&self, _hashed_address: B256) -> Result<Option<B256>, TrieError> {
        Ok(None)
    }
}

/// Reads stored branch nodes of one trie; used by the walker.
pub(crate) fn seek_under<C: TrieCursor>(
    cursor: &mut C,
    prefix: &Nibbles,
) -> Result<Option<StoredNode>, TrieError> {
    Ok(cursor.seek(prefix)?.filter(|(path, _)| path.starts_with(prefix)))
}

/// A cursor over nothing (a trie whose stored nodes are ignored, e.g. a wiped storage trie).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct EmptyTrieCursor;

impl TrieCursor for EmptyTrieCursor {
    fn seek(&mut self, _path: &Nibbles) -> Result<Option<StoredNode>, TrieError> {
        Ok(None)
    }

    fn next(&mut self) -> Result<Option<StoredNode>, TrieError> {
        Ok(None)
    }
}

/// A store without any node: every trie is computed from its leaves.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct NoNodes;

impl TrieCursorFactory for NoNodes {
    type AccountCursor<'a> = EmptyTrieCursor;
    type StorageCursor<'a> = EmptyTrieCursor;

    fn account_trie_cursor(&self) -> Result<EmptyTrieCursor, TrieError> {
        Ok(EmptyTrieCursor)
    }

    fn storage_trie_cursor(&self, _hashed_address: B256) -> Result<EmptyTrieCursor, TrieError> {
        Ok(EmptyTrieCursor)
    }
}
